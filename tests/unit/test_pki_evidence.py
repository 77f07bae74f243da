"""Dev PKI checks and portable JWS evidence."""

import base64
import datetime as dt
import json

import pytest

from gateway.devtools import devca
from gateway.kernel import pki
from gateway.kernel.ids import MemberId, ServiceId
from gateway.kernel.protocol import evidence

SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
#: A fixed time to check certificates at: they are issued around it, so no wall-clock distance
#: between collection, fixtures and the check matters.
AT = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca():
    return devca.create_ca("MX")


@pytest.fixture(scope="module")
def renapo(ca):
    return devca.issue_signing_cert(ca, MemberId.parse("MX/GOB/RENAPO"))


def test_member_certificate():
    ca = devca.create_ca("MX", now=AT)
    renapo = devca.issue_signing_cert(ca, MemberId.parse("MX/GOB/RENAPO"), now=AT)
    assert pki.member_of(renapo.cert) == MemberId.parse("MX/GOB/RENAPO")
    pki.check_issued(renapo.cert, ca.cert, AT)
    with pytest.raises(pki.CertificateProblem) as caught:
        pki.check_issued(renapo.cert, devca.create_ca("MX", now=AT).cert, AT)
    assert caught.value.reason == "invalid"
    with pytest.raises(pki.CertificateProblem) as caught:
        pki.check_issued(renapo.cert, ca.cert, AT + dt.timedelta(days=3650))
    assert caught.value.reason == "expired"


def test_init_pki_keeps_existing_material(tmp_path):
    folder, created = devca.init_pki(tmp_path, "MX", hosts=["localhost", "127.0.0.1"])
    assert created and folder.exists()
    assert oct(folder.ca_key.stat().st_mode)[-3:] == "600"
    assert len(folder.pseudonym_key.read_bytes()) == 32
    before = folder.ca_cert.read_bytes()
    _, created_again = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    assert not created_again and folder.ca_cert.read_bytes() == before


def test_evidence_round_trip(ca, renapo):
    token = evidence.issue(
        SERVICE, {"curp": "X", "nombre": "Ñandú"}, renapo, exchange_id="e1", client="c"
    )
    verified = evidence.verify(token, ca.cert)
    assert verified.data == {"curp": "X", "nombre": "Ñandú"}
    assert verified.claims["iss"] == str(SERVICE)


def _replace_payload(token: str, claims: dict) -> str:
    head, _, sig = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{payload}.{sig}"


def test_tampered_evidence_fails(ca, renapo):
    token = evidence.issue(SERVICE, {"statusCurp": "AN"}, renapo, exchange_id="e1", client="c")
    claims = evidence.verify(token, ca.cert).claims
    forged = _replace_payload(token, {**claims, "data": {"statusCurp": "BD"}})
    with pytest.raises(evidence.EvidenceError) as caught:
        evidence.verify(forged, ca.cert)
    assert caught.value.code == "evidence.bad_signature"


def test_evidence_from_the_wrong_signer_or_ca_fails(ca, renapo):
    sep = devca.issue_signing_cert(ca, MemberId.parse("MX/GOB/SEP"))
    token = evidence.issue(SERVICE, {}, sep, exchange_id="e1", client="c")
    with pytest.raises(evidence.EvidenceError) as caught:
        evidence.verify(token, ca.cert)
    assert caught.value.code == "evidence.wrong_signer"
    with pytest.raises(evidence.EvidenceError) as caught:
        evidence.verify(
            evidence.issue(SERVICE, {}, renapo, exchange_id="e", client="c"),
            devca.create_ca("MX").cert,
        )
    assert caught.value.code == "evidence.untrusted_signer"
    for garbage in ("", "a.b.c", "not a token"):
        with pytest.raises(evidence.EvidenceError):
            evidence.verify(garbage, ca.cert)


def test_only_signing_certificates_may_sign_evidence(ca):
    """A member's TLS key names the right member and chains to the CA, but is not for signing."""
    tls = devca.issue_tls_cert(ca, "renapo", ["localhost"], member=MemberId.parse("MX/GOB/RENAPO"))
    token = evidence.issue(SERVICE, {}, tls, exchange_id="e1", client="c")
    with pytest.raises(evidence.EvidenceError) as caught:
        evidence.verify(token, ca.cert)
    assert caught.value.code == "evidence.untrusted_signer"
