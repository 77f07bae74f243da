"""OCSP request/response verification (domain.md §C.6) against the pure fake responder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.devtools import sat_ca as devca
from gateway.kernel.efirma import ocsp

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=2)
NONCE = b"\x01" * 16
REVOKED_AT = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)

GOOD = (x509_ocsp.OCSPCertStatus.GOOD, None, None)
REVOKED = (x509_ocsp.OCSPCertStatus.REVOKED, REVOKED_AT, x509.ReasonFlags.key_compromise)
UNKNOWN = (x509_ocsp.OCSPCertStatus.UNKNOWN, None, None)


@pytest.fixture(scope="module")
def pool() -> devca.KeyPool:
    return devca.KeyPool(3)


@pytest.fixture(scope="module")
def ca(pool: devca.KeyPool) -> devca.DevCA:
    return devca.create_dev_ca(
        not_before=T0 - timedelta(days=30),
        root_key=pool.take(),
        ca_key=pool.take(),
        ocsp_key=pool.take(),
    )


@pytest.fixture(scope="module")
def other_ca() -> devca.DevCA:
    # Fresh keys: a pooled key could coincide with `ca`'s and make the two CAs indistinguishable.
    return devca.create_dev_ca(
        not_before=T0 - timedelta(days=30),
        root_key=devca.new_rsa_key(),
        ca_key=devca.new_rsa_key(),
        ocsp_key=devca.new_rsa_key(),
    )


def _leaf(ca: devca.DevCA, key: rsa.RSAPrivateKey, serial20: str) -> x509.Certificate:
    return devca.issue_efirma(
        ca,
        rfc="GODE561231GR8",
        curp="GODE561231HDFRRN09",
        name="EMILIO GOMEZ DIAZ",
        email="emilio@example.org",
        serial20=serial20,
        not_before=T0,
        not_after=T0 + timedelta(days=1460),
        key=key,
    ).certificate


@pytest.fixture(scope="module")
def leaf(ca: devca.DevCA, pool: devca.KeyPool) -> x509.Certificate:
    return _leaf(ca, pool.take(), "30001000000500000001")


def _respond(
    ca: devca.DevCA,
    request: bytes,
    status: tuple[x509_ocsp.OCSPCertStatus, datetime | None, x509.ReasonFlags | None] = GOOD,
    *,
    responder: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    now: datetime = NOW,
) -> bytes:
    cert, key = responder or (ca.ocsp_cert, ca.ocsp_key)
    return ocsp.respond(
        request,
        issuer=ca.ca_cert,
        responder_cert=cert,
        responder_key=key,
        status_lookup=lambda serial: status,
        now=now,
    )


def _verify(
    der: bytes,
    ca: devca.DevCA,
    leaf: x509.Certificate,
    *,
    nonce: bytes | None = NONCE,
    at: datetime = NOW,
    trusted: list[x509.Certificate] | None = None,
) -> ocsp.OcspStatus:
    return ocsp.verify_response(
        der,
        cert=leaf,
        issuer=ca.ca_cert,
        responder_certs_trusted=trusted or [],
        nonce=nonce,
        at=at,
        max_age=MAX_AGE,
    )


def _error_code(der: bytes, ca: devca.DevCA, leaf: x509.Certificate, **kwargs: Any) -> str:
    with pytest.raises(ocsp.OcspError) as info:
        _verify(der, ca, leaf, **kwargs)
    return info.value.code


def _responder(
    issuer: devca.DevCA,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    ocsp_signing: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RESPONDEDOR AJENO")]))
        .issuer_name(issuer.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=365))
    )
    if ocsp_signing:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    return builder.sign(issuer.ca_key, hashes.SHA256())


# --- request ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "algorithm"), [("sha1", hashes.SHA1), ("sha256", hashes.SHA256)])
def test_build_request(
    ca: devca.DevCA, leaf: x509.Certificate, name: ocsp.CertIdHash, algorithm: type
) -> None:
    request = x509_ocsp.load_der_ocsp_request(ocsp.build_request(leaf, ca.ca_cert, NONCE, name))
    assert isinstance(request.hash_algorithm, algorithm)
    assert request.serial_number == leaf.serial_number
    assert request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == NONCE


@pytest.mark.parametrize("nonce", [b"", b"x" * 33])
def test_build_request_rejects_bad_nonce(
    ca: devca.DevCA, leaf: x509.Certificate, nonce: bytes
) -> None:
    with pytest.raises(ValueError):
        ocsp.build_request(leaf, ca.ca_cert, nonce)


# --- statuses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_algorithm", ["sha1", "sha256"])
def test_good(ca: devca.DevCA, leaf: x509.Certificate, hash_algorithm: ocsp.CertIdHash) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE, hash_algorithm))
    result = _verify(der, ca, leaf)
    assert result.status == "good"
    assert result.revocation_time is None
    assert result.nonce_verified
    assert result.this_update == NOW
    assert result.next_update == NOW + ocsp.DEFAULT_VALIDITY
    assert "OCSP AC DE PRUEBAS DEL GATEWAY" in result.responder
    assert result.response_der == der


def test_revoked_with_time_and_reason(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE), REVOKED)
    result = _verify(der, ca, leaf)
    assert result.status == "revoked"
    assert result.revocation_time == REVOKED_AT
    assert result.revocation_reason == "keyCompromise"


def test_unknown(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE), UNKNOWN)
    assert _verify(der, ca, leaf).status == "unknown"


def test_ca_may_sign_its_own_responses(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    request = ocsp.build_request(leaf, ca.ca_cert, NONCE)
    der = _respond(ca, request, responder=(ca.ca_cert, ca.ca_key))
    assert _verify(der, ca, leaf).status == "good"


# --- signer authorisation ------------------------------------------------------------------------


def test_tampered_response(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE))
    tampered = der.replace(NONCE, b"\x02" * 16)
    assert tampered != der
    assert _error_code(tampered, ca, leaf, nonce=b"\x02" * 16) == "ocsp.bad_signature"


def test_responder_without_ocsp_signing_eku(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    key = devca.new_rsa_key()
    responder = _responder(ca, key, ocsp_signing=False)
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE), responder=(responder, key))
    assert _error_code(der, ca, leaf) == "ocsp.unauthorized_responder"


def test_delegated_ec_responder(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _responder(ca, key, ocsp_signing=True)
    der = ocsp.respond(
        ocsp.build_request(leaf, ca.ca_cert, NONCE),
        issuer=ca.ca_cert,
        responder_cert=cert,
        responder_key=key,
        status_lookup=lambda serial: GOOD,
        now=NOW,
    )
    assert _verify(der, ca, leaf).status == "good"


def test_responder_issued_by_another_ca(
    ca: devca.DevCA, other_ca: devca.DevCA, leaf: x509.Certificate
) -> None:
    request = ocsp.build_request(leaf, ca.ca_cert, NONCE)
    der = _respond(ca, request, responder=(other_ca.ocsp_cert, other_ca.ocsp_key))
    assert _error_code(der, ca, leaf) == "ocsp.unauthorized_responder"
    # A pinned responder (local configuration, RFC 6960 §4.2.2.2) is trusted as configured.
    assert _verify(der, ca, leaf, trusted=[other_ca.ocsp_cert]).status == "good"


def test_responder_certificate_expired(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE))
    late = ca.ocsp_cert.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(ocsp.OcspError) as info:
        ocsp.verify_response(
            der,
            cert=leaf,
            issuer=ca.ca_cert,
            responder_certs_trusted=[],
            nonce=NONCE,
            at=late,
            max_age=late - NOW,
        )
    assert info.value.code == "ocsp.unauthorized_responder"


def test_responder_not_embedded_nor_pinned(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    response = (
        x509_ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=ca.ca_cert,
            algorithm=hashes.SHA1(),
            cert_status=x509_ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(x509_ocsp.OCSPResponderEncoding.NAME, ca.ocsp_cert)
        .sign(ca.ocsp_key, hashes.SHA256())
    )
    der = response.public_bytes(serialization.Encoding.DER)
    assert _error_code(der, ca, leaf, nonce=None) == "ocsp.unknown_responder"
    # Found by name once pinned (SAT-style: clients hold the responder cert).
    assert _verify(der, ca, leaf, nonce=None, trusted=[ca.ocsp_cert]).status == "good"


# --- freshness and nonce -------------------------------------------------------------------------


def test_stale_after_next_update(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE))
    late = NOW + ocsp.DEFAULT_VALIDITY + ocsp.DEFAULT_SKEW + timedelta(seconds=1)
    assert _error_code(der, ca, leaf, at=late) == "ocsp.stale"
    # Within the skew allowance the response is still usable.
    assert _verify(der, ca, leaf, at=NOW + ocsp.DEFAULT_VALIDITY + ocsp.DEFAULT_SKEW)


def test_stale_by_max_age(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    old = NOW - MAX_AGE - ocsp.DEFAULT_SKEW - timedelta(seconds=1)
    request = ocsp.build_request(leaf, ca.ca_cert, NONCE)
    der = ocsp.respond(
        request,
        issuer=ca.ca_cert,
        responder_cert=ca.ocsp_cert,
        responder_key=ca.ocsp_key,
        status_lookup=lambda serial: GOOD,
        now=old,
        validity=timedelta(days=7),  # nextUpdate still ahead: only max_age catches it
    )
    assert _error_code(der, ca, leaf) == "ocsp.stale"


def test_this_update_in_the_future(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    request = ocsp.build_request(leaf, ca.ca_cert, NONCE)
    der = _respond(ca, request, now=NOW + ocsp.DEFAULT_SKEW + timedelta(seconds=1))
    assert _error_code(der, ca, leaf) == "ocsp.not_yet_valid"


def test_nonce_mismatch(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE))
    assert _error_code(der, ca, leaf, nonce=b"\x09" * 16) == "ocsp.nonce_mismatch"


def _request_without_nonce(ca: devca.DevCA, leaf: x509.Certificate) -> bytes:
    request = x509_ocsp.OCSPRequestBuilder().add_certificate(leaf, ca.ca_cert, hashes.SHA1())
    return request.build().public_bytes(serialization.Encoding.DER)


def test_missing_nonce_accepted_when_fresh(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    # Responder that does not echo nonces (SAT's behaviour is unknown): we asked with NONCE.
    der = _respond(ca, _request_without_nonce(ca, leaf))
    result = _verify(der, ca, leaf, nonce=NONCE)
    assert result.status == "good"
    assert not result.nonce_verified


def test_missing_nonce_rejected_when_stale(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, _request_without_nonce(ca, leaf), now=NOW - timedelta(days=1))
    assert _error_code(der, ca, leaf, nonce=NONCE) == "ocsp.stale"


def test_naive_time_rejected(ca: devca.DevCA, leaf: x509.Certificate) -> None:
    der = _respond(ca, ocsp.build_request(leaf, ca.ca_cert, NONCE))
    with pytest.raises(ValueError):
        _verify(der, ca, leaf, at=datetime(2026, 6, 1))


# --- wrong certificate, unsuccessful and malformed ---------------------------------------------


def test_response_about_another_certificate(
    ca: devca.DevCA, leaf: x509.Certificate, pool: devca.KeyPool
) -> None:
    sibling = _leaf(ca, pool.take(), "30001000000500000002")
    der = _respond(ca, ocsp.build_request(sibling, ca.ca_cert, NONCE))
    assert _error_code(der, ca, leaf) == "ocsp.certid_mismatch"


def test_unknown_issuer_gets_unauthorized(
    ca: devca.DevCA, other_ca: devca.DevCA, pool: devca.KeyPool
) -> None:
    foreign = _leaf(other_ca, pool.take(), "30001000000500000003")
    der = _respond(ca, ocsp.build_request(foreign, other_ca.ca_cert, NONCE))
    response = x509_ocsp.load_der_ocsp_response(der)
    assert response.response_status == x509_ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert _error_code(der, other_ca, foreign) == "ocsp.unsuccessful"


def test_malformed_request_gets_malformed_request(ca: devca.DevCA) -> None:
    der = _respond(ca, b"\x30\x00")
    response = x509_ocsp.load_der_ocsp_response(der)
    assert response.response_status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("der", [b"", b"garbage", b"\x30\x03\x0a\x01"])
def test_malformed_response(ca: devca.DevCA, leaf: x509.Certificate, der: bytes) -> None:
    assert _error_code(der, ca, leaf) == "ocsp.malformed"
