"""The development PKI: an instance root CA, member signing and TLS certificates, key files.

``enlace pki init`` and ``enlace pki issue`` (and the demo) create the layout that
``gateway.kernel.pki.PkiDir`` describes; a production instance gets the same files from its
own CA. Never loaded by ``enlace serve``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.kernel.ids import MemberId
from gateway.kernel.ledger import checkpoint as notes
from gateway.kernel.pki import MEMBER_URI_PREFIX, UTC, KeyPair, PkiDir


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before, not_after):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_ca(instance: str, *, now: dt.datetime | None = None, years: int = 10) -> KeyPair:
    now = now or dt.datetime.now(UTC)
    key = new_key()
    name = _name(f"Enlace {instance} Root CA", f"Enlace instance {instance}")
    cert = (
        _builder(
            name,
            name,
            key.public_key(),
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=365 * years),
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def _issue(
    ca: KeyPair, subject: x509.Name, key, not_before, not_after, extensions
) -> x509.Certificate:
    builder = _builder(subject, ca.cert.subject, key.public_key(), not_before, not_after)
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(ca.key, hashes.SHA256())


def _window(now, not_before, not_after, days):
    now = now or dt.datetime.now(UTC)
    return (not_before or now - dt.timedelta(minutes=5), not_after or now + dt.timedelta(days=days))


def issue_signing_cert(
    ca: KeyPair,
    member: MemberId,
    *,
    name: str | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    now: dt.datetime | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> KeyPair:
    """A member's message-signing certificate (digitalSignature + nonRepudiation)."""
    key = key or new_key()
    start, end = _window(now, not_before, not_after, 2 * 365)
    uri = MEMBER_URI_PREFIX + str(member).replace("/", ":")
    cert = _issue(
        ca,
        _name(str(member), name),
        key,
        start,
        end,
        [
            (x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), False),
            (x509.KeyUsage(True, True, False, False, False, False, False, False, False), True),
        ],
    )
    return KeyPair(cert, key)


def issue_tls_cert(
    ca: KeyPair,
    common_name: str,
    hosts: list[str],
    *,
    member: MemberId | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    now: dt.datetime | None = None,
) -> KeyPair:
    """A TLS certificate usable as server and as client (mutual TLS towards sources)."""
    key = key or new_key()
    start, end = _window(now, None, None, 365)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if member is not None:
        names.append(
            x509.UniformResourceIdentifier(MEMBER_URI_PREFIX + str(member).replace("/", ":"))
        )
    cert = _issue(
        ca,
        _name(common_name),
        key,
        start,
        end,
        [
            (x509.SubjectAlternativeName(names), False),
            (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
            (
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                False,
            ),
        ],
    )
    return KeyPair(cert, key)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_pair(pair: KeyPair, cert_path: Path, key_path: Path) -> None:
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(pair.cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = pair.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, key_bytes)


def ledger_origin(instance: str, host: str) -> str:
    """The ledger's C2SP origin and checkpoint key name: ``<host>/enlace/<INSTANCE>/ledger``."""
    return f"{host}/enlace/{instance}/ledger"


def _write_checkpoint_key(pki: PkiDir, origin: str) -> None:
    skey, vkey = notes.generate_key(origin)
    _write_private(pki.checkpoint_key, (skey + "\n").encode())
    pki.checkpoint_vkey.write_text(vkey + "\n")


def init_pki(
    root: Path, instance: str, *, hosts: list[str], force: bool = False
) -> tuple[PkiDir, bool]:
    """Create CA, gateway certificates, pseudonym, ledger digest and checkpoint keys; keep
    existing material unless forced (a PKI made before a key existed only gets that key).

    Returns the directory and whether anything new was created.
    """
    pki = PkiDir(root)
    origin = ledger_origin(instance, hosts[0])
    if pki.exists() and not force:
        return pki, _add_missing_keys(pki, origin)
    ca = create_ca(instance)
    write_pair(ca, pki.ca_cert, pki.ca_key)
    gw = MemberId(instance, "ENLACE", "gateway")
    # The member URI lets remote sources admit the gateway, and only it, as their TLS client.
    write_pair(issue_tls_cert(ca, hosts[0], hosts, member=gw), *pki.gateway("tls"))
    write_pair(issue_signing_cert(ca, gw, name="Enlace gateway"), *pki.gateway("sign"))
    _write_private(pki.pseudonym_key, secrets.token_bytes(32))
    _write_private(pki.ledger_digest_key, secrets.token_bytes(32))
    _write_private(pki.ledger_covert_key, secrets.token_bytes(32))
    _write_checkpoint_key(pki, origin)
    return pki, True


def _add_missing_keys(pki: PkiDir, origin: str) -> bool:
    """Give an existing PKI the keys added since it was made; whether any was missing."""
    created = False
    for secret in (pki.ledger_digest_key, pki.ledger_covert_key):
        if not secret.exists():
            _write_private(secret, secrets.token_bytes(32))
            created = True
    if not pki.checkpoint_key.exists():
        _write_checkpoint_key(pki, origin)
        created = True
    return created


def ensure_member(
    pki: PkiDir, member: MemberId, *, name: str | None = None, tls_hosts: list[str] | None = None
) -> KeyPair:
    """Issue a member's signing certificate and, given hosts, its TLS certificate; each one
    only if it does not exist yet."""
    paths = pki.member(member)
    ca = pki.load_ca()
    if paths[0].exists():
        pair = pki.load_pair(paths)
    else:
        pair = issue_signing_cert(ca, member, name=name)
        write_pair(pair, *paths)
    tls = pki.member(member, "tls")
    if tls_hosts and not tls[0].exists():
        write_pair(issue_tls_cert(ca, str(member), tls_hosts, member=member), *tls)
    return pair
