"""The same gateway on the real PostgreSQL: only the database URL changes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

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


def test_a_mistyped_database_name_is_a_missing_database(postgres_url: str, tmp_path: Path) -> None:
    typo = sa.engine.make_url(postgres_url).set(database="no_such_db_" + uuid.uuid4().hex[:8])
    url = typo.render_as_string(hide_password=False)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "member", "list", "--database-url", url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.stderr.startswith("error [db.missing]: "), result.stderr
    assert result.returncode == 2
