"""The instance's PKI at run time: the directory layout, loading keys, checking certificates.

Issuing is dev tooling (``gateway.devtools.devca``). Layout under the PKI directory (``certs/``
by default; generated, never committed):

    ca.pem, ca.key                        instance root CA (ECDSA P-256)
    gateway/tls.pem, tls.key              gateway HTTPS certificate (localhost, 127.0.0.1)
    gateway/sign.pem, sign.key            gateway response-signing certificate
    members/<slug>/sign.pem, sign.key     a member's signing certificate
    members/<slug>/tls.pem, tls.key       a member's TLS certificate (sources served over mTLS)
    pseudonym.key                         HMAC secret for subject pseudonyms (32 random bytes)
    ledger-digest.key                     HMAC secret for the ledger's body digests (32 random
                                          bytes, distinct from the pseudonym key)
    ledger-covert.key                     HMAC secret for covert entries' subject keys (32
                                          random bytes, distinct from both others)
    gateway/checkpoint.key, .vkey         ledger checkpoint key: C2SP signed-note Ed25519 signer
                                          key and its public verifier key (docs/ledger.md)

A member certificate names its member in a SAN URI ``urn:enlace:member:INSTANCE:CLASS:CODE``;
the gateway takes the member from there, never from free-text subject fields. Key ids are the
base64url SHA-256 thumbprint of the certificate (as JOSE's ``x5t#S256``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.kernel.encoding import b64url_encode
from gateway.kernel.ids import MemberId
from gateway.kernel.ledger import checkpoint as notes

MEMBER_URI_PREFIX = "urn:enlace:member:"
UTC = dt.UTC


class CertificateProblem(Exception):
    """A certificate fails validation; ``reason`` is one of invalid, expired, not_member."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class KeyPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def keyid(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return b64url_encode(digest)


def member_of(cert: x509.Certificate) -> MemberId | None:
    """The member a certificate was issued to, from its SAN URI."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(MEMBER_URI_PREFIX):
            return MemberId.parse(uri[len(MEMBER_URI_PREFIX) :].replace(":", "/"))
    return None


def _check_signature(cert: x509.Certificate, ca_cert: x509.Certificate) -> None:
    if cert.issuer != ca_cert.subject:
        raise CertificateProblem("invalid", "certificate is not issued by the instance CA")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise CertificateProblem(
            "invalid", "certificate signature does not chain to the CA"
        ) from exc


def _check_window(cert: x509.Certificate, ca_cert: x509.Certificate, at: dt.datetime) -> None:
    for c in (cert, ca_cert):
        if not (c.not_valid_before_utc <= at <= c.not_valid_after_utc):
            raise CertificateProblem("expired", "certificate is outside its validity period")


def check_issued(cert: x509.Certificate, ca_cert: x509.Certificate, at: dt.datetime) -> None:
    """Raise CertificateProblem unless ``cert`` was signed by ``ca_cert`` and is valid at ``at``."""
    _check_signature(cert, ca_cert)
    _check_window(cert, ca_cert, at)


#: Certificates an ``IssuedChecker`` remembers as CA-signed (members' and sources' keys in use).
VERIFIED_CACHE = 4096


class IssuedChecker:
    """``check_issued`` for a hot path: a certificate's CA signature is verified once per key id.

    The signature of a certificate cannot change, so remembering that it verified is safe; the
    validity window is checked on every call because time moves. At most ``VERIFIED_CACHE`` key
    ids are remembered; past that it starts again.
    """

    def __init__(self, ca_cert: x509.Certificate) -> None:
        self.ca_cert = ca_cert
        self._verified: set[str] = set()

    def check(self, kid: str, cert: x509.Certificate, at: dt.datetime) -> None:
        if kid not in self._verified:
            _check_signature(cert, self.ca_cert)
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.clear()
            self._verified.add(kid)
        _check_window(cert, self.ca_cert, at)


# --- files -----------------------------------------------------------------------------------


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an ECDSA private key")
    return key


class LedgerSecrets(NamedTuple):
    """The instance's three ledger secrets (docs/ledger.md §1 and §12)."""

    pseudonym: bytes
    digest: bytes
    covert: bytes


@dataclass(frozen=True)
class PkiDir:
    """Paths inside a PKI directory."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def pseudonym_key(self) -> Path:
        return self.root / "pseudonym.key"

    @property
    def ledger_digest_key(self) -> Path:
        return self.root / "ledger-digest.key"

    @property
    def ledger_covert_key(self) -> Path:
        return self.root / "ledger-covert.key"

    def load_ledger_secrets(self) -> LedgerSecrets:
        """The pseudonym, ledger digest and ledger covert keys, refusing one secret used as two:
        a digest key equal to the pseudonym key would let a digest holder test CURP guesses, a
        covert key equal to either would let whoever holds that one link covert entries."""
        found = LedgerSecrets(
            self.pseudonym_key.read_bytes(),
            self.ledger_digest_key.read_bytes(),
            self.ledger_covert_key.read_bytes(),
        )
        if found.pseudonym == found.digest:
            raise ValueError("ledger-digest.key must differ from pseudonym.key")
        if found.covert in (found.pseudonym, found.digest):
            raise ValueError(
                "ledger-covert.key must differ from pseudonym.key and ledger-digest.key"
            )
        return found

    @property
    def checkpoint_key(self) -> Path:
        return self.root / "gateway" / "checkpoint.key"

    @property
    def checkpoint_vkey(self) -> Path:
        return self.root / "gateway" / "checkpoint.vkey"

    @property
    def checkpoint_last(self) -> Path:
        """The gateway's own copy of the last checkpoint it signed (docs/ledger.md §4)."""
        return self.root / "gateway" / "checkpoint.last"

    @property
    def trust_document(self) -> Path:
        """The trust document the citizen page pins its keys from (docs/trust.md)."""
        return self.root / "trust.json"

    def load_checkpoint_signer(self) -> notes.NoteSigner:
        return notes.NoteSigner.from_skey(self.checkpoint_key.read_text().strip())

    def load_checkpoint_verifier(self) -> notes.NoteVerifier:
        return notes.NoteVerifier.from_vkey(self.checkpoint_vkey.read_text().strip())

    def gateway(self, what: str) -> tuple[Path, Path]:
        return self.root / "gateway" / f"{what}.pem", self.root / "gateway" / f"{what}.key"

    def member(self, member: MemberId, what: str = "sign") -> tuple[Path, Path]:
        folder = self.root / "members" / member.slug
        return folder / f"{what}.pem", folder / f"{what}.key"

    def load_ca(self) -> KeyPair:
        return KeyPair(load_cert(self.ca_cert), load_key(self.ca_key))

    def load_pair(self, paths: tuple[Path, Path]) -> KeyPair:
        return KeyPair(load_cert(paths[0]), load_key(paths[1]))

    def exists(self) -> bool:
        return self.ca_cert.exists() and self.ca_key.exists()
