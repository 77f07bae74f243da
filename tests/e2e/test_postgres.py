"""The same gateway on the real PostgreSQL: only the database URL changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.devtools import bootstrap
from gateway.kernel.settings import Settings
from gateway.server.run import running
from services.sdk import AccessDenied, EnlaceClient
from tests.e2e.helpers import ledger_entry


def test_exchanges_on_postgresql(postgres_url: str, tmp_path: Path, people) -> None:
    settings = Settings(database_url=postgres_url, pki_dir=tmp_path / "certs")
    instance = bootstrap.create(settings, citizens=len(people))
    citizen = next(p for p in people if p.estatus_curp == "AN")
    call = dict(
        subject=citizen.curp,
        legal_basis=bootstrap.BECAS_LEGAL_BASIS,
        user_id="MX-SEP-000123",
        issue="BECA-PG-1",
    )
    try:
        with (
            running(settings) as url,
            EnlaceClient.from_pki(url, str(bootstrap.BECAS), settings.pki_dir) as client,
        ):
            result = client.call(
                str(bootstrap.CURP_SERVICE), purpose=bootstrap.BECAS_PURPOSE, **call
            )
            with pytest.raises(AccessDenied) as refused:
                client.call(str(bootstrap.CURP_SERVICE), purpose="otro", **call)
        assert result.data["curp"] == citizen.curp
        assert ledger_entry(instance.database, result.ledger_index)["outcome"] == "allowed"
        entry = ledger_entry(instance.database, refused.value.ledger_index)
        assert entry["error"] == "Client.PurposeNotGranted"
        assert refused.value.ledger_index == result.ledger_index + 1
    finally:
        instance.database.dispose()
