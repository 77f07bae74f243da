"""Scholarship programme: enrols a student by CURP, with RENAPO and the Registro Civil.

An example agency application on the Enlace SDK (``services.sdk``), run by the Secretaría de
Educación Pública's scholarship office as client ``MX/GOB/SEP/becas`` of the dev instance.

1. The form: the student's CURP and, as the applicant wrote them, the names of the parents
   (``--madre``, ``--padre``; at least one).
2. RENAPO (``consulta-curp``): the CURP must be registered and active. A baja (deceased,
   duplicate, ...) ends the enrolment there: the acta is not fetched (data minimisation).
3. Registro Civil (``consulta-acta``): the acta must be the student's, the student must be
   6 to 29 years old on the reference date, and every parent named on the form must be the
   acta's (names compared without case or accents).
4. The decision (``check_curp`` and ``check_acta``, pure): ``accepted``, or ``rejected`` with
   every reason found.

Every call carries the purpose, the legal basis, the case number and the official, so the
ledger shows who looked up whose data, why and for which case. The evidence of each answer is
kept as ``<case>-curp.jws`` and ``<case>-acta.jws``: anyone can check it offline with
``enlace evidence verify``. Nothing personal is printed beyond the decision.

    python -m services.apps.becas enrol --curp CURP --madre "NOMBRES APELLIDO APELLIDO" \\
        --padre "..." --case BECA-2026-000042 --official MX-SEP-000123 \\
        [--gateway https://127.0.0.1:8443] [--pki-dir certs] [--evidence-dir evidence]
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from gateway.kernel import curp
from gateway.kernel.curp import STATUS_DESCRIPTIONS, is_active, name_key
from services.apps import catalogue
from services.sdk import EnlaceClient, EnlaceClientError, GatewayError, NotFound, Result

Outcome = Literal["accepted", "rejected"]
EXIT_CODES: dict[Outcome, int] = {"accepted": 0, "rejected": 1}
MIN_AGE, MAX_AGE = 6, 29
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class FormError(ValueError):
    """The enrolment form is not usable."""


@dataclass(frozen=True)
class Form:
    """What the applicant declares: the student's CURP and the parents' full names."""

    curp: str
    madre: str | None = None
    padre: str | None = None

    def __post_init__(self) -> None:
        try:
            curp.validate(self.curp)
        except curp.InvalidCurp as exc:
            raise FormError(f"the CURP is not valid: {exc}") from exc
        if not (self.madre or self.padre):
            raise FormError("name at least one parent")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: tuple[str, ...]
    case: str
    evidence: tuple[Path, ...] = ()
    ledger_entries: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "case": self.case,
            "evidence": [str(p) for p in self.evidence],
            "ledger_entries": list(self.ledger_entries),
        }


def age_on(born: dt.date, day: dt.date) -> int:
    """Completed years from ``born`` to ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_curp(record: dict[str, Any]) -> list[str]:
    """Reasons to refuse, from RENAPO's record (empty: the CURP is active)."""
    status = str(record.get("statusCurp"))
    if status in STATUS_DESCRIPTIONS and is_active(status):
        return []
    return [f"the CURP is not active: status {status} ({record.get('descriptionStatusCurp')})"]


def _full_name(person: dict[str, Any]) -> str:
    parts = (person.get("nombres"), person.get("primerApellido"), person.get("segundoApellido"))
    return name_key(" ".join(str(p) for p in parts if p))


def check_acta(form: Form, acta: dict[str, Any], today: dt.date) -> list[str]:
    """Reasons to refuse, from the Registro Civil's acta (empty: the form agrees with it)."""
    registrado = acta["registrado"]
    if registrado["curp"] != form.curp:
        return ["the acta is not the student's"]
    reasons = []
    age = age_on(dt.date.fromisoformat(registrado["fechaNacimiento"]), today)
    if not MIN_AGE <= age <= MAX_AGE:
        reasons.append(f"the student is {age}, outside {MIN_AGE}–{MAX_AGE}")
    parents = {p["rol"]: p for p in acta["progenitores"]}
    for rol, declared in (("MADRE", form.madre), ("PADRE", form.padre)):
        if declared is None:
            continue
        if rol not in parents:
            reasons.append(f"the acta names no {rol.lower()}")
        elif _full_name(parents[rol]) != name_key(declared):
            reasons.append(f"the {rol.lower()} on the form is not the acta's")
    return reasons


def _keep(result: Result, directory: Path, case: str, label: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_UNSAFE.sub('_', case)}-{label}.jws"
    path.write_text(result.evidence.token + "\n", encoding="ascii")
    return path


def enrol(
    client: EnlaceClient,
    form: Form,
    *,
    case: str,
    official: str,
    evidence_dir: Path,
    today: dt.date,
) -> Decision:
    """Ask RENAPO, then (if the CURP is active) the Registro Civil, and decide."""
    kept: list[Path] = []
    ledger: list[int] = []

    def decided(reasons: list[str]) -> Decision:
        outcome: Outcome = "rejected" if reasons else "accepted"
        return Decision(outcome, tuple(reasons), case, tuple(kept), tuple(ledger))

    steps = (
        (catalogue.CURP_SERVICE, "curp", "RENAPO has no record of the CURP"),
        (catalogue.ACTA_SERVICE, "acta", "the Registro Civil has no acta de nacimiento for it"),
    )
    answers: dict[str, Any] = {}
    for service, label, missing in steps:
        try:
            result = client.call(
                str(service),
                subject=form.curp,
                purpose=catalogue.BECAS_PURPOSE,
                legal_basis=catalogue.BECAS_LEGAL_BASIS,
                user_id=official,
                issue=case,
            )
        except NotFound as exc:
            if exc.ledger_index is not None:
                ledger.append(exc.ledger_index)
            return decided([missing])
        kept.append(_keep(result, evidence_dir, case, label))
        ledger.append(result.ledger_index)
        answers[label] = result.data
        if label == "curp" and (reasons := check_curp(result.data)):
            return decided(reasons)
    return decided(check_acta(form, answers["acta"], today))


# --- command line ----------------------------------------------------------------------------

app = typer.Typer(
    help="Scholarship office: enrol a student by CURP (RENAPO + Registro Civil).",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Scholarship office: enrol a student by CURP (RENAPO + Registro Civil)."""


@app.command("enrol")
def enrol_command(
    curp_: Annotated[str, typer.Option("--curp", help="The student's CURP.")],
    case: Annotated[str, typer.Option(help="Case number, recorded in the ledger.")],
    official: Annotated[str, typer.Option(help="The official enrolling, recorded too.")],
    madre: Annotated[str | None, typer.Option(help="Mother's full name, as on the form.")] = None,
    padre: Annotated[str | None, typer.Option(help="Father's full name, as on the form.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Reference date for the age, YYYY-MM-DD (default today).")
    ] = None,
    evidence_dir: Annotated[Path, typer.Option(help="Where to keep the evidence.")] = Path(
        "evidence"
    ),
    gateway: Annotated[str, typer.Option(envvar="ENLACE_GATEWAY_URL")] = "https://127.0.0.1:8443",
    pki_dir: Annotated[Path, typer.Option(envvar="ENLACE_PKI_DIR")] = Path("certs"),
    client: Annotated[str, typer.Option(help="This office's subsystem.")] = str(catalogue.BECAS),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Enrol a student: exit status 0 accepted, 1 rejected, 2 could not decide."""
    try:
        form = Form(curp_.strip().upper(), madre, padre)
        today = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except (FormError, ValueError) as exc:
        typer.echo(f"unusable form: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        with EnlaceClient.from_pki(gateway, client, pki_dir) as enlace:
            decision = enrol(
                enlace, form, case=case, official=official, evidence_dir=evidence_dir, today=today
            )
    except GatewayError as exc:
        typer.echo(f"could not ask: {exc.code} {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except EnlaceClientError as exc:  # an answer that does not verify is no answer
        typer.echo(f"an answer did not verify: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(decision.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(f"case {case}: {decision.outcome.upper()}")
        for reason in decision.reasons:
            typer.echo(f"  {reason}")
        for path in decision.evidence:
            typer.echo(f"  evidence kept in {path}")
        entries = ", ".join(f"#{i}" for i in decision.ledger_entries)
        typer.echo(f"  ledger entries {entries}")
    raise typer.Exit(EXIT_CODES[decision.outcome])


if __name__ == "__main__":
    app()
