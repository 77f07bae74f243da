"""The permits office app end to end: e.firma-signed forms checked by SAT through the gateway."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.devtools import bootstrap
from gateway.devtools import sat_pki as devpki
from gateway.kernel.ledger.record import pseudonym
from gateway.kernel.protocol import evidence
from gateway.server.run import running
from services.apps import permisos
from services.sdk import EnlaceClient
from tests.e2e.helpers import ledger_entry

CASE, OFFICIAL = "PERM-2026-0001", "MX-SE-000042"


@pytest.fixture
def office(sat_dev: bootstrap.DevInstance) -> Iterator[tuple[str, EnlaceClient]]:
    with (
        running(sat_dev.settings) as url,
        EnlaceClient.from_pki(url, str(bootstrap.PERMISOS), sat_dev.pki.root) as client,
    ):
        yield url, client


def application(
    sat_pki: devpki.SatDevPki, credential: devpki.Credential, **form: Any
) -> permisos.Application:
    filled = {"tramite": "permiso-importacion", "curp": credential.curp, **form}
    return permisos.sign(
        filled,
        sat_pki.cer(credential).read_bytes(),
        sat_pki.key(credential).read_bytes(),
        devpki.PASSWORD.encode(),
    )


def test_valid_signature_is_approved_and_ledgered(sat_dev, sat_pki, office):
    _, client = office
    applicant = sat_pki.find(state="valid")
    decision = permisos.review(
        client, application(sat_pki, applicant), case=CASE, official=OFFICIAL
    )
    assert (decision.outcome, decision.reasons) == ("approved", ())

    entry = ledger_entry(sat_dev.database, decision.ledger_index)
    assert entry["outcome"] == "allowed" and entry["client"] == str(bootstrap.PERMISOS)
    assert entry["service"] == str(bootstrap.FIRMA_SERVICE)
    assert (entry["purpose"], entry["legal_basis"], entry["issue"], entry["user_id"]) == (
        bootstrap.PERMISOS_PURPOSE,
        bootstrap.PERMISOS_LEGAL_BASIS,
        CASE,
        OFFICIAL,
    )
    secret = sat_dev.pki.pseudonym_key.read_bytes()
    assert entry["subjects"] == [pseudonym(secret, applicant.curp)]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("revoked e.firma", "efirma.revoked"),
        ("expired e.firma", "efirma.expired"),
        ("form changed after signing", "signature.mismatch"),
        ("someone else's form", "efirma.subject_mismatch"),
    ],
)
def test_bad_applications_are_rejected_with_sat_reason(sat_pki, office, people, case, code):
    _, client = office
    valid = sat_pki.find(state="valid")
    if case == "revoked e.firma":
        submitted = application(sat_pki, sat_pki.find(state="revoked"))
    elif case == "expired e.firma":
        submitted = application(sat_pki, sat_pki.find(state="expired"))
    elif case == "form changed after signing":
        signed = application(sat_pki, valid, monto="1000")
        submitted = permisos.Application(
            {**signed.form, "monto": "9000"}, signed.certificate, signed.signature
        )
    else:
        stranger = next(p.curp for p in people if p.curp != valid.curp)
        submitted = application(sat_pki, valid, curp=stranger)
    decision = permisos.review(client, submitted, case=CASE, official=OFFICIAL)
    assert decision.outcome == "rejected"
    assert [r.split(":")[0] for r in decision.reasons] == [code]


def test_decision_rules():
    sent = permisos.Application({"tramite": "t", "curp": "X"}, b"cert", b"sig")
    digest = hashlib.sha256(b"cert").hexdigest()
    about = {"certificate": {"sha256": digest}}
    pending = {**about, "verdict": "indeterminate", "valid": False, "signed": True}
    pending["failures"] = [{"code": "ocsp.unavailable", "message": "responder down"}]
    assert permisos.decide(sent, pending, CASE).outcome == "pending"
    approved = {**about, "verdict": "valid", "valid": True, "signed": True, "failures": []}
    assert permisos.decide(sent, approved, CASE).outcome == "approved"
    # An answer about another certificate is never an approval, whatever it says.
    other = {**approved, "certificate": {"sha256": "0" * 64}}
    assert permisos.decide(sent, other, CASE).outcome == "rejected"


def test_command_line_sign_then_review(sat_dev, sat_pki, office, tmp_path):
    url, _ = office
    applicant = sat_pki.find(persona="moral", state="valid")  # a company, by its representative
    form = {"tramite": "permiso-importacion", "curp": applicant.curp, "rfc": applicant.rfc}
    (tmp_path / "form.json").write_text(json.dumps(form))
    runner = CliRunner()
    signed = runner.invoke(
        permisos.app,
        [
            "sign",
            str(tmp_path / "form.json"),
            "--cer",
            str(sat_pki.cer(applicant)),
            "--key",
            str(sat_pki.key(applicant)),
            "--out",
            str(tmp_path / "solicitud.json"),
        ],
        input=devpki.PASSWORD + "\n",
    )
    assert signed.exit_code == 0, signed.output
    reviewed = runner.invoke(
        permisos.app,
        [
            "review",
            str(tmp_path / "solicitud.json"),
            "--case",
            CASE,
            "--official",
            OFFICIAL,
            "--gateway",
            url,
            "--pki-dir",
            str(sat_dev.pki.root),
            "--json",
        ],
    )
    assert reviewed.exit_code == 0, reviewed.output
    assert json.loads(reviewed.output)["outcome"] == "approved"

    wrong = runner.invoke(
        permisos.app,
        ["sign", str(tmp_path / "form.json"), "--cer", str(sat_pki.cer(applicant))]
        + ["--key", str(sat_pki.key(applicant)), "--password", "wrong"],
    )
    assert wrong.exit_code == 2 and "cannot sign: wrong password" in wrong.output


def test_sat_validation_through_the_gateway_is_sat_signed_evidence(sat_dev, sat_pki, office):
    _, client = office
    holder = sat_pki.find(state="valid")
    result = client.call(
        str(bootstrap.EFIRMA_SERVICE),
        subject=holder.curp,
        purpose=bootstrap.PERMISOS_PURPOSE,
        legal_basis=bootstrap.PERMISOS_LEGAL_BASIS,
        user_id=OFFICIAL,
        issue=CASE,
        method="POST",
        body={"certificado": base64.b64encode(sat_pki.cer(holder).read_bytes()).decode()},
    )
    assert result.data["valid"] is True and result.data["certificate"]["rfc"] == holder.rfc
    proof = evidence.verify(result.evidence.token, sat_dev.pki.load_ca().cert)
    assert proof.claims["iss"] == str(bootstrap.EFIRMA_SERVICE)
    assert "SAT" in proof.signer.subject.rfc4514_string()
