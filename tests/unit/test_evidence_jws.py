"""Evidence JWS signed and verified with ``cryptography`` directly: joserfc agrees both ways, and
the per-certificate caches (``EvidenceVerifier``, ``pki.IssuedChecker``) never skip a check that
depends on time, nor take one certificate for another with the same subject."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from gateway.devtools import devca
from gateway.kernel import pki
from gateway.kernel.encoding import b64url_encode
from gateway.kernel.ids import MemberId, ServiceId
from gateway.kernel.protocol import evidence

SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
RENAPO = MemberId.parse("MX/GOB/RENAPO")
#: Certificates are issued around this time and tokens signed at it: no wall clock involved.
AT = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def ca():
    return devca.create_ca("MX", now=AT)


@pytest.fixture(scope="module")
def renapo(ca):
    return devca.issue_signing_cert(ca, RENAPO, now=AT)


def _claims(data, at: dt.datetime = AT) -> dict:
    return {
        "iss": str(SERVICE),
        "iat": int(at.timestamp()),
        "exchange_id": "e1",
        "client": "MX/GOB/SEP/becas",
        "data": data,
    }


def _registry() -> JWSRegistry:
    registry = JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 8 * 1024
    registry.max_payload_length = evidence.MAX_TOKEN
    return registry


def _header(pair: pki.KeyPair) -> dict:
    return evidence._segment(evidence.EvidenceSigner(pair).sign({}).split(".")[0], "header")


def _joserfc_sign(claims: dict, pair: pki.KeyPair) -> str:
    header = {
        "alg": "ES256",
        "typ": evidence.TYP,
        "kid": pki.keyid(pair.cert),
        "x5c": [pki.cert_pem(pair.cert).split("-----")[2].replace("\n", "")],
    }
    return jws.serialize_compact(
        header, evidence.canonical(claims), ECKey.import_key(pair.key), registry=_registry()
    )


def _joserfc_accepts(token: str, pair: pki.KeyPair) -> bool:
    try:
        jws.deserialize_compact(
            token, ECKey.import_key(pair.cert.public_key()), registry=_registry()
        )
    except (JoseError, ValueError):
        return False
    return True


def _raw_sign(header: dict, payload: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    """A compact JWS of any header, signed by hand."""
    signing_input = b64url_encode(json.dumps(header).encode()) + "." + b64url_encode(payload)
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=150, deadline=None)
@given(data=_JSON)
def test_tokens_are_joserfcs_and_verify_both_ways(ca, renapo, data):
    claims = _claims(data)
    ours = evidence.EvidenceSigner(renapo).sign(claims)
    theirs = _joserfc_sign(claims, renapo)
    # ECDSA signatures are randomised; everything before them is byte-identical.
    assert ours.rsplit(".", 1)[0] == theirs.rsplit(".", 1)[0]
    assert _joserfc_accepts(ours, renapo)
    verifier = evidence.EvidenceVerifier(ca.cert)
    for token in (ours, theirs):
        assert verifier.verify(token).claims == claims


def test_a_tampered_token_verifies_only_where_joserfc_agrees(ca, renapo):
    """Every one-character change of a token: what we accept, joserfc accepts, with the same
    claims (we are the stricter: non-canonical base64url is refused)."""
    token = evidence.EvidenceSigner(renapo).sign(_claims({"curp": "X", "nombre": "Ñandú"}))
    verifier = evidence.EvidenceVerifier(ca.cert)
    header_end, signature_start = token.index("."), token.rindex(".")
    positions = [*range(0, header_end, 7), *range(header_end - 3, len(token))]
    accepted = 0
    for i in positions:
        for char in ("A", "_", ".", "="):
            if token[i] == char:
                continue
            mutated = token[:i] + char + token[i + 1 :]
            try:
                proof = verifier.verify(mutated)
            except evidence.EvidenceError:
                continue
            accepted += 1
            assert _joserfc_accepts(mutated, renapo), (i, char)
            assert proof.claims == verifier.verify(token).claims
    assert accepted <= 4 and signature_start > header_end


def test_headers_beyond_the_profile_are_refused(ca, renapo):
    payload = evidence.canonical(_claims({}))
    header = _header(renapo)
    verifier = evidence.EvidenceVerifier(ca.cert)
    assert verifier.verify(_raw_sign(header, payload, renapo.key)).claims == _claims({})
    for changed, code in (
        ({**header, "crit": ["exp"], "exp": 1}, "evidence.malformed"),
        ({**header, "alg": "ES384"}, "evidence.malformed"),
        ({**header, "typ": "JWT"}, "evidence.malformed"),
        ({**header, "x5c": []}, "evidence.malformed"),
    ):
        with pytest.raises(evidence.EvidenceError) as caught:
            verifier.verify(_raw_sign(changed, payload, renapo.key))
        assert caught.value.code == code, changed
    token = _raw_sign(header, payload, renapo.key)
    for garbage in (token + ".", token + "." + token.split(".")[2], "." + token):
        with pytest.raises(evidence.EvidenceError) as caught:
            verifier.verify(garbage)
        assert caught.value.code == "evidence.malformed"


def test_signer_keyid_is_the_certificates(ca, renapo):
    signer = evidence.EvidenceSigner(renapo)
    assert signer.keyid == pki.keyid(renapo.cert)
    assert evidence.verify(signer.sign(_claims({})), ca.cert).keyid == signer.keyid


# --- the caches ------------------------------------------------------------------------------


def test_validity_is_checked_for_every_token_after_caching(ca):
    brief = devca.issue_signing_cert(ca, RENAPO, not_before=AT - DAY, not_after=AT + DAY)
    signer, verifier = evidence.EvidenceSigner(brief), evidence.EvidenceVerifier(ca.cert)
    verifier.verify(signer.sign(_claims({})))
    for outside in (AT + 2 * DAY, AT - 2 * DAY):
        with pytest.raises(evidence.EvidenceError) as caught:
            verifier.verify(signer.sign(_claims({}, outside)))
        assert caught.value.code == "evidence.untrusted_signer"
        assert "validity" in caught.value.message
    verifier.verify(signer.sign(_claims({}, AT + DAY / 2)))


def test_another_certificate_with_the_same_subject_is_checked_afresh(ca, renapo):
    verifier = evidence.EvidenceVerifier(ca.cert)
    verifier.verify(evidence.EvidenceSigner(renapo).sign(_claims({})))
    rogue_ca = devca.create_ca("MX", now=AT)  # the same name as the instance CA
    impostor = devca.issue_signing_cert(rogue_ca, RENAPO, now=AT)
    tls = devca.issue_tls_cert(ca, str(RENAPO), ["localhost"], member=RENAPO, now=AT)
    assert rogue_ca.cert.subject == ca.cert.subject
    assert impostor.cert.subject == renapo.cert.subject == tls.cert.subject
    for pair in (impostor, tls, impostor):
        with pytest.raises(evidence.EvidenceError) as caught:
            verifier.verify(evidence.EvidenceSigner(pair).sign(_claims({})))
        assert caught.value.code == "evidence.untrusted_signer"
    verifier.verify(evidence.EvidenceSigner(renapo).sign(_claims({})))


def test_a_cached_header_does_not_spare_a_tokens_signature_or_claims(ca, renapo):
    """The signer is remembered by its protected header; every token under that header still
    has its own signature, canonical payload and signer match checked."""
    signer, verifier = evidence.EvidenceSigner(renapo), evidence.EvidenceVerifier(ca.cert)
    token = signer.sign(_claims({"n": 1}))
    verifier.verify(token)
    header, payload, signature = token.split(".")
    other = signer.sign(_claims({"n": 2})).split(".")
    spliced = f"{header}.{other[1]}.{signature}"  # another payload under the cached header
    signing_input = f"{header}.{b64url_encode(json.dumps(_claims({'n': 1})).encode())}"
    r, s = decode_dss_signature(renapo.key.sign(signing_input.encode(), evidence._ES256))
    not_canonical = (
        f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    )
    wrong_member = {**_claims({}), "iss": "MX/GOB/SAT/sat/valida-efirma/v1"}
    for bad, code in (
        (spliced, "evidence.bad_signature"),
        (not_canonical, "evidence.not_canonical"),
        (signer.sign(wrong_member), "evidence.wrong_signer"),
    ):
        with pytest.raises(evidence.EvidenceError) as caught:
            verifier.verify(bad)
        assert caught.value.code == code
    assert len(verifier._signers) == 1  # one header seen, however many tokens


def test_the_signer_cache_is_bounded(ca, monkeypatch):
    monkeypatch.setattr(evidence, "SIGNER_CACHE", 2)
    verifier = evidence.EvidenceVerifier(ca.cert)
    signers = [evidence.EvidenceSigner(devca.issue_signing_cert(ca, RENAPO, now=AT)) for _ in "abc"]
    for signer in signers * 2:
        assert verifier.verify(signer.sign(_claims({}))).keyid == signer.keyid
    assert len(verifier._signers) <= 2


def test_issued_checker_verifies_once_and_checks_the_window_every_time(ca, renapo):
    checker = pki.IssuedChecker(ca.cert)
    checker.check(pki.keyid(renapo.cert), renapo.cert, AT)
    with pytest.raises(pki.CertificateProblem) as caught:
        checker.check(pki.keyid(renapo.cert), renapo.cert, AT + 3 * 365 * DAY)
    assert caught.value.reason == "expired"
    impostor = devca.issue_signing_cert(devca.create_ca("MX", now=AT), RENAPO, now=AT)
    with pytest.raises(pki.CertificateProblem) as caught:
        checker.check(pki.keyid(impostor.cert), impostor.cert, AT)
    assert caught.value.reason == "invalid"


def test_the_issued_checkers_memory_is_bounded(ca, monkeypatch):
    monkeypatch.setattr(pki, "VERIFIED_CACHE", 2)
    checker = pki.IssuedChecker(ca.cert)
    pairs = [devca.issue_signing_cert(ca, RENAPO, now=AT) for _ in "abc"]
    for pair in pairs * 2:
        checker.check(pki.keyid(pair.cert), pair.cert, AT)
        assert len(checker._verified) <= 2
    with pytest.raises(pki.CertificateProblem):  # each use still checks the window
        checker.check(pki.keyid(pairs[0].cert), pairs[0].cert, AT + 3 * 365 * DAY)
