"""The scholarship app on the SDK, against the real gateway: decisions, evidence and the ledger."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from gateway.devtools import bootstrap
from gateway.kernel.protocol import evidence
from services.apps import becas
from tests.e2e.helpers import ledger_entry
from tests.sources.identity import becas as becas_client
from tests.sources.identity import first
from trusted_sources.records import Person

TODAY = dt.date(2026, 6, 1)


def _full(person: Person) -> str:
    names = (person.nombres, person.primer_apellido, person.segundo_apellido)
    return " ".join(n for n in names if n)


def _student(people: list[Person]) -> Person:
    return first(
        people,
        estatus_curp="AN",
        madre_curp=lambda c: c is not None,
        padre_curp=lambda c: c is not None,
        documento_probatorio=lambda d: d.tipo == 1,
        fecha_nacimiento=lambda b: becas.MIN_AGE <= becas.age_on(b, TODAY) <= becas.MAX_AGE,
    )


def _form(people: list[Person], student: Person, **changes: str | None) -> becas.Form:
    by_curp = {p.curp: p for p in people}
    names = {
        "madre": _full(by_curp[student.madre_curp]).lower(),  # as typed: case does not matter
        "padre": _full(by_curp[student.padre_curp]),
    }
    return becas.Form(student.curp, **{**names, **changes})


def _enrol(dev, url, form, tmp_path, case="BECA-2026-000042"):
    with becas_client(dev, url) as client:
        return becas.enrol(
            client, form, case=case, official="MX-SEP-000123", evidence_dir=tmp_path, today=TODAY
        )


def test_eligible_student_is_accepted_with_evidence_kept(dev, gateway_url, people, tmp_path):
    student = _student(people)
    decision = _enrol(dev, gateway_url, _form(people, student), tmp_path)
    assert decision.outcome == "accepted" and decision.reasons == ()
    assert [p.name for p in decision.evidence] == [
        "BECA-2026-000042-curp.jws",
        "BECA-2026-000042-acta.jws",
    ]
    ca = dev.pki.load_ca().cert
    issuers = [evidence.verify(p.read_text().strip(), ca).claims["iss"] for p in decision.evidence]
    assert issuers == [str(bootstrap.CURP_SERVICE), str(bootstrap.ACTA_SERVICE)]
    for index in decision.ledger_entries:
        entry = ledger_entry(dev.database, index)
        assert (entry["purpose"], entry["legal_basis"], entry["issue"]) == (
            bootstrap.BECAS_PURPOSE,
            bootstrap.BECAS_LEGAL_BASIS,
            "BECA-2026-000042",
        )
        assert entry["user_id"] == "MX-SEP-000123" and entry["outcome"] == "allowed"


def test_parents_must_match_the_acta(dev, gateway_url, people, tmp_path):
    student = _student(people)
    form = _form(people, student, madre="MARÍA PÉREZ LÓPEZ", padre=None)
    decision = _enrol(dev, gateway_url, form, tmp_path)
    assert decision.outcome == "rejected"
    assert decision.reasons == ("the madre on the form is not the acta's",)


def test_age_outside_the_programme(dev, gateway_url, people, tmp_path):
    older = first(
        people,
        estatus_curp="AN",
        madre_curp=lambda c: c is not None,
        padre_curp=lambda c: c is not None,
        documento_probatorio=lambda d: d.tipo == 1,
        fecha_nacimiento=lambda b: becas.age_on(b, TODAY) > becas.MAX_AGE,
    )
    decision = _enrol(dev, gateway_url, _form(people, older), tmp_path)
    assert decision.outcome == "rejected"
    assert decision.reasons == (
        f"the student is {becas.age_on(older.fecha_nacimiento, TODAY)}, outside 6–29",
    )


def test_baja_stops_before_the_acta_is_fetched(dev, gateway_url, people, tmp_path):
    deceased = first(people, estatus_curp="BD")
    decision = _enrol(dev, gateway_url, becas.Form(deceased.curp, madre="X Y Z"), tmp_path)
    assert decision.outcome == "rejected"
    assert decision.reasons == ("the CURP is not active: status BD (Baja por defunción)",)
    assert len(decision.ledger_entries) == 1 and len(decision.evidence) == 1


def test_unknown_curp_is_rejected(dev, gateway_url, tmp_path):
    decision = _enrol(dev, gateway_url, becas.Form("RUTA030715MOCZPNA2", madre="A B C"), tmp_path)
    assert decision.outcome == "rejected"
    assert decision.reasons == ("RENAPO has no record of the CURP",)
    assert ledger_entry(dev.database, decision.ledger_entries[0])["outcome"] == "not_found"


def test_form_needs_a_valid_curp_and_a_parent():
    with pytest.raises(becas.FormError):
        becas.Form("RUTA030715MOCZPNA3", madre="A B")
    with pytest.raises(becas.FormError):
        becas.Form("RUTA030715MOCZPNA2")


def test_command_line(dev, gateway_url, people, tmp_path):
    student = _student(people)
    form = _form(people, student)
    command = [
        sys.executable, "-m", "services.apps.becas", "enrol",
        "--curp", student.curp, "--madre", form.madre, "--padre", form.padre,
        "--case", "BECA-2026-7", "--official", "MX-SEP-000123", "--as-of", TODAY.isoformat(),
        "--gateway", gateway_url, "--pki-dir", str(dev.pki.root),
        "--evidence-dir", str(tmp_path / "evidence"), "--json",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["outcome"] == "accepted" and len(decision["ledger_entries"]) == 2
    assert student.curp not in result.stdout  # the decision names no one
    help_text = subprocess.run(
        [sys.executable, "-m", "services.apps.becas", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_text.returncode == 0 and "enrol" in help_text.stdout
