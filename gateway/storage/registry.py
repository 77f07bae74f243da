"""The registry: members, subsystems, certificates, trusted sources, services and grants, and
the purposes and legal bases grants may name (with the titles a citizen reads).

Every change goes through one function here that, in a single transaction, applies the change,
bumps the registry version (running gateways reload when it moves) and appends an ``admin``
record to the audit ledger; if the ledger append fails, the change is rolled back.
The gateway reads an immutable ``Snapshot`` of the whole registry.
"""

from __future__ import annotations

import datetime as dt
import getpass
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Connection

from gateway.kernel import acl, pki, schemas
from gateway.kernel.errors import CodedError
from gateway.kernel.ids import ClientId, MemberId, ServiceId
from gateway.kernel.ledger import record
from gateway.kernel.settings import Settings
from gateway.storage.db import (
    Database,
    certificates,
    client_limits,
    grants,
    members,
    registry_state,
    services,
    sources,
    subsystems,
)
from gateway.storage.db import legal_bases as legal_basis_table
from gateway.storage.db import purposes as purpose_table
from gateway.storage.ledger import sequencer


class RegistryError(CodedError):
    """A registry change cannot be made; ``code`` is stable, the message says why."""


@dataclass(frozen=True)
class CertEntry:
    keyid: str
    member: MemberId
    cert: x509.Certificate
    revoked: bool


@dataclass(frozen=True)
class SourceEntry:
    code: str
    provider: ClientId
    adapter: str | None
    url: str | None
    tls_cert_pem: str | None
    options: dict[str, Any]


@dataclass(frozen=True)
class ServiceEntry:
    service: ServiceId
    source: str
    operation: str
    description: str
    methods: frozenset[str]


@dataclass(frozen=True)
class Title:
    """What a citizen reads for a purpose or legal basis code (a law: its article and text)."""

    code: str
    title: str
    url: str | None = None


@dataclass(frozen=True)
class ClientLimit:
    """A client's own limits; ``None`` leaves that one at the gateway's default."""

    rate: float | None = None  # requests a second, regained
    burst: int | None = None  # requests at once above the rate
    concurrency: int | None = None  # requests in flight at once


@dataclass(frozen=True)
class Snapshot:
    version: int
    members: dict[str, str] = field(default_factory=dict)
    subsystems: frozenset[str] = frozenset()
    certs: dict[str, CertEntry] = field(default_factory=dict)
    sources: dict[str, SourceEntry] = field(default_factory=dict)
    services: dict[str, ServiceEntry] = field(default_factory=dict)
    grants: dict[tuple[str, str], acl.Grant] = field(default_factory=dict)
    purposes: dict[str, Title] = field(default_factory=dict)
    legal_bases: dict[str, Title] = field(default_factory=dict)
    contacts: dict[str, str] = field(default_factory=dict)  # member -> contact route
    limits: dict[str, ClientLimit] = field(default_factory=dict)  # client -> its own limits


def version(conn: Connection) -> int:
    return conn.execute(
        sa.select(registry_state.c.version).where(registry_state.c.id == 1)
    ).scalar_one()


def load(conn: Connection) -> Snapshot:
    certs = {
        row.keyid: CertEntry(
            row.keyid,
            MemberId.parse(row.member_id),
            x509.load_pem_x509_certificate(row.pem.encode()),
            row.revoked_at is not None,
        )
        for row in conn.execute(sa.select(certificates))
    }
    return Snapshot(
        version=version(conn),
        members={r.member_id: r.name for r in conn.execute(sa.select(members))},
        subsystems=frozenset(r.client_id for r in conn.execute(sa.select(subsystems))),
        certs=certs,
        sources={
            r.code: SourceEntry(
                r.code,
                ClientId.parse(r.provider),
                r.adapter,
                r.url,
                r.tls_cert_pem,
                dict(r.options),
            )
            for r in conn.execute(sa.select(sources))
        },
        services={
            r.service_id: ServiceEntry(
                ServiceId.parse(r.service_id),
                r.source,
                r.operation,
                r.description,
                frozenset(r.methods.split(",")),
            )
            for r in conn.execute(sa.select(services))
        },
        grants={
            (r.client, r.service): acl.Grant(
                r.client, r.service, frozenset(r.purposes), frozenset(r.legal_bases), r.hidden_until
            )
            for r in conn.execute(sa.select(grants).where(grants.c.revoked_at.is_(None)))
        },
        purposes={r.code: Title(r.code, r.title) for r in conn.execute(sa.select(purpose_table))},
        legal_bases={
            r.code: Title(r.code, r.title, r.url)
            for r in conn.execute(sa.select(legal_basis_table))
        },
        contacts={
            r.member_id: r.contact
            for r in conn.execute(sa.select(members).where(members.c.contact.is_not(None)))
        },
        limits={
            r.client_id: ClientLimit(r.rate, r.burst, r.concurrency)
            for r in conn.execute(sa.select(client_limits))
        },
    )


def actor() -> str:
    """Who is making an administrative change: ENLACE_ACTOR, or the operating-system user."""
    return Settings.from_env().actor or f"os:{getpass.getuser()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: The member classes of an Enlace instance (X-Road's global configuration lists its own): GOB
#: government bodies, COM companies, ORG non-profit organisations.
MEMBER_CLASSES = ("GOB", "COM", "ORG")

#: A trusted source's code, as ``source register`` and ``service add --source`` name it.
_SOURCE_CODE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


@dataclass
class Transaction:
    """A registry transaction: the connection and the admin records its changes append."""

    conn: Connection
    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, action: str, target: str, details: dict[str, Any]) -> None:
        self.records.append((action, target, details))


@contextmanager
def transaction(db: Database) -> Iterator[Transaction]:
    """One transaction for one or more changes: all apply, bump the version once and enter the
    ledger, or none does (any error rolls everything back, ledger records included)."""
    with db.write.begin() as conn:
        tx = Transaction(conn)
        yield tx
        if not tx.records:
            return
        conn.execute(
            sa.update(registry_state)
            .where(registry_state.c.id == 1)
            .values(version=registry_state.c.version + 1)
        )
        who = actor()
        sequencer.append(conn, [record.admin(*entry, who) for entry in tx.records])


@contextmanager
def change(db: Database, action: str, target: str, details: dict[str, Any]) -> Iterator[Connection]:
    """A transaction that applies one change, bumps the version and records it in the ledger."""
    with transaction(db) as tx:
        yield tx.conn
        tx.record(action, target, details)


def _exists(conn: Connection, table: sa.Table, column: sa.Column, value: str) -> bool:
    return (
        conn.execute(
            sa.select(sa.func.count()).select_from(table).where(column == value)
        ).scalar_one()
        > 0
    )


def _check_new(conn: Connection, column: sa.Column, value: str, what: str) -> None:
    """Refuse ``value`` if it, or a spelling differing only in case, is registered: an
    identifier has one canonical form."""
    found = conn.execute(
        sa.select(column).where(sa.func.lower(column) == value.lower())
    ).scalar_one_or_none()
    if found == value:
        raise RegistryError("registry.exists", f"{what} {value} is already registered")
    if found is not None:
        raise RegistryError(
            "registry.bad_identifier", f"{what} {value} differs only in case from {found}"
        )


def check_member_id(member: MemberId, instance: str | None = None) -> None:
    """A new member must be of this instance (``ENLACE_INSTANCE``) and of a known class."""
    instance = instance or Settings.from_env().instance
    if member.instance != instance:
        raise RegistryError(
            "registry.bad_identifier",
            f"member {member} is not of this gateway's instance {instance}",
        )
    if member.member_class not in MEMBER_CLASSES:
        raise RegistryError(
            "registry.bad_identifier",
            f"member class {member.member_class} is not one of {', '.join(MEMBER_CLASSES)}",
        )


def add_member(
    db: Database,
    member: MemberId,
    name: str,
    *,
    subsystems: tuple[str, ...] = (),
    certificates: tuple[x509.Certificate, ...] = (),
    ca: x509.Certificate | None = None,
    contact: str | None = None,
) -> list[str]:
    """Register a member with its subsystem codes, signing certificates (checked against the
    instance ``ca``) and the contact route citizens are shown, all in one transaction; every
    check runs before anything is written. Returns the certificates' key ids."""
    check_member_id(member)
    if not name.strip():
        raise RegistryError("registry.bad_member", "a member needs a non-empty --name")
    contact = _contact(contact)
    clients = _new_clients(member, subsystems)
    kids = [_checked_certificate(member, cert, ca) for cert in certificates]
    if len(set(kids)) != len(kids):
        raise RegistryError("registry.bad_certificate", "the same certificate is given twice")
    with transaction(db) as tx:
        _check_new(tx.conn, members.c.member_id, str(member), "member")
        tx.conn.execute(
            sa.insert(members).values(
                member_id=str(member), name=name, contact=contact, created_at=_now()
            )
        )
        tx.record(
            "member.add", str(member), {"name": name} | ({"contact": contact} if contact else {})
        )
        for client in clients:
            _insert_subsystem(tx, client)
        for kid, cert in zip(kids, certificates, strict=True):
            _insert_certificate(tx, member, kid, cert)
    return kids


def _new_clients(member: MemberId, codes: tuple[str, ...]) -> list[ClientId]:
    clients = [ClientId.parse(f"{member}/{code}") for code in codes]
    seen: set[str] = set()
    for client in clients:
        if client.subsystem.lower() in seen:
            raise RegistryError(
                "registry.bad_identifier", f"subsystem {client.subsystem} is given twice"
            )
        seen.add(client.subsystem.lower())
    return clients


def add_subsystem(db: Database, client: ClientId) -> None:
    with transaction(db) as tx:
        if not _exists(tx.conn, members, members.c.member_id, str(client.member)):
            raise RegistryError(
                "registry.unknown_member", f"member {client.member} is not registered"
            )
        _insert_subsystem(tx, client)


def _insert_subsystem(tx: Transaction, client: ClientId) -> None:
    taken = sa.select(subsystems.c.client_id).where(subsystems.c.member_id == str(client.member))
    for existing in tx.conn.execute(taken).scalars():
        if existing == str(client):
            raise RegistryError("registry.exists", f"subsystem {client} is already registered")
        if existing.lower() == str(client).lower():
            raise RegistryError(
                "registry.bad_identifier",
                f"subsystem {client} differs only in case from {existing}",
            )
    tx.conn.execute(
        sa.insert(subsystems).values(
            client_id=str(client), member_id=str(client.member), created_at=_now()
        )
    )
    tx.record("subsystem.add", str(client), {})


def _checked_certificate(
    member: MemberId, cert: x509.Certificate, ca: x509.Certificate | None
) -> str:
    """The key id of a signing certificate the instance CA issued to ``member``."""
    if ca is None:
        raise RegistryError("registry.bad_certificate", "the instance CA is needed to check it")
    try:
        pki.check_issued(cert, ca, _now())
    except pki.CertificateProblem as exc:
        raise RegistryError("registry.bad_certificate", str(exc)) from exc
    if pki.member_of(cert) != member:
        raise RegistryError(
            "registry.bad_certificate", f"certificate names {pki.member_of(cert)}, not {member}"
        )
    return pki.keyid(cert)


def add_certificate(
    db: Database, member: MemberId, cert: x509.Certificate, ca: x509.Certificate
) -> str:
    """Register a member's signing certificate after checking it against the instance CA."""
    kid = _checked_certificate(member, cert, ca)
    with transaction(db) as tx:
        if not _exists(tx.conn, members, members.c.member_id, str(member)):
            raise RegistryError("registry.unknown_member", f"member {member} is not registered")
        _insert_certificate(tx, member, kid, cert)
    return kid


def _insert_certificate(
    tx: Transaction, member: MemberId, kid: str, cert: x509.Certificate
) -> None:
    if _exists(tx.conn, certificates, certificates.c.keyid, kid):
        raise RegistryError("registry.exists", "certificate is already registered")
    tx.conn.execute(
        sa.insert(certificates).values(
            keyid=kid,
            member_id=str(member),
            pem=pki.cert_pem(cert),
            not_after=cert.not_valid_after_utc,
            created_at=_now(),
        )
    )
    tx.record("certificate.add", str(member), {"keyid": kid})


#: The shortest key-id prefix ``revoke_certificate`` accepts: as ``member list`` may be read.
MIN_KEYID_PREFIX = 8


def revoke_certificate(db: Database, kid: str, reason: str) -> str:
    """Revoke the active certificate whose key id is ``kid`` or starts with it (a unique prefix
    of at least ``MIN_KEYID_PREFIX`` characters); returns its full key id."""
    if len(kid) < MIN_KEYID_PREFIX:
        raise RegistryError(
            "registry.not_found", f"give at least {MIN_KEYID_PREFIX} characters of the key id"
        )
    with transaction(db) as tx:
        active = sa.select(certificates.c.keyid).where(
            certificates.c.keyid.startswith(kid, autoescape=True),
            certificates.c.revoked_at.is_(None),
        )
        found = list(tx.conn.execute(active).scalars())
        if len(found) != 1:
            why = "no active certificate" if not found else f"{len(found)} active certificates"
            raise RegistryError("registry.not_found", f"{why} with key id {kid}…")
        tx.conn.execute(
            sa.update(certificates)
            .where(certificates.c.keyid == found[0])
            .values(revoked_at=_now())
        )
        tx.record("certificate.revoke", found[0], {"reason": reason})
    return found[0]


def register_source(
    db: Database,
    code: str,
    provider: ClientId,
    *,
    adapter: str | None = None,
    url: str | None = None,
    tls_cert_pem: str | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Register a trusted source. The caller checks that an in-process ``adapter`` exists and
    opens with ``options`` (adapters live above storage)."""
    if not _SOURCE_CODE.fullmatch(code):
        raise RegistryError(
            "registry.bad_source", f"source code {code!r} must be 1-64 of a-z 0-9 -, e.g. renapo"
        )
    if (adapter is None) == (url is None):
        raise RegistryError("registry.bad_source", "a source needs exactly one of adapter or url")
    details = {"provider": str(provider), "adapter": adapter, "url": url}
    if url is not None:
        details["tls_keyid"] = _check_remote(provider, url, tls_cert_pem)
    with change(db, "source.register", code, details) as conn:
        if not _exists(conn, subsystems, subsystems.c.client_id, str(provider)):
            raise RegistryError(
                "registry.unknown_subsystem", f"subsystem {provider} is not registered"
            )
        _check_new(conn, sources.c.code, code, "source")
        conn.execute(
            sa.insert(sources).values(
                code=code,
                provider=str(provider),
                adapter=adapter,
                url=url,
                tls_cert_pem=tls_cert_pem,
                options=options or {},
                created_at=_now(),
            )
        )


def _check_remote(provider: ClientId, url: str, tls_cert_pem: str | None) -> str:
    """A remote source needs an https URL and the TLS certificate it will present, issued to
    the provider's member (the gateway accepts that certificate and no other); its key id."""
    if not url.startswith("https://"):
        raise RegistryError("registry.bad_source", "a remote source's URL must be https://")
    if not tls_cert_pem:
        raise RegistryError("registry.bad_source", "a remote source needs its TLS certificate")
    try:
        cert = x509.load_pem_x509_certificate(tls_cert_pem.encode())
    except ValueError as exc:
        raise RegistryError("registry.bad_certificate", "TLS certificate is not PEM") from exc
    if pki.member_of(cert) != provider.member:
        raise RegistryError(
            "registry.bad_certificate",
            f"TLS certificate names {pki.member_of(cert)}, not {provider.member}",
        )
    return pki.keyid(cert)


def add_service(
    db: Database,
    service: ServiceId,
    source: str,
    operation: str,
    *,
    description: str = "",
    methods: tuple[str, ...] = ("GET",),
) -> None:
    if schemas.catalogue().get(operation) is None:
        raise RegistryError(
            "registry.unknown_operation",
            f"operation {operation} has no schemas: add {operation}.request.json and "
            f"{operation}.response.json under schemas/<source>/",
        )
    details = {"source": source, "operation": operation, "methods": list(methods)}
    with change(db, "service.add", str(service), details) as conn:
        row = conn.execute(sa.select(sources.c.provider).where(sources.c.code == source)).first()
        if row is None:
            raise RegistryError("registry.unknown_source", f"source {source} is not registered")
        if row.provider != str(service.provider):
            raise RegistryError(
                "registry.bad_service",
                f"service {service} is not under the source's provider {row.provider}",
            )
        if _exists(conn, services, services.c.service_id, str(service)):
            raise RegistryError("registry.exists", f"service {service} is already registered")
        conn.execute(
            sa.insert(services).values(
                service_id=str(service),
                source=source,
                operation=operation,
                description=description,
                methods=",".join(sorted(set(methods))),
                created_at=_now(),
            )
        )


def grant(
    db: Database,
    client: ClientId,
    service: ServiceId,
    purposes: list[str],
    legal_bases: list[str],
    hidden_until: dt.date | None = None,
) -> acl.Grant | None:
    """Allow ``client`` to use ``service``; a new grant replaces the active one. Returns the
    grant it replaced (None if there was none); an identical grant changes nothing."""
    _check_grant(purposes, legal_bases, hidden_until)
    new = acl.Grant(
        str(client), str(service), frozenset(purposes), frozenset(legal_bases), hidden_until
    )
    details = {
        "service": str(service),
        "purposes": sorted(new.purposes),
        "legal_bases": sorted(new.legal_bases),
        "hidden_until": hidden_until.isoformat() if hidden_until else None,
    }
    with transaction(db) as tx:
        if not _exists(tx.conn, subsystems, subsystems.c.client_id, str(client)):
            raise RegistryError(
                "registry.unknown_subsystem", f"subsystem {client} is not registered"
            )
        if not _exists(tx.conn, services, services.c.service_id, str(service)):
            raise RegistryError("registry.unknown_service", f"service {service} is not registered")
        _check_registered(tx.conn, purposes, legal_bases)
        previous = _active_grant(tx.conn, client, service)
        if previous == new:
            return previous
        # A new grant replaces the active one: revoke it in the same transaction.
        _revoke_active(tx.conn, client, service)
        tx.conn.execute(
            sa.insert(grants).values(
                client=str(client),
                service=str(service),
                purposes=sorted(new.purposes),
                legal_bases=sorted(new.legal_bases),
                hidden_until=hidden_until,
                created_at=_now(),
            )
        )
        tx.record("acl.grant", str(client), details)
    return previous


def _check_grant(purposes: list[str], legal_bases: list[str], hidden_until: dt.date | None) -> None:
    if not purposes or not legal_bases:
        raise RegistryError(
            "registry.bad_grant", "a grant needs at least one purpose and one legal basis"
        )
    try:
        for value in purposes:
            acl.check_code("purpose", value)
        for value in legal_bases:
            acl.check_code("legal basis", value)
    except CodedError as exc:  # the wire's code for a header: here it is an argument
        raise RegistryError("registry.bad_grant", exc.message) from None
    if hidden_until is not None and hidden_until < _now().date():
        raise RegistryError(
            "registry.bad_grant", f"hidden-until {hidden_until.isoformat()} is in the past"
        )


def _active_grant(conn: Connection, client: ClientId, service: ServiceId) -> acl.Grant | None:
    row = conn.execute(
        sa.select(grants).where(
            grants.c.client == str(client),
            grants.c.service == str(service),
            grants.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    return acl.Grant(
        row.client,
        row.service,
        frozenset(row.purposes),
        frozenset(row.legal_bases),
        row.hidden_until,
    )


def _revoke_active(conn: Connection, client: ClientId, service: ServiceId) -> int:
    """End the active grant of (client, service), if any; return how many rows it ended."""
    done = conn.execute(
        sa.update(grants)
        .where(
            grants.c.client == str(client),
            grants.c.service == str(service),
            grants.c.revoked_at.is_(None),
        )
        .values(revoked_at=_now())
    )
    return done.rowcount


def revoke_grant(db: Database, client: ClientId, service: ServiceId) -> None:
    with change(db, "acl.revoke", str(client), {"service": str(service)}) as conn:
        if _revoke_active(conn, client, service) != 1:
            raise RegistryError("registry.not_found", f"{client} has no active grant for {service}")


def set_limit(db: Database, client: ClientId, limit: ClientLimit) -> None:
    """Give ``client`` its own rate, burst and concurrency limits (each ``None``: the default;
    all ``None``: back to the defaults)."""
    values = asdict(limit)
    for name, value in values.items():
        # Finite too: the change is recorded as canonical JSON, which has no infinity.
        if value is not None and not 0 < value < math.inf:
            raise RegistryError(
                "registry.bad_limit", f"{name} must be a positive number, not {value}"
            )
    with change(db, "client.limit", str(client), values) as conn:
        if not _exists(conn, subsystems, subsystems.c.client_id, str(client)):
            raise RegistryError(
                "registry.unknown_subsystem", f"subsystem {client} is not registered"
            )
        conn.execute(sa.delete(client_limits).where(client_limits.c.client_id == str(client)))
        if any(value is not None for value in values.values()):
            conn.execute(
                sa.insert(client_limits).values(client_id=str(client), updated_at=_now(), **values)
            )


# --- purposes, legal bases and members' contact routes (what the citizen's page shows) ------

_TITLED = {"purpose": purpose_table, "legal basis": legal_basis_table}


def _check_registered(conn: Connection, purposes: list[str], legal_bases: list[str]) -> None:
    """A grant names only registered purposes and legal bases: each has a title to show."""
    for kind, codes in (("purpose", purposes), ("legal basis", legal_bases)):
        table = _TITLED[kind]
        known = set(conn.execute(sa.select(table.c.code).where(table.c.code.in_(codes))).scalars())
        missing = sorted(set(codes) - known)
        if missing:
            command = "purpose" if kind == "purpose" else "legal-basis"
            raise RegistryError(
                "registry.unknown_title",
                f"{kind} {missing[0]} is not registered: `enlace {command} add` it first",
            )


def _title(kind: str, code: str, title: str, url: str | None) -> dict[str, Any]:
    try:
        acl.check_code(kind, code)
    except CodedError as exc:  # the wire's code for a header: here it is an argument
        raise RegistryError("registry.bad_title", exc.message) from None
    title = title.strip()
    if not 0 < len(title) <= 300:
        raise RegistryError("registry.bad_title", f"a {kind} needs a title of 1-300 characters")
    if url is not None and not (url.startswith(("https://", "http://")) and len(url) <= 500):
        raise RegistryError("registry.bad_title", f"a {kind}'s URL must be http(s)://, 500 at most")
    return {"title": title} if kind == "purpose" else {"title": title, "url": url}


def add_title(db: Database, kind: str, code: str, title: str, url: str | None = None) -> None:
    """Register a purpose (``kind`` "purpose") or a legal basis ("legal basis") with the title
    the citizen reads; a legal basis may link to the text of its law."""
    values = _title(kind, code, title, url)
    action = "purpose.add" if kind == "purpose" else "legal_basis.add"
    with change(db, action, code, values) as conn:
        table = _TITLED[kind]
        if _exists(conn, table, table.c.code, code):
            raise RegistryError("registry.exists", f"{kind} {code} is already registered")
        conn.execute(sa.insert(table).values(code=code, created_at=_now(), **values))


def retitle(db: Database, kind: str, code: str, title: str, url: str | None = None) -> None:
    """Change the title (and a legal basis's link) of a registered purpose or legal basis."""
    values = _title(kind, code, title, url)
    action = "purpose.retitle" if kind == "purpose" else "legal_basis.retitle"
    with change(db, action, code, values) as conn:
        table = _TITLED[kind]
        done = conn.execute(sa.update(table).where(table.c.code == code).values(**values))
        if done.rowcount != 1:
            raise RegistryError("registry.not_found", f"{kind} {code} is not registered")


def _contact(contact: str | None) -> str | None:
    """A contact route as stored: trimmed, None when empty, at most 500 characters."""
    contact = (contact or "").strip() or None
    if contact is not None and len(contact) > 500:
        raise RegistryError("registry.bad_title", "a contact route has at most 500 characters")
    return contact


def set_contact(db: Database, member: MemberId, contact: str | None) -> None:
    """Where a citizen turns about this member's accesses (None removes it)."""
    contact = _contact(contact)
    with change(db, "member.contact", str(member), {"contact": contact}) as conn:
        done = conn.execute(
            sa.update(members).where(members.c.member_id == str(member)).values(contact=contact)
        )
        if done.rowcount != 1:
            raise RegistryError("registry.unknown_member", f"member {member} is not registered")
