"""No personal data at rest or in the logs: after real traffic, search everything for it.

Exchanges allowed and refused (a lookup by names and birth date among them, refused ones
too), a case number holding a CURP, a citizen's login and access log, admin changes made with
the CLI; then every row and column of every table of the database, and every line the server
logged, is searched for the CURPs, names, RFCs, e-mail addresses and token used.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel.efirma import certificate as efirma
from gateway.server import logs
from services.sdk import EnlaceClient
from services.sdk.errors import GatewayError
from tests.citizen.helpers import Efirma, consult, login
from trusted_sources.records import Person

SRE = str(bootstrap.PASAPORTES)


@pytest.fixture
def server_logs() -> Iterator[io.StringIO]:
    """The in-process gateway's log lines, configured as ``enlace serve`` configures them."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure(stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _datos(person: Person) -> dict[str, str]:
    return {
        "nombres": person.nombres,
        "primerApellido": person.primer_apellido,
        "fechaNacimiento": person.fecha_nacimiento.strftime("%d/%m/%Y"),
        "sexo": person.sexo,
        "claveEntidad": person.entidad_nacimiento,
    }


def _lookup(url: str, dev: bootstrap.DevInstance, client: str, person: Person) -> None:
    """A lookup by personal data (``Enlace-Subject: unknown``); refusals are expected too."""
    with EnlaceClient.from_pki(url, client, dev.pki.root) as sdk:
        try:
            sdk.call(
                str(bootstrap.DATOS_SERVICE),
                subject="unknown",
                purpose=bootstrap.BECAS_PURPOSE,
                legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                user_id="MX-SEP-000123",
                issue="BECA-DATOS-1",
                method="POST",
                body=_datos(person),
            )
        except GatewayError as refused:
            assert client == SRE and refused.code == "Client.AccessDenied"


def _cli(dev: bootstrap.DevInstance, *args: str) -> None:
    env = {
        **os.environ,
        "ENLACE_DATABASE_URL": dev.settings.database_url,
        "ENLACE_PKI_DIR": str(dev.settings.pki_dir),
        "ENLACE_ACTOR": "admin:ana",
    }
    command = [sys.executable, "-m", "gateway", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _traffic(dev, url, http, alice: Efirma, bob: Efirma, people: list[Person]) -> str:
    """Run the traffic; the citizen token it was given."""
    by_curp = {p.curp: p for p in people}
    consult(dev, url, alice)
    consult(dev, url, bob, issue="BECA-2026-9")
    _lookup(url, dev, str(bootstrap.BECAS), by_curp[alice.curp])
    _lookup(url, dev, SRE, by_curp[bob.curp])  # refused: SRE has no grant for it
    with pytest.raises(GatewayError) as refused:
        consult(dev, url, alice, issue=f"EXP-{alice.curp}-CAMILA-GARCIA-CRUZ")
    assert refused.value.code == "Client.PersonalDataInField"
    with pytest.raises(GatewayError) as refused:
        consult(dev, url, alice, user_id=by_curp[alice.curp].email)
    assert refused.value.code == "Client.PersonalDataInField"
    with pytest.raises(GatewayError):
        consult(dev, url, alice, client=SRE)  # refused: no grant
    token = login(http, url, alice)
    page = http.get(f"{url}/v1/citizen/accesses", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    service = str(bootstrap.CURP_SERVICE)
    purpose, basis = bootstrap.BECAS_PURPOSE, bootstrap.BECAS_LEGAL_BASIS
    _cli(dev, "acl", "grant", SRE, service, "--purpose", purpose, "--legal-basis", basis)
    _cli(dev, "acl", "revoke", SRE, service)
    return token


def _people_data(people: list[Person], *who: Efirma) -> dict[str, str]:
    """What must never be stored or logged about each person, by label."""
    by_curp = {p.curp: p for p in people}
    found: dict[str, str] = {}
    for citizen in who:
        person = by_curp[citizen.curp]
        holder = efirma.parse_certificate(citizen.cer)
        body = json.dumps(_datos(person), ensure_ascii=False).encode()
        sha = hashlib.sha256(body).digest()
        found |= {
            f"CURP {person.curp}": person.curp,
            f"nombres of {person.curp}": person.nombres,
            f"primer apellido of {person.curp}": person.primer_apellido,
            f"RFC of {person.curp}": person.rfc,
            f"certificate RFC of {person.curp}": holder.rfc,
            f"e-mail of {person.curp}": person.email,
            f"plain digest of a lookup of {person.curp}": base64.b64encode(sha).decode(),
            f"hex digest of a lookup of {person.curp}": sha.hex(),
        }
        if person.segundo_apellido:
            found[f"segundo apellido of {person.curp}"] = person.segundo_apellido
    return found


def _rows(dev: bootstrap.DevInstance) -> Iterator[tuple[str, str]]:
    """Every row of every table, all its columns as one text, labelled by table."""
    metadata = sa.MetaData()
    metadata.reflect(dev.database.read)
    with dev.database.read.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                yield (
                    table.name,
                    " | ".join(
                        v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                    ),
                )


def _hits(text: str, secrets: dict[str, str]) -> list[str]:
    # Whole words, any case: a short given name must not match inside another word.
    return [
        label
        for label, value in secrets.items()
        if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE)
    ]


def test_no_personal_data_in_the_ledger_the_database_or_the_logs(
    server_logs, dev, gateway_url, http, valid_efirmas, people
):
    alice, bob = valid_efirmas
    token = _traffic(dev, gateway_url, http, alice, bob, people)
    secrets = _people_data(people, alice, bob) | {"citizen token": token}

    tables: set[str] = set()
    for table, text in _rows(dev):
        tables.add(table)
        assert not _hits(text, secrets), f"{table}: {_hits(text, secrets)}"
    assert {"ledger_entries", "ledger_subjects"} <= tables

    logged = server_logs.getvalue()
    assert not _hits(logged, secrets), _hits(logged, secrets)
    lines = [json.loads(line) for line in logged.splitlines()]
    refusals = [line for line in lines if line["event"] == "exchange refused"]
    codes = {line["code"] for line in refusals}
    assert {"Client.PersonalDataInField", "Client.AccessDenied"} <= codes
    assert all(line["exchange_id"] and line["reason"] for line in refusals)
