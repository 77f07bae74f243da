"""``enlace demo``: the whole flow on the embedded default, narrated.

A fresh instance (SQLite, dev PKI made on the fly, RENAPO in process with synthetic citizens),
a real HTTPS gateway on loopback, an allowed lookup and two refused ones through the SDK, the
scholarship app enrolling a student with RENAPO and the Registro Civil, and the ledger entries
that recorded all of it.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

import typer

from gateway import bootstrap, pki
from gateway.config import Settings
from gateway.ledger import store
from gateway.protocol import evidence
from gateway.server.run import running
from services.sdk import EnlaceClient, GatewayError
from trusted_sources.population import generate


def _say(text: str = "") -> None:
    typer.echo(text)


def run_demo(*, citizens: int = 1000, keep: Path | None = None) -> None:
    workdir = keep or Path(tempfile.mkdtemp(prefix="enlace-demo-"))
    try:
        _run(workdir, citizens)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, citizens: int) -> None:
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'enlace.db'}", pki_dir=workdir / "certs"
    )
    _say(f"1. Creating a development instance in {workdir}")
    instance = bootstrap.create(settings, citizens=citizens)
    _say(f"   PKI: instance CA, gateway TLS and signing certificates in {settings.pki_dir}")
    _say(f"   RENAPO registers {bootstrap.CURP_SERVICE} over {citizens} synthetic citizens")
    _say(f"   {bootstrap.BECAS} is granted it for purpose {bootstrap.BECAS_PURPOSE}")
    # A student: an active CURP of someone born this century.
    people = [p for p in generate(citizens) if p.estatus_curp == "AN"]
    citizen = next((p for p in people if p.fecha_nacimiento.year >= 2005), people[0])

    with running(settings) as url:
        _say(f"2. Gateway listening on {url} (HTTPS, certificate from the instance CA)")
        with EnlaceClient.from_pki(url, str(bootstrap.BECAS), settings.pki_dir) as becas:
            _say(f"3. {bootstrap.BECAS} looks up a student's CURP (signed request, RFC 9421)")
            result = becas.call(
                str(bootstrap.CURP_SERVICE),
                subject=citizen.curp,
                purpose=bootstrap.BECAS_PURPOSE,
                legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                user_id="MX-SEP-000123",
                issue="BECA-2026-000042",
            )
            record = result.data
            _say(
                f"   ALLOWED: ledger entry #{result.ledger_index}; evidence signed by "
                f"{result.evidence.claims['iss']} verified offline against the instance CA"
            )
            _say(
                f"   RENAPO says: {record['nombres']} {record['primerApellido']}, born "
                f"{record['fechaNacimiento']} in {record['entidad']}, CURP status "
                f"{record['statusCurp']} ({record['descriptionStatusCurp']})"
            )
            _say(f"4. {bootstrap.BECAS} asks again for a purpose it was not granted")
            try:
                becas.call(
                    str(bootstrap.CURP_SERVICE),
                    subject=citizen.curp,
                    purpose="mercadotecnia",
                    legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                    user_id="MX-SEP-000123",
                    issue="BECA-2026-000042",
                )
            except GatewayError as exc:
                _say(f"   REFUSED: {exc.code} (HTTP {exc.status}), recorded as #{exc.ledger_index}")
        with EnlaceClient.from_pki(url, str(bootstrap.PASAPORTES), settings.pki_dir) as sre:
            _say(f"5. {bootstrap.PASAPORTES}, which holds no grant, tries the same lookup")
            try:
                sre.call(
                    str(bootstrap.CURP_SERVICE),
                    subject=citizen.curp,
                    purpose="pasaporte-emision",
                    legal_basis="LPas-art-10",
                    user_id="MX-SRE-000777",
                    issue="PAS-2026-009",
                )
            except GatewayError as exc:
                _say(f"   REFUSED: {exc.code} (HTTP {exc.status}), recorded as #{exc.ledger_index}")
        _enrol_a_student(url, settings, workdir, citizens)

    from gateway.cli.ledger_cmds import describe_entry

    _say("7. The audit ledger (administrative changes and exchanges; citizens only as pseudonyms):")
    with instance.database.read.connect() as conn:
        for index, entry in store.entries(conn, limit=1000):
            _say("   " + describe_entry(index, entry))
    instance.database.dispose()
    _say("8. Gateway stopped. Done.")


def _enrol_a_student(url: str, settings: Settings, workdir: Path, citizens: int) -> None:
    """Step 6: the scholarship app (services/apps/becas.py) asks RENAPO and the Registro Civil."""
    from services.apps import becas

    today = date.today()
    everyone = list(generate(citizens))
    by_curp = {p.curp: p for p in everyone}
    student = next(
        p
        for p in everyone
        if p.estatus_curp == "AN"
        and p.madre_curp
        and p.padre_curp
        and p.documento_probatorio.tipo == 1
        and becas.MIN_AGE <= becas.age_on(p.fecha_nacimiento, today) <= becas.MAX_AGE
    )

    def full_name(curp: str | None) -> str | None:
        parent = by_curp.get(curp) if curp else None
        names = (parent.nombres, parent.primer_apellido, parent.segundo_apellido) if parent else ()
        return " ".join(n for n in names if n) or None

    form = becas.Form(student.curp, full_name(student.madre_curp), full_name(student.padre_curp))
    _say(f"6. {bootstrap.BECAS} enrols a student: CURP at RENAPO, then the acta de nacimiento")
    _say("   from the Registro Civil (age 6-29, parents as on the form), case BECA-2026-000043")
    with EnlaceClient.from_pki(url, str(bootstrap.BECAS), settings.pki_dir) as client:
        decision = becas.enrol(
            client,
            form,
            case="BECA-2026-000043",
            official="MX-SEP-000123",
            evidence_dir=workdir / "evidence",
            today=today,
        )
    entries = ", ".join(f"#{i}" for i in decision.ledger_entries)
    _say(f"   {decision.outcome.upper()}; ledger entries {entries}; evidence kept:")
    ca = pki.load_cert(pki.PkiDir(settings.pki_dir).ca_cert)
    for path in decision.evidence:
        signer = pki.member_of(evidence.verify(path.read_text().strip(), ca).signer)
        _say(f"   {path.name}, signed by {signer} (`enlace evidence verify` checks it offline)")
