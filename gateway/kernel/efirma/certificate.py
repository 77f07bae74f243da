"""SAT e.firma (FIEL) certificates: parsing, validation, signature checks and ``.key`` loading.

Owns the SAT certificate profile of domain.md §C.1/§C.2: reading RFC, CURP, legal name,
representative (persona moral), branch (OU) and the 20-digit ASCII "No. de certificado" from a
certificate; telling an e.firma from a CSD; checking a certificate against configured SAT CAs at a
given instant; verifying PKCS#1 v1.5 SHA-256 signatures; and opening SAT ``.key`` files.

Pure: no network or file I/O, time is always a parameter. Revocation is not checked here (see
``gateway.kernel.efirma.ocsp``).

Error model: inputs that cannot be processed at all (bad certificate bytes, bad ``.key``, wrong
password) raise an ``EfirmaError`` subclass. ``validate_certificate`` evaluates a policy and
returns a ``ValidationResult`` listing *every* failure, because the audit trail should say "CSD
and expired", not only the first problem; ``ValidationResult.raise_for_failure()`` turns it into
an exception. Both use the same stable ``efirma.*`` codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gateway.kernel.efirma import der as _der
from gateway.kernel.efirma.errors import SatError

NAME_OID = ObjectIdentifier("2.5.4.41")  # `name`; cryptography has no NameOID constant for it
_OID_PBES2 = "1.2.840.113549.1.5.13"

# RFC: 3 letters (moral) or 4 (física), YYMMDD, 3-char homoclave. SAT uses Ñ and & in RFCs.
_RFC_RE = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}$")
_RFC_LEN_MORAL = 12
# Longest path the direct-chaining fallback builds: leaf → issuing CA → intermediate → root.
_MAX_CHAIN = 4

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)

Kind = Literal["efirma", "csd", "unknown"]
Persona = Literal["fisica", "moral"]


class EfirmaError(SatError):
    """Base of every error raised by this module."""

    code = "efirma.error"


class CertificateFormatError(EfirmaError):
    """Not an X.509 certificate, or not one with SAT's subject layout."""

    code = "efirma.malformed"


class KeyFormatError(EfirmaError):
    """The ``.key`` bytes are not a PKCS#8 EncryptedPrivateKeyInfo holding an RSA key."""

    code = "efirma.malformed_key"


class BadPasswordError(EfirmaError):
    """The ``.key`` is well-formed but the password does not decrypt it."""

    code = "efirma.bad_password"


class UnsupportedKeyError(EfirmaError):
    """The certificate's public key is not RSA (SAT only issues RSA)."""

    code = "efirma.unsupported_key"


class EfirmaValidationError(EfirmaError):
    """Raised by ``ValidationResult.raise_for_failure``; ``failures`` holds every problem."""

    def __init__(self, failures: tuple[Failure, ...]) -> None:
        super().__init__("; ".join(f.message for f in failures), code=failures[0].code)
        self.failures = failures


@dataclass(frozen=True, slots=True)
class IssuerSummary:
    common_name: str | None
    organization: str | None
    organizational_unit: str | None
    unique_identifier: str | None  # SAT puts its RFC (SAT970701NN3) here, or junk in test CAs
    rfc4514: str


@dataclass(frozen=True, slots=True)
class SatCertificate:
    """A SAT certificate with the fields the gateway uses, plus the parsed X.509 object."""

    serial_ascii: str | None  # "No. de certificado"; None unless the serial is 20 ASCII digits
    kind: Kind
    persona: Persona
    rfc: str
    curp: str | None  # None for persona moral
    name: str
    representative_rfc: str | None
    representative_curp: str | None
    email: str | None
    branch: str | None  # OU: only CSDs carry it
    not_before: datetime
    not_after: datetime
    issuer: IssuerSummary
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ValidationResult:
    certificate: SatCertificate
    at: datetime
    failures: tuple[Failure, ...]
    chain: tuple[x509.Certificate, ...]  # leaf → trust anchor, empty when no path was found
    chain_method: Literal["webpki", "direct"] | None  # which path check accepted the chain

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.failures)

    def raise_for_failure(self) -> None:
        if self.failures:
            raise EfirmaValidationError(self.failures)


def parse_certificate(data: bytes) -> SatCertificate:
    """Parse a SAT ``.cer`` (DER) or PEM certificate and extract the SAT subject fields."""
    cert = _load_x509(data)
    subject = cert.subject
    unique_id = _first(subject, NameOID.X500_UNIQUE_IDENTIFIER)
    if not unique_id:
        raise CertificateFormatError(
            "certificate has no x500UniqueIdentifier (RFC): not a SAT certificate",
            code="efirma.missing_rfc",
        )
    # Persona moral: "RFC_MORAL / RFC_REPRESENTANTE"; persona física: "RFC".
    rfc, representative_rfc = _split_pair(unique_id)
    if rfc is None or not _RFC_RE.match(rfc):
        raise CertificateFormatError(f"malformed RFC {rfc!r}", code="efirma.bad_rfc")
    if representative_rfc is not None and not _RFC_RE.match(representative_rfc):
        raise CertificateFormatError(
            f"malformed representative RFC {representative_rfc!r}", code="efirma.bad_rfc"
        )
    persona: Persona = "moral" if len(rfc) == _RFC_LEN_MORAL else "fisica"
    # serialNumber: física "CURP"; moral " / CURP_REPRESENTANTE" (empty left side).
    curp, representative_curp = _split_pair(_first(subject, NameOID.SERIAL_NUMBER) or "")
    if persona == "moral":
        curp = None

    name = _first(subject, NAME_OID) or _first(subject, NameOID.COMMON_NAME)
    if not name:
        raise CertificateFormatError("certificate has no name or CN", code="efirma.missing_name")

    issuer = cert.issuer
    return SatCertificate(
        serial_ascii=_serial_ascii(cert.serial_number),
        kind=_kind(cert),
        persona=persona,
        rfc=rfc,
        curp=curp,
        name=name,
        representative_rfc=representative_rfc,
        representative_curp=representative_curp,
        email=_first(subject, NameOID.EMAIL_ADDRESS),
        branch=_first(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issuer=IssuerSummary(
            common_name=_first(issuer, NameOID.COMMON_NAME),
            organization=_first(issuer, NameOID.ORGANIZATION_NAME),
            organizational_unit=_first(issuer, NameOID.ORGANIZATIONAL_UNIT_NAME),
            unique_identifier=_first(issuer, NameOID.X500_UNIQUE_IDENTIFIER),
            rfc4514=issuer.rfc4514_string(),
        ),
        certificate=cert,
    )


def validate_certificate(
    cert: SatCertificate,
    *,
    trust_roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    at: datetime,
    require_efirma: bool = True,
) -> ValidationResult:
    """Check kind, validity window at ``at``, key usage and a chain to a configured SAT CA.

    ``trust_roots`` are the anchors (SAT's root or issuing CA certificates); ``intermediates``
    may help build the path. Revocation is the caller's next step (OCSP).
    """
    at = _aware(at)
    leaf = cert.certificate
    failures: list[Failure] = []

    if require_efirma and cert.kind == "csd":
        failures.append(
            Failure("efirma.is_csd", "certificate is a CSD (invoice seal), not an e.firma")
        )
    elif require_efirma and cert.kind == "unknown":
        failures.append(
            Failure("efirma.not_efirma", "certificate lacks the e.firma key/extended key usages")
        )

    if at < cert.not_before:
        failures.append(
            Failure("efirma.not_yet_valid", f"valid from {cert.not_before.isoformat()}")
        )
    elif at > cert.not_after:
        failures.append(Failure("efirma.expired", f"expired at {cert.not_after.isoformat()}"))

    basic = _extension(leaf, x509.BasicConstraints)
    if basic is not None and basic.ca:
        failures.append(Failure("efirma.is_ca", "certificate is a CA certificate"))

    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not (usage.digital_signature and usage.content_commitment):
        failures.append(
            Failure(
                "efirma.bad_key_usage", "key usage must allow digitalSignature and nonRepudiation"
            )
        )

    # The leaf's own window is reported above; building the path at a time inside that window
    # keeps an expired certificate from also being reported as having an unknown issuer.
    path_time = min(max(at, cert.not_before), cert.not_after)
    chain, method = _build_chain(leaf, trust_roots, intermediates, path_time)
    if not chain:
        failures.append(Failure("efirma.unknown_issuer", "no valid chain to a configured SAT CA"))

    return ValidationResult(
        certificate=cert,
        at=at,
        failures=tuple(failures),
        chain=chain,
        chain_method=method,
    )


def verify_signature(
    cert: SatCertificate | x509.Certificate, signature: bytes, data: bytes
) -> bool:
    """True iff ``signature`` is a PKCS#1 v1.5 SHA-256 signature of ``data`` by ``cert``'s key.

    SHA-1 is deliberately not accepted: SAT's own e.firma tools sign with SHA-256 and the gateway
    defines what citizens sign, so there is no legacy input to support.
    """
    x509_cert = cert.certificate if isinstance(cert, SatCertificate) else cert
    public_key = x509_cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedKeyError("certificate key is not RSA")
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def load_key(key_der: bytes, password: bytes) -> rsa.RSAPrivateKey:
    """Open a SAT ``.key`` (DER PKCS#8 EncryptedPrivateKeyInfo, PBES2/3DES) with its password."""
    # Check the outer structure first: cryptography reports a wrong password and garbage input
    # with the same ValueError, and the caller must be able to tell them apart.
    try:
        outer = _der.children(_der.read_exact(key_der, _der.SEQUENCE).value)
        algorithm = _der.children(outer[0].value)
        well_formed = (
            len(outer) == 2
            and outer[1].tag == _der.OCTET_STRING
            and algorithm[0].tag == _der.OBJECT_IDENTIFIER
        )
        scheme = _der.decode_oid(algorithm[0].value) if well_formed else ""
    except (_der.DerError, IndexError) as exc:
        raise KeyFormatError("not a DER EncryptedPrivateKeyInfo") from exc
    if not well_formed:
        raise KeyFormatError("not a DER EncryptedPrivateKeyInfo")
    if scheme != _OID_PBES2:
        raise KeyFormatError(f"unsupported key encryption scheme {scheme}")
    try:
        key = serialization.load_der_private_key(key_der, password=password)
    except ValueError as exc:
        raise BadPasswordError("wrong password for the private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("private key is not RSA")
    return key


def key_matches(cert: SatCertificate | x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    """True iff ``key`` is the private half of ``cert``'s public key."""
    x509_cert = cert.certificate if isinstance(cert, SatCertificate) else cert
    public_key = x509_cert.public_key()
    return (
        isinstance(public_key, rsa.RSAPublicKey)
        and public_key.public_numbers() == key.public_key().public_numbers()
    )


def _load_x509(data: bytes) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
        # Parsed lazily by cryptography: a repeated or malformed extension raises here, not
        # midway through a check.
        cert.extensions  # noqa: B018
    except (ValueError, x509.DuplicateExtension) as exc:
        raise CertificateFormatError(f"not an X.509 certificate: {exc}") from exc
    try:
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateFormatError(
            "certificate key is of no known kind", code="efirma.unsupported_key"
        ) from exc
    return cert


def _kind(cert: x509.Certificate) -> Kind:
    # Only CSDs carry an OU (the branch); the e.firma has EKU clientAuth/emailProtection and
    # nonRepudiation. A cert with neither OU nor EKU is a CSD as issued by older SAT CAs.
    if _first(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) is not None:
        return "csd"
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is None:
        return "csd"
    usage = _extension(cert, x509.KeyUsage)
    client_or_email = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION}
    if client_or_email & set(eku) and usage is not None and usage.content_commitment:
        return "efirma"
    return "unknown"


def _build_chain(
    leaf: x509.Certificate,
    trust_roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    at: datetime,
) -> tuple[tuple[x509.Certificate, ...], Literal["webpki", "direct"] | None]:
    if not trust_roots:
        return (), None
    # cryptography's web-PKI verifier, with the end-entity policy relaxed: SAT leaves have no
    # SAN/AKI and would fail the web-PKI EE profile (domain.md §C.5).
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(trust_roots)))
        .time(at)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, list(intermediates))
        return tuple(verified.chain), "webpki"
    except verification.VerificationError:
        pass
    # Fallback for CA certificates the web-PKI CA profile rejects (e.g. BasicConstraints not
    # critical, SHA-1 signatures): signature + name chaining with explicit CA checks.
    direct = _direct_chain(leaf, trust_roots, intermediates, at)
    return (direct, "direct") if direct else ((), None)


def _direct_chain(
    leaf: x509.Certificate,
    trust_roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    at: datetime,
) -> tuple[x509.Certificate, ...]:
    chain = [leaf]
    pool = [*trust_roots, *intermediates]
    while len(chain) < _MAX_CHAIN:
        current = chain[-1]
        issuer = next(
            (c for c in pool if c not in chain and _issued_by(current, c, at)),
            None,
        )
        if issuer is None:
            return ()
        chain.append(issuer)
        if issuer in trust_roots:
            return tuple(chain)
    return ()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate, at: datetime) -> bool:
    basic = _extension(issuer, x509.BasicConstraints)
    usage = _extension(issuer, x509.KeyUsage)
    if basic is None or not basic.ca or (usage is not None and not usage.key_cert_sign):
        return False
    if not issuer.not_valid_before_utc <= at <= issuer.not_valid_after_utc:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _first(name: x509.Name, oid: ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("latin-1")


def _split_pair(value: str) -> tuple[str | None, str | None]:
    """Split SAT's "LEFT / RIGHT" attribute layout; blank sides become None."""
    left, sep, right = value.partition("/")
    left_s, right_s = left.strip() or None, right.strip() or None
    return (left_s, right_s) if sep else (left_s, None)


def _serial_ascii(serial: int) -> str | None:
    # Exactly 20 digits: small serials such as 12345 (0x3039) also happen to read as digits.
    raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
    return raw.decode("ascii") if len(raw) == 20 and raw.isascii() and raw.isdigit() else None


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    return at.astimezone(UTC)
