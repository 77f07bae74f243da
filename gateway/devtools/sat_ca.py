"""SAT-like development PKI for synthetic citizens (domain.md §C.5).

Owns: a dev root CA (RSA-3072) → issuing CA "AC DE PRUEBAS DEL GATEWAY" (O/OU/x500UniqueIdentifier
shaped like SAT's) → delegated OCSP responder (EKU OCSPSigning + OCSPNoCheck); issuance of e.firma
(persona física and moral) and CSD certificates with SAT's subject layout, string types, extensions
and 20-digit ASCII serials; export of private keys in SAT's exact ``.key`` format (PKCS#8
EncryptedPrivateKeyInfo, PBES2 / PBKDF2-HMAC-SHA1 2048 iterations / des-ede3-cbc); and saving or
loading the CA material as PEM files.

Dev/test only: CA keys are stored unencrypted (mode 0600). Nothing here talks to the network.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gateway.kernel.efirma import der as _der

SAT_ORGANIZATION = "SERVICIO DE ADMINISTRACION TRIBUTARIA"
SAT_RFC = "SAT970701NN3"
ROOT_CN = "AC RAIZ DE PRUEBAS DEL GATEWAY"
ISSUING_CN = "AC DE PRUEBAS DEL GATEWAY"
OCSP_CN = "OCSP AC DE PRUEBAS DEL GATEWAY"

NAME_OID = ObjectIdentifier("2.5.4.41")  # `name`: cryptography has no NameOID constant for it
NETSCAPE_CERT_TYPE_OID = ObjectIdentifier("2.16.840.1.113730.1.1")
# BIT STRING {sslClient, smime}: the exact bytes found in SAT's e.firma certificates.
NETSCAPE_SSL_CLIENT_SMIME = b"\x03\x02\x05\xa0"

SAT_KEY_ITERATIONS = 2048
_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_DES_EDE3_CBC = "1.2.840.113549.3.7"

_PRINTABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")

_ROOT_KEY_BITS = 3072
_CA_KEY_BITS = 3072
_LEAF_KEY_BITS = 2048


@dataclass(frozen=True, slots=True)
class Issued:
    """A freshly issued certificate and its private key."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class DevCA:
    """Dev root, issuing CA and delegated OCSP responder, with their keys."""

    root_cert: x509.Certificate
    root_key: rsa.RSAPrivateKey
    ca_cert: x509.Certificate
    ca_key: rsa.RSAPrivateKey
    ocsp_cert: x509.Certificate
    ocsp_key: rsa.RSAPrivateKey

    _FILES = ("root", "ca", "ocsp")

    def save(self, directory: Path | str) -> None:
        """Write ``<name>.pem`` and ``<name>.key.pem`` (unencrypted, mode 0600) per entity."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        pairs = zip(
            self._FILES,
            (
                (self.root_cert, self.root_key),
                (self.ca_cert, self.ca_key),
                (self.ocsp_cert, self.ocsp_key),
            ),
            strict=True,
        )
        for stem, (cert, key) in pairs:
            (path / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(path / f"{stem}.key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                # os.open's mode is ignored for a pre-existing file, so enforce it.
                os.fchmod(fh.fileno(), 0o600)
                fh.write(pem)

    @classmethod
    def load(cls, directory: Path | str) -> DevCA:
        path = Path(directory)
        loaded: list[x509.Certificate | rsa.RSAPrivateKey] = []
        for stem in cls._FILES:
            loaded.append(x509.load_pem_x509_certificate((path / f"{stem}.pem").read_bytes()))
            key = serialization.load_pem_private_key(
                (path / f"{stem}.key.pem").read_bytes(), password=None
            )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{stem}.key.pem is not an RSA key")
            loaded.append(key)
        return cls(*loaded)  # type: ignore[arg-type]


class KeyPool:
    """Round-robin pool of RSA-2048 keys for bulk synthetic issuance.

    RSA key generation costs ~50-100 ms, so issuing thousands of synthetic citizens with fresh
    keys is slow. Keys from a pool are shared between citizens: fine for load tests, never for
    anything where one citizen's signature must not verify under another's certificate.
    """

    def __init__(self, size: int, *, key_size: int = _LEAF_KEY_BITS) -> None:
        if size < 1:
            raise ValueError("pool size must be >= 1")
        self._keys = tuple(new_rsa_key(key_size) for _ in range(size))
        self._cycle: Iterator[rsa.RSAPrivateKey] = itertools.cycle(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def take(self) -> rsa.RSAPrivateKey:
        return next(self._cycle)


def new_rsa_key(bits: int = _LEAF_KEY_BITS) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def create_dev_ca(
    *,
    not_before: datetime,
    root_key: rsa.RSAPrivateKey | None = None,
    ca_key: rsa.RSAPrivateKey | None = None,
    ocsp_key: rsa.RSAPrivateKey | None = None,
    root_validity: timedelta = timedelta(days=25 * 365),
    ca_validity: timedelta = timedelta(days=15 * 365),
    ocsp_validity: timedelta = timedelta(days=5 * 365),
) -> DevCA:
    """Create root → issuing CA → OCSP responder, all valid from ``not_before``."""
    root_key = root_key or new_rsa_key(_ROOT_KEY_BITS)
    ca_key = ca_key or new_rsa_key(_CA_KEY_BITS)
    ocsp_key = ocsp_key or new_rsa_key(_LEAF_KEY_BITS)

    root_name = x509.Name(
        [
            _attr(NameOID.COMMON_NAME, ROOT_CN),
            _attr(NameOID.ORGANIZATION_NAME, SAT_ORGANIZATION),
            _attr(NameOID.COUNTRY_NAME, "MX"),
        ]
    )
    root_cert = (
        _builder(root_name, root_name, root_key, 1, not_before, not_before + root_validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(root_key), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    ca_name = _sat_ca_name(ISSUING_CN)
    ca_cert = (
        _builder(ca_name, root_name, ca_key, 2, not_before, not_before + ca_validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(ca_key), critical=False)
        .add_extension(_aki(root_key), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    ocsp_cert = (
        _builder(
            _sat_ca_name(OCSP_CN), ca_name, ocsp_key, 3, not_before, not_before + ocsp_validity
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(_ski(ocsp_key), critical=False)
        .add_extension(_aki(ca_key), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return DevCA(root_cert, root_key, ca_cert, ca_key, ocsp_cert, ocsp_key)


def issue_efirma(
    ca: DevCA,
    *,
    rfc: str,
    curp: str,
    name: str,
    email: str,
    serial20: str,
    not_before: datetime,
    not_after: datetime,
    key: rsa.RSAPrivateKey | None = None,
) -> Issued:
    """Issue a persona física e.firma: x500UID=RFC, serialNumber=CURP, email, no OU."""
    subject = _efirma_subject(name=name, email=email, unique_id=rfc, serial_number=curp)
    return _issue_efirma(ca, subject, serial20, not_before, not_after, key)


def issue_efirma_moral(
    ca: DevCA,
    *,
    rfc: str,
    name: str,
    email: str,
    representative_rfc: str,
    representative_curp: str,
    serial20: str,
    not_before: datetime,
    not_after: datetime,
    key: rsa.RSAPrivateKey | None = None,
) -> Issued:
    """Issue a persona moral e.firma: x500UID="RFC / RFC_REP", serialNumber=" / CURP_REP"."""
    subject = _efirma_subject(
        name=name,
        email=email,
        unique_id=f"{rfc} / {representative_rfc}",
        serial_number=f" / {representative_curp}",
    )
    return _issue_efirma(ca, subject, serial20, not_before, not_after, key)


def issue_csd(
    ca: DevCA,
    *,
    rfc: str,
    name: str,
    branch: str,
    serial20: str,
    not_before: datetime,
    not_after: datetime,
    curp: str | None = None,
    representative_rfc: str | None = None,
    representative_curp: str | None = None,
    key: rsa.RSAPrivateKey | None = None,
) -> Issued:
    """Issue a CSD (invoice-sealing cert): OU=branch, no email, KU only, no EKU.

    Persona física passes ``curp``; persona moral passes the representative's RFC and CURP.
    """
    if representative_rfc is not None:
        unique_id = f"{rfc} / {representative_rfc}"
        serial_number = f" / {representative_curp or ''}"
    elif curp is not None:
        unique_id, serial_number = rfc, curp
    else:
        raise ValueError("a CSD needs curp (persona física) or representative_rfc (moral)")
    subject = x509.Name(
        [
            _attr(NameOID.COMMON_NAME, name),
            _attr(NAME_OID, name),
            _attr(NameOID.ORGANIZATION_NAME, name),
            _attr(NameOID.X500_UNIQUE_IDENTIFIER, unique_id),
            _attr(NameOID.SERIAL_NUMBER, serial_number),
            _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, branch),
        ]
    )
    key = key or new_rsa_key()
    cert = (
        _leaf_builder(ca, subject, key, serial20, not_before, not_after)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=False)
        .sign(ca.ca_key, hashes.SHA256())
    )
    return Issued(cert, key)


def export_key_sat(
    key: rsa.RSAPrivateKey,
    password: bytes,
    *,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> bytes:
    """Encrypt ``key`` into SAT's ``.key`` format (DER EncryptedPrivateKeyInfo).

    PBES2 with PBKDF2 (8-byte salt, 2048 iterations, default PRF HMAC-SHA1, no keyLength field)
    and des-ede3-cbc, the exact AlgorithmIdentifier layout of SAT-issued keys. cryptography's
    PKCS#8 serializer cannot choose 3DES, hence the hand-built DER. ``salt``/``iv`` default to
    random bytes; they are parameters only so tests can reproduce a SAT file byte for byte.
    """
    salt = os.urandom(8) if salt is None else salt
    iv = os.urandom(8) if iv is None else iv
    if len(salt) != 8 or len(iv) != 8:
        raise ValueError("SAT keys use an 8-byte salt and an 8-byte IV")
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kek = PBKDF2HMAC(
        algorithm=hashes.SHA1(), length=24, salt=salt, iterations=SAT_KEY_ITERATIONS
    ).derive(password)
    padder = padding.PKCS7(64).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(TripleDES(kek), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    algorithm = _der.sequence(
        _der.oid(_OID_PBES2),
        _der.sequence(
            _der.sequence(
                _der.oid(_OID_PBKDF2),
                _der.sequence(_der.octet_string(salt), _der.integer(SAT_KEY_ITERATIONS)),
            ),
            _der.sequence(_der.oid(_OID_DES_EDE3_CBC), _der.octet_string(iv)),
        ),
    )
    return _der.sequence(algorithm, _der.octet_string(encrypted))


def sat_serial(serial20: str) -> int:
    """SAT's "No. de certificado" (20 digits) as the X.509 serial: its ASCII bytes, big-endian."""
    if len(serial20) != 20 or not serial20.isascii() or not serial20.isdigit():
        raise ValueError("serial20 must be exactly 20 ASCII digits")
    return int.from_bytes(serial20.encode("ascii"), "big")


def _issue_efirma(
    ca: DevCA,
    subject: x509.Name,
    serial20: str,
    not_before: datetime,
    not_after: datetime,
    key: rsa.RSAPrivateKey | None,
) -> Issued:
    key = key or new_rsa_key()
    cert = (
        _leaf_builder(ca, subject, key, serial20, not_before, not_after)
        .add_extension(
            _key_usage(
                digital_signature=True,
                content_commitment=True,
                data_encipherment=True,
                key_agreement=True,
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE_OID, NETSCAPE_SSL_CLIENT_SMIME),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca.ca_key, hashes.SHA256())
    )
    return Issued(cert, key)


def _efirma_subject(*, name: str, email: str, unique_id: str, serial_number: str) -> x509.Name:
    # Attribute order copied from SAT's e.firma certificates.
    return x509.Name(
        [
            _attr(NameOID.COMMON_NAME, name),
            _attr(NAME_OID, name),
            _attr(NameOID.ORGANIZATION_NAME, name),
            _attr(NameOID.COUNTRY_NAME, "MX"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, email),  # IA5String, as SAT
            _attr(NameOID.X500_UNIQUE_IDENTIFIER, unique_id),
            _attr(NameOID.SERIAL_NUMBER, serial_number),
        ]
    )


def _leaf_builder(
    ca: DevCA,
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    serial20: str,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    # SAT leaves carry no SKI/AKI/AIA/CRL DP; only BasicConstraints + usages.
    return _builder(
        subject, ca.ca_cert.subject, key, sat_serial(serial20), not_before, not_after
    ).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: rsa.RSAPrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _sat_ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            _attr(NameOID.COMMON_NAME, common_name),
            _attr(NameOID.ORGANIZATION_NAME, SAT_ORGANIZATION),
            _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "SAT-IES Authority"),
            _attr(NameOID.COUNTRY_NAME, "MX"),
            _attr(NameOID.X500_UNIQUE_IDENTIFIER, SAT_RFC),
        ]
    )


def _attr(oid: ObjectIdentifier, value: str) -> x509.NameAttribute:
    # SAT encodes subject strings as PrintableString; names with Ñ or & cannot be, so use UTF-8.
    kind = _ASN1Type.PrintableString if set(value) <= _PRINTABLE else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, _type=kind)


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    data_encipherment: bool = False,
    key_agreement: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=data_encipherment,
        key_agreement=key_agreement,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _ski(key: rsa.RSAPrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _aki(issuer_key: rsa.RSAPrivateKey) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
