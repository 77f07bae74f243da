"""OCSP for SAT e.firma certificates: request building, response verification, fake responder.

Owns the revocation check of domain.md §C.3/§C.6. SAT's responder (``/edofiel``) is reachable only
by agencies under agreement, its nonce support is unknown, and its responses are signed by
delegated responder certificates that clients pin. So this module:

- builds DER requests (CertID with SHA-1, SAT/openssl's default, or SHA-256; with a nonce);
- verifies DER responses completely by hand, since cryptography has no high-level OCSP verifier:
  successful status, an authorised signer (the issuing CA, a pinned responder certificate, or a
  delegated responder issued by the CA with EKU OCSPSigning — RFC 6960 §4.2.2.2), the signature,
  the CertID, thisUpdate/nextUpdate/max-age freshness with clock skew, and the nonce when the
  responder echoes one (a missing nonce is accepted because freshness is always enforced);
- answers requests as a pure function (``respond``) so a small HTTP service can play SAT's
  responder in tests and dev.

Pure: no network I/O, time is always a parameter. Failures raise ``OcspError`` with a stable
``ocsp.*`` code. The verified ``OcspStatus`` keeps the raw response as ledger evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.kernel.efirma import der as _der
from gateway.kernel.efirma.errors import SatError

CertIdHash = Literal["sha1", "sha256"]
CertStatus = Literal["good", "revoked", "unknown"]
# What a responder's database answers for a serial: status, revocation time, reason.
StatusLookup = Callable[[int], tuple[ocsp.OCSPCertStatus, datetime | None, x509.ReasonFlags | None]]
_SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_SKEW = timedelta(minutes=5)
DEFAULT_VALIDITY = timedelta(hours=1)

_CERT_ID_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
}
_STATUS_NAMES: dict[ocsp.OCSPCertStatus, CertStatus] = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


class OcspError(SatError):
    """Any OCSP failure: the response must not be used as evidence of status."""

    code = "ocsp.error"


@dataclass(frozen=True, slots=True)
class OcspStatus:
    status: CertStatus
    revocation_time: datetime | None
    revocation_reason: str | None  # RFC 5280 reason name, e.g. "keyCompromise"
    this_update: datetime
    next_update: datetime | None
    produced_at: datetime
    nonce_verified: bool  # False when we sent no nonce or the responder did not echo it
    responder: str  # RFC 4514 subject of the certificate that signed the response
    response_der: bytes  # raw response, kept as evidence


def build_request(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes,
    hash_algorithm: CertIdHash = "sha1",
) -> bytes:
    """DER OCSPRequest for ``cert`` with a nonce (RFC 8954: 1..32 bytes)."""
    if not 1 <= len(nonce) <= 32:
        raise ValueError("nonce must be 1..32 bytes")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, _CERT_ID_HASHES[hash_algorithm]())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


def verify_response(
    der: bytes,
    *,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    responder_certs_trusted: Sequence[x509.Certificate],
    nonce: bytes | None,
    at: datetime,
    max_age: timedelta,
    skew: timedelta = DEFAULT_SKEW,
) -> OcspStatus:
    """Verify an OCSP response for ``cert`` (issued by ``issuer``) as of ``at``.

    ``responder_certs_trusted`` are locally pinned responder certificates (like openssl's
    ``-VAfile``): trusted to sign for this issuer even if not issued by it, and used to find the
    signer when the response does not embed it.
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    at = at.astimezone(UTC)
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise OcspError(f"not a DER OCSP response: {exc}", code="ocsp.malformed") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspError(
            f"responder answered {response.response_status.name}", code="ocsp.unsuccessful"
        )

    signer = _find_signer(response, issuer, responder_certs_trusted)
    _check_authorised(signer, issuer, responder_certs_trusted, at, skew)
    _check_signature(signer, response)
    single = _matching_response(response, cert, issuer)
    this_update, next_update = single.this_update_utc, single.next_update_utc
    _check_fresh(this_update, next_update, at, max_age, skew)

    echoed = _nonce(response.extensions)
    if nonce is not None and echoed is not None and echoed != nonce:
        raise OcspError("response nonce differs from request nonce", code="ocsp.nonce_mismatch")

    status = _STATUS_NAMES[single.certificate_status]
    reason = single.revocation_reason if status == "revoked" else None
    return OcspStatus(
        status=status,
        revocation_time=single.revocation_time_utc if status == "revoked" else None,
        revocation_reason=reason.value if reason is not None else None,
        this_update=this_update,
        next_update=next_update,
        produced_at=response.produced_at_utc,
        nonce_verified=nonce is not None and echoed == nonce,
        responder=signer.subject.rfc4514_string(),
        response_der=der,
    )


def respond(
    request_der: bytes,
    *,
    issuer: x509.Certificate,
    responder_cert: x509.Certificate,
    responder_key: _SigningKey,
    status_lookup: StatusLookup,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
) -> bytes:
    """Answer one DER OCSP request for certificates of ``issuer`` (responder side, pure).

    Malformed requests get ``malformedRequest``; CertIDs naming another issuer get
    ``unauthorized``; the request nonce is echoed. ``responder_cert`` may be ``issuer`` itself.
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = request.hash_algorithm
        request_nonce = _nonce(request.extensions)
    except (ValueError, UnsupportedAlgorithm):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    name_hash, key_hash = _issuer_hashes(issuer, algorithm)
    if (request.issuer_name_hash, request.issuer_key_hash) != (name_hash, key_hash):
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    status, revocation_time, reason = status_lookup(request.serial_number)
    revoked = status == ocsp.OCSPCertStatus.REVOKED
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=request.serial_number,
            algorithm=algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + validity,
            revocation_time=revocation_time if revoked else None,
            revocation_reason=reason if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
    )
    if responder_cert != issuer:
        builder = builder.certificates([responder_cert])
    if request_nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(request_nonce), critical=False)
    response = builder.sign(responder_key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return response.public_bytes(serialization.Encoding.DER)


def _find_signer(
    response: ocsp.OCSPResponse,
    issuer: x509.Certificate,
    trusted: Sequence[x509.Certificate],
) -> x509.Certificate:
    key_hash = response.responder_key_hash
    name = response.responder_name
    for candidate in (issuer, *trusted, *response.certificates):
        if key_hash is not None:
            bits = _der.tbs_subject_and_key(candidate.tbs_certificate_bytes)[1]
            if _digest(hashes.SHA1(), bits) == key_hash:
                return candidate
        elif candidate.subject == name:
            return candidate
    raise OcspError("no certificate matches the responder ID", code="ocsp.unknown_responder")


def _check_authorised(
    signer: x509.Certificate,
    issuer: x509.Certificate,
    trusted: Sequence[x509.Certificate],
    at: datetime,
    skew: timedelta,
) -> None:
    if signer == issuer:
        return
    if not signer.not_valid_before_utc - skew <= at <= signer.not_valid_after_utc + skew:
        raise OcspError(
            "responder certificate is outside its validity period",
            code="ocsp.unauthorized_responder",
        )
    if signer in trusted:
        return
    try:
        signer.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise OcspError(
            "responder certificate is not issued by the certificate's CA",
            code="ocsp.unauthorized_responder",
        ) from exc
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise OcspError(
            "responder certificate lacks EKU OCSPSigning", code="ocsp.unauthorized_responder"
        )


def _check_signature(signer: x509.Certificate, response: ocsp.OCSPResponse) -> None:
    public_key = signer.public_key()
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
            public_key.verify(
                response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
            )
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        else:
            raise OcspError("unsupported responder key type", code="ocsp.bad_signature")
    except InvalidSignature as exc:
        raise OcspError("response signature is invalid", code="ocsp.bad_signature") from exc


def _matching_response(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        name_hash, key_hash = _issuer_hashes(issuer, single.hash_algorithm)
        if (single.issuer_name_hash, single.issuer_key_hash) == (name_hash, key_hash):
            return single
    raise OcspError("response is not about this certificate", code="ocsp.certid_mismatch")


def _check_fresh(
    this_update: datetime,
    next_update: datetime | None,
    at: datetime,
    max_age: timedelta,
    skew: timedelta,
) -> None:
    if this_update > at + skew:
        raise OcspError(
            f"thisUpdate {this_update.isoformat()} is in the future", code="ocsp.not_yet_valid"
        )
    if next_update is not None and at > next_update + skew:
        raise OcspError(f"nextUpdate {next_update.isoformat()} has passed", code="ocsp.stale")
    # Also bounds responses without nextUpdate, and replays of old-but-unexpired ones.
    if at - this_update > max_age + skew:
        raise OcspError(
            f"thisUpdate {this_update.isoformat()} is older than {max_age}", code="ocsp.stale"
        )


def _issuer_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    # Hash the exact signed encodings, not a re-serialisation of the parsed Name.
    subject, key_bits = _der.tbs_subject_and_key(issuer.tbs_certificate_bytes)
    return _digest(algorithm, subject), _digest(algorithm, key_bits)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _nonce(extensions: x509.Extensions) -> bytes | None:
    try:
        return extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
