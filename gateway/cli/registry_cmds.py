"""``enlace db|member|client|source|service|acl|purpose|legal-basis``: registry administration
(every change is ledgered).

Every argument is read and checked (files, identifiers, adapters and their options) before the
registry is touched, and each command is one registry transaction: a command that fails changes
nothing and writes no ledger entry. The ``list`` commands read an existing database only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509

from gateway.cli import common
from gateway.kernel import acl, pki, schemas
from gateway.kernel.errors import CodedError
from gateway.kernel.ids import ClientId, MemberId, ServiceId
from gateway.kernel.settings import Settings
from gateway.storage import registry

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
member_app = typer.Typer(help="Members, subsystems and their certificates.", no_args_is_help=True)
client_app = typer.Typer(help="Client subsystems' own limits.", no_args_is_help=True)
source_app = typer.Typer(help="Trusted sources.", no_args_is_help=True)
service_app = typer.Typer(help="Services offered by trusted sources.", no_args_is_help=True)
acl_app = typer.Typer(help="Access grants (deny by default).", no_args_is_help=True)
purpose_app = typer.Typer(
    help="Purposes grants may name, with the title citizens read.", no_args_is_help=True
)
legal_basis_app = typer.Typer(
    help="Legal bases grants may name: the law and article citizens read, and its text.",
    no_args_is_help=True,
)


MemberArg = Annotated[str, typer.Argument(help="Member INSTANCE/CLASS/MEMBER, e.g. MX/GOB/SEP.")]
ClientArg = Annotated[
    str,
    typer.Argument(help="Client subsystem INSTANCE/CLASS/MEMBER/SUBSYSTEM, e.g. MX/GOB/SEP/becas."),
]
ServiceArg = Annotated[
    str,
    typer.Argument(
        # "\\[": a literal bracket, not a rich markup tag.
        help="Service INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE\\[/VERSION], "
        "e.g. MX/GOB/RENAPO/curp/consulta-curp/v1."
    ),
]


def _snapshot(database_url: str | None) -> registry.Snapshot:
    """The registry as it is now, for the ``list`` commands."""
    database = common.existing_database(common.settings(database_url))
    try:
        with database.read.connect() as conn:
            return registry.load(conn)
    finally:
        database.dispose()


@db_app.command("upgrade")
def db_upgrade(database_url: common.DatabaseOpt = None) -> None:
    """Create the database or migrate its schema to the newest version."""
    common.database(common.settings(database_url)).dispose()
    typer.echo("schema is up to date")


_CONTACT_HELP = "Where citizens turn about this member's accesses (URL, e-mail, phone)."


@member_app.command("add")
def member_add(
    member: MemberArg,
    name: Annotated[str, typer.Option(help="Legal name of the organisation (not empty).")],
    cert: Annotated[
        Path | None,
        typer.Option(help="Signing certificate (PEM) the instance CA issued to MEMBER."),
    ] = None,
    subsystem: Annotated[
        list[str] | None,
        typer.Option(help="Subsystem code to add, e.g. becas (repeatable)."),
    ] = None,
    contact: Annotated[str | None, typer.Option(help=_CONTACT_HELP)] = None,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Register a member, with its subsystems, signing certificate and the contact route
    citizens are shown, all or nothing.

    Creates the database and its schema if there is none yet.
    """
    settings = common.settings(database_url, pki_dir)
    member_id = common.parse(MemberId, member)
    clients = [common.parse(ClientId, f"{member_id}/{code}") for code in subsystem or []]
    certificates = (_read_cert(cert),) if cert is not None else ()
    ca = _instance_ca(settings) if certificates else None
    database = common.database(settings)
    try:
        kids = registry.add_member(
            database,
            member_id,
            name,
            subsystems=tuple(c.subsystem for c in clients),
            certificates=certificates,
            ca=ca,
            contact=contact,
        )
    finally:
        database.dispose()
    typer.echo(f"member {member_id} added")
    for client in clients:
        typer.echo(f"subsystem {client} added")
    for kid in kids:
        typer.echo(f"certificate {kid} registered for {member_id}")


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise common.CliError("cli.bad_file", f"{path}: not a readable PEM certificate") from exc


def _instance_ca(settings: Settings) -> x509.Certificate:
    folder = pki.PkiDir(settings.pki_dir)
    if not folder.ca_cert.is_file():
        raise common.CliError(
            "pki.missing", f"no instance CA in {folder.root}: run `enlace pki init` first"
        )
    return pki.load_cert(folder.ca_cert)


@member_app.command("add-subsystem")
def member_add_subsystem(client: ClientArg, database_url: common.DatabaseOpt = None) -> None:
    """Register a subsystem of an existing member."""
    client_id = common.parse(ClientId, client)
    database = common.existing_database(common.settings(database_url))
    try:
        registry.add_subsystem(database, client_id)
    finally:
        database.dispose()
    typer.echo(f"subsystem {client_id} added")


@member_app.command("add-cert")
def member_add_cert(
    member: MemberArg,
    cert: Annotated[
        Path, typer.Argument(help="Signing certificate (PEM) the instance CA issued to MEMBER.")
    ],
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Register another signing certificate of a member (e.g. a renewal)."""
    settings = common.settings(database_url, pki_dir)
    member_id = common.parse(MemberId, member)
    certificate, ca = _read_cert(cert), _instance_ca(settings)
    database = common.existing_database(settings)
    try:
        kid = registry.add_certificate(database, member_id, certificate, ca)
    finally:
        database.dispose()
    typer.echo(f"certificate {kid} registered for {member_id}")


@member_app.command("revoke-cert")
def member_revoke_cert(
    keyid: Annotated[
        str,
        typer.Argument(
            help="Key id of the certificate, as member list shows it, or a unique prefix "
            f"of at least {registry.MIN_KEYID_PREFIX} characters."
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "unspecified",
    database_url: common.DatabaseOpt = None,
) -> None:
    """Revoke a signing certificate: its signatures are refused from the next registry reload."""
    database = common.existing_database(common.settings(database_url))
    try:
        kid = registry.revoke_certificate(database, keyid, reason)
    finally:
        database.dispose()
    typer.echo(f"certificate {kid} revoked")


@member_app.command("set-contact")
def member_set_contact(
    member: MemberArg,
    contact: Annotated[str, typer.Argument(help=_CONTACT_HELP + ' "" removes it.')],
    database_url: common.DatabaseOpt = None,
) -> None:
    """Set (or, with "", remove) the contact route citizens are shown for a member."""
    member_id = common.parse(MemberId, member)
    _with_existing(database_url, lambda db: registry.set_contact(db, member_id, contact))
    typer.echo(
        f"contact of {member_id} set" if contact.strip() else f"contact of {member_id} removed"
    )


@member_app.command("list")
def member_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    """Members with their subsystems and certificates (full key ids)."""
    snap = _snapshot(database_url)
    rows: list[dict[str, Any]] = []
    for member_id, name in sorted(snap.members.items()):
        subs = sorted(s.rsplit("/", 1)[1] for s in snap.subsystems if s.startswith(member_id + "/"))
        certs = sorted(
            (c for c in snap.certs.values() if str(c.member) == member_id), key=lambda c: c.keyid
        )
        rows.append(
            {
                "member": member_id,
                "name": name,
                "subsystems": subs,
                "certificates": [{"keyid": c.keyid, "revoked": c.revoked} for c in certs],
            }
        )
    if as_json:
        common.table(rows, True)
        return
    common.table(
        [
            {
                **row,
                "subsystems": ",".join(row["subsystems"]) or "-",
                "certificates": ",".join(
                    c["keyid"] + (" (revoked)" if c["revoked"] else "") for c in row["certificates"]
                )
                or "-",
            }
            for row in rows
        ],
        False,
    )


@source_app.command("register")
def source_register(
    code: Annotated[str, typer.Argument(help="Source code: 1-64 of a-z 0-9 -, e.g. renapo.")],
    provider: Annotated[
        str, typer.Option(help="Provider subsystem INSTANCE/CLASS/MEMBER/SUBSYSTEM.")
    ],
    adapter: Annotated[
        str | None, typer.Option(help="In-process adapter: renapo, registro-civil or sat.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Base URL of a remote source (https://).")] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="PEM TLS certificate of the remote source (the only one accepted)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            help="Adapter option KEY=VALUE (repeatable): dataset=PATH, or citizens=N [seed=N] "
            "for a synthetic population; sat takes trust_dir=DIR [ocsp_url=URL]."
        ),
    ] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Register a trusted source, run in process (--adapter) or remote (--url, --tls-cert).

    An adapter is opened with its options first (its dataset must be readable), so a source
    that could only fail later is refused now.
    """
    provider_id = common.parse(ClientId, provider)
    tls_cert_pem = _read_text(tls_cert) if tls_cert is not None else None
    options: dict[str, Any] = dict(common.key_values(option))
    if adapter is not None:
        options = _checked_adapter(adapter, options)
    elif options:
        raise common.CliError("cli.bad_option", "--option is for an in-process --adapter")
    database = common.existing_database(common.settings(database_url))
    try:
        registry.register_source(
            database,
            code,
            provider_id,
            adapter=adapter,
            url=url,
            tls_cert_pem=tls_cert_pem,
            options=options,
        )
    finally:
        database.dispose()
    typer.echo(f"source {code} registered")


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise common.CliError("cli.bad_file", f"{path}: cannot read it") from exc


def _checked_adapter(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options to register ``name`` with, after opening the adapter with them: a synthetic
    population (citizens=, seed=) is seeded into the dataset file the adapter reads."""
    # Dev tooling and adapters are imported when the command runs: `enlace serve` must not.
    from gateway.devtools.population import seeded_options
    from trusted_sources.adapters import adapter_factories

    factories = adapter_factories()
    if name not in factories:
        raise common.CliError(
            "registry.bad_source", f"no adapter {name!r}; known: {', '.join(sorted(factories))}"
        )
    for key in ("citizens", "seed"):
        if key in options and not options[key].isdigit():
            raise common.CliError("cli.bad_option", f"--option {key}= must be a whole number")
    if options.get("citizens") == "0":
        raise common.CliError("cli.bad_option", "--option citizens= must be at least 1")
    seeded = seeded_options(options, Path("var/datasets"))
    try:
        factories[name](seeded)
    except CodedError as exc:
        raise common.CliError(exc.code, f"adapter {name} cannot open: {exc.message}") from exc
    return seeded


@source_app.command("list")
def source_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    """Trusted sources, in process or remote."""
    snap = _snapshot(database_url)
    rows = [
        {
            "source": s.code,
            "provider": str(s.provider),
            "adapter": s.adapter,
            "url": s.url,
        }
        for s in sorted(snap.sources.values(), key=lambda s: s.code)
    ]
    common.table(rows if as_json else [_dashes(row) for row in rows], as_json)


def _dashes(row: dict[str, Any]) -> dict[str, Any]:
    """A row for people: absent values as ``-``."""
    return {key: "-" if value is None else value for key, value in row.items()}


@service_app.command("add")
def service_add(
    service: ServiceArg,
    source: Annotated[str, typer.Option(help="Code of the registered source.")],
    operation: Annotated[
        str, typer.Option(help="Source operation with schemas, e.g. consulta-curp.")
    ],
    description: Annotated[str, typer.Option(help="What the service answers, for people.")] = "",
    method: Annotated[
        list[str] | None,
        typer.Option(
            help="Allowed HTTP methods (GET, POST); default: POST if the operation's request "
            "schema requires a body, else GET."
        ),
    ] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Publish a service of a source (nobody may use it until granted)."""
    methods = tuple(m.upper() for m in method) if method else _default_methods(operation)
    if not set(methods) <= {"GET", "POST"}:
        raise common.CliError("cli.bad_option", "methods must be GET and/or POST")
    service_id = common.parse(ServiceId, service)
    database = common.existing_database(common.settings(database_url))
    try:
        registry.add_service(
            database, service_id, source, operation, description=description, methods=methods
        )
    finally:
        database.dispose()
    typer.echo(f"service {service_id} added")


def _default_methods(operation: str) -> tuple[str, ...]:
    """The method an operation is called with: POST when its request schema requires a body
    (a GET carries none), else GET. An unknown operation is refused by the registry."""
    contract = schemas.catalogue().get(operation)
    takes_body = contract is not None and "body" in contract.inlined("request").get("required", [])
    return ("POST",) if takes_body else ("GET",)


@service_app.command("list")
def service_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    """Published services with their source, operation and methods."""
    snap = _snapshot(database_url)
    rows = [
        {
            "service": key,
            "source": s.source,
            "operation": s.operation,
            "methods": sorted(s.methods),
            "description": s.description,
        }
        for key, s in sorted(snap.services.items())
    ]
    if not as_json:
        rows = [{**row, "methods": ",".join(row["methods"])} for row in rows]
    common.table(rows, as_json)


@client_app.command("limit")
def client_limit(
    client: ClientArg,
    rate: Annotated[
        float | None, typer.Option(help="Exchanges a second regained (ENLACE_CLIENT_RATE).")
    ] = None,
    burst: Annotated[
        int | None, typer.Option(help="Exchanges at once above the rate (ENLACE_CLIENT_BURST).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Exchanges in flight at once (ENLACE_CLIENT_CONCURRENCY).")
    ] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Set a client subsystem's own rate, burst and concurrency limits; a limit left out is the
    gateway's default, and with none given the client is back to the defaults."""
    limit = registry.ClientLimit(rate, burst, concurrency)
    registry.set_limit(
        common.database(common.settings(database_url)), common.parse(ClientId, client), limit
    )
    shown = ", ".join(f"{k}={v}" for k, v in vars(limit).items() if v is not None)
    typer.echo(f"limits of {client}: {shown or 'the defaults'}")


@acl_app.command("grant")
def acl_grant(
    client: ClientArg,
    service: ServiceArg,
    purpose: Annotated[
        list[str],
        typer.Option(help="Purpose code, 1-128 of A-Z a-z 0-9 . _ : - (repeatable)."),
    ],
    legal_basis: Annotated[
        list[str],
        typer.Option(help="Legal basis code, 1-128 of A-Z a-z 0-9 . _ : - (repeatable)."),
    ],
    hidden_until: Annotated[
        str | None,
        typer.Option(
            help="YYYY-MM-DD, today or later: hide exchanges from the citizen until then."
        ),
    ] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Allow a client subsystem to use a service for the given purposes and legal bases.

    Granting again replaces the grant, and says what changed.
    """
    until = None
    if hidden_until:
        try:
            until = dt.date.fromisoformat(hidden_until)
        except ValueError as exc:
            raise common.CliError("cli.bad_option", "--hidden-until must be YYYY-MM-DD") from exc
    client_id, service_id = common.parse(ClientId, client), common.parse(ServiceId, service)
    database = common.existing_database(common.settings(database_url))
    try:
        previous = registry.grant(database, client_id, service_id, purpose, legal_basis, until)
    finally:
        database.dispose()
    if previous is None:
        typer.echo(f"granted {service_id} to {client_id}")
        return
    changes = _grant_changes(previous, set(purpose), set(legal_basis), until)
    if not changes:
        typer.echo(f"{client_id} already has this grant for {service_id}: nothing changed")
        return
    typer.echo(f"grant of {service_id} to {client_id} replaced: {'; '.join(changes)}")


def _grant_changes(
    old: acl.Grant, purposes: set[str], legal_bases: set[str], until: dt.date | None
) -> list[str]:
    """What a new grant changes in ``old``, for people."""

    def words(values: set[str] | frozenset[str]) -> str:
        return ",".join(sorted(values))

    changes = []
    if old.purposes != purposes:
        changes.append(f"purposes {words(old.purposes)} -> {words(purposes)}")
    if old.legal_bases != legal_bases:
        changes.append(f"legal bases {words(old.legal_bases)} -> {words(legal_bases)}")
    if old.hidden_until != until:
        changes.append(f"hidden until {old.hidden_until or '-'} -> {until or '-'}")
    return changes


@acl_app.command("revoke")
def acl_revoke(
    client: ClientArg, service: ServiceArg, database_url: common.DatabaseOpt = None
) -> None:
    """Withdraw a client's grant for a service."""
    client_id, service_id = common.parse(ClientId, client), common.parse(ServiceId, service)
    database = common.existing_database(common.settings(database_url))
    try:
        registry.revoke_grant(database, client_id, service_id)
    finally:
        database.dispose()
    typer.echo(f"revoked {service_id} from {client_id}")


@acl_app.command("list")
def acl_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    """Active grants: who may use which service, for which purposes and legal bases."""
    snap = _snapshot(database_url)
    rows: list[dict[str, Any]] = [
        {
            "client": g.client,
            "service": g.service,
            "purposes": sorted(g.purposes),
            "legal_bases": sorted(g.legal_bases),
            "hidden_until": g.hidden_until.isoformat() if g.hidden_until else None,
        }
        for g in sorted(snap.grants.values(), key=lambda g: (g.client, g.service))
    ]
    if not as_json:
        rows = [
            _dashes(
                {
                    **r,
                    "purposes": ",".join(r["purposes"]),
                    "legal_bases": ",".join(r["legal_bases"]),
                }
            )
            for r in rows
        ]
    common.table(rows, as_json)


_TITLE_HELP = "What citizens read, e.g. 'Inscripción a una beca'."
_LAW_HELP = "What citizens read: the law and article, e.g. 'Ley General de Educación, art. 8'."
_URL_HELP = "Link to the text of the law (https://…)."
CodeArg = Annotated[str, typer.Argument(help="The code grants name, e.g. becas-inscripcion.")]


def _with_existing(database_url: str | None, apply: Any) -> Any:
    """Run ``apply(database)`` on an existing database, closing it afterwards."""
    database = common.existing_database(common.settings(database_url))
    try:
        return apply(database)
    finally:
        database.dispose()


@purpose_app.command("add")
def purpose_add(
    code: CodeArg,
    title: Annotated[str, typer.Option(help=_TITLE_HELP)],
    database_url: common.DatabaseOpt = None,
) -> None:
    """Register a purpose; grants may name only registered ones."""
    _with_existing(database_url, lambda db: registry.add_title(db, "purpose", code, title))
    typer.echo(f"purpose {code} added")


@purpose_app.command("retitle")
def purpose_retitle(
    code: CodeArg,
    title: Annotated[str, typer.Option(help=_TITLE_HELP)],
    database_url: common.DatabaseOpt = None,
) -> None:
    """Change what citizens read for a registered purpose."""
    _with_existing(database_url, lambda db: registry.retitle(db, "purpose", code, title))
    typer.echo(f"purpose {code} retitled")


@purpose_app.command("list")
def purpose_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    """Registered purposes with the titles citizens read."""
    snap = _snapshot(database_url)
    rows = [{"purpose": p.code, "title": p.title} for _, p in sorted(snap.purposes.items())]
    common.table(rows, as_json)


@legal_basis_app.command("add")
def legal_basis_add(
    code: Annotated[str, typer.Argument(help="The code grants name, e.g. LGE-art-8.")],
    title: Annotated[str, typer.Option(help=_LAW_HELP)],
    url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Register a legal basis; grants may name only registered ones."""
    _with_existing(database_url, lambda db: registry.add_title(db, "legal basis", code, title, url))
    typer.echo(f"legal basis {code} added")


@legal_basis_app.command("retitle")
def legal_basis_retitle(
    code: Annotated[str, typer.Argument(help="The code grants name, e.g. LGE-art-8.")],
    title: Annotated[str, typer.Option(help=_LAW_HELP)],
    url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Change what citizens read for a registered legal basis, and its link."""
    _with_existing(database_url, lambda db: registry.retitle(db, "legal basis", code, title, url))
    typer.echo(f"legal basis {code} retitled")


@legal_basis_app.command("list")
def legal_basis_list(
    database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False
) -> None:
    """Registered legal bases with the titles citizens read and the link to the law."""
    snap = _snapshot(database_url)
    rows = [
        {"legal_basis": b.code, "title": b.title, "url": b.url}
        for _, b in sorted(snap.legal_bases.items())
    ]
    common.table(rows if as_json else [_dashes(r) for r in rows], as_json)
