"""``enlace db|member|client|source|service|acl|purpose|legal-basis``: registry administration
(every change is ledgered)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509

from gateway.cli import common
from gateway.kernel import pki, schemas
from gateway.kernel.ids import ClientId, MemberId, ServiceId
from gateway.kernel.settings import Settings
from gateway.storage import db as dbm
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


def _snapshot(database_url: str | None) -> registry.Snapshot:
    """The registry as it is now, for the ``list`` commands."""
    with common.database(common.settings(database_url)).read.connect() as conn:
        return registry.load(conn)


@db_app.command("upgrade")
def db_upgrade(database_url: common.DatabaseOpt = None) -> None:
    """Create or migrate the schema to the newest version."""
    settings = common.settings(database_url)
    common.database(settings).dispose()
    typer.echo("schema is up to date")


_CONTACT_HELP = "Where citizens turn about this member's accesses (URL, e-mail, phone)."


def _set_contact(database: dbm.Database, member_id: MemberId, contact: str) -> None:
    registry.set_contact(database, member_id, contact)
    typer.echo(
        f"contact of {member_id} set" if contact.strip() else f"contact of {member_id} removed"
    )


@member_app.command("add")
def member_add(
    member: str,
    name: Annotated[str, typer.Option(help="Legal name of the organisation.")],
    cert: Annotated[
        Path | None, typer.Option(help="Signing certificate (PEM) to register.")
    ] = None,
    subsystem: Annotated[list[str] | None, typer.Option(help="Subsystem code to add.")] = None,
    contact: Annotated[str | None, typer.Option(help=_CONTACT_HELP)] = None,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Register a member, optionally with its signing certificate, subsystems and the contact
    route citizens are shown."""
    settings = common.settings(database_url, pki_dir)
    member_id = common.parse(MemberId, member)
    database = common.database(settings)
    registry.add_member(database, member_id, name)
    typer.echo(f"member {member_id} added")
    if contact is not None:
        _set_contact(database, member_id, contact)
    for code in subsystem or []:
        client = common.parse(ClientId, f"{member_id}/{code}")
        registry.add_subsystem(database, client)
        typer.echo(f"subsystem {client} added")
    if cert is not None:
        _add_cert(database, settings, member_id, cert)


def _add_cert(database: dbm.Database, settings: Settings, member_id: MemberId, path: Path) -> None:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise common.CliError("cli.bad_file", f"{path}: not a readable PEM certificate") from exc
    ca = pki.load_cert(pki.PkiDir(settings.pki_dir).ca_cert)
    kid = registry.add_certificate(database, member_id, certificate, ca)
    typer.echo(f"certificate {kid} registered for {member_id}")


@member_app.command("add-subsystem")
def member_add_subsystem(client: str, database_url: common.DatabaseOpt = None) -> None:
    """Register a subsystem INSTANCE/CLASS/MEMBER/SUBSYSTEM of an existing member."""
    registry.add_subsystem(
        common.database(common.settings(database_url)), common.parse(ClientId, client)
    )
    typer.echo(f"subsystem {client} added")


@member_app.command("add-cert")
def member_add_cert(
    member: str, cert: Path, database_url: common.DatabaseOpt = None, pki_dir: common.PkiOpt = None
) -> None:
    """Register another signing certificate of a member (e.g. a renewal)."""
    settings = common.settings(database_url, pki_dir)
    _add_cert(common.database(settings), settings, common.parse(MemberId, member), cert)


@member_app.command("revoke-cert")
def member_revoke_cert(
    keyid: str,
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "unspecified",
    database_url: common.DatabaseOpt = None,
) -> None:
    """Revoke a signing certificate: its signatures are refused from the next registry reload."""
    registry.revoke_certificate(common.database(common.settings(database_url)), keyid, reason)
    typer.echo(f"certificate {keyid} revoked")


@member_app.command("set-contact")
def member_set_contact(
    member: str,
    contact: Annotated[str, typer.Argument(help=_CONTACT_HELP + ' "" removes it.')],
    database_url: common.DatabaseOpt = None,
) -> None:
    """Set (or, with "", remove) the contact route citizens are shown for a member."""
    database = common.database(common.settings(database_url))
    _set_contact(database, common.parse(MemberId, member), contact)


@member_app.command("list")
def member_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    """Members with their subsystems and certificates."""
    snap = _snapshot(database_url)
    rows = []
    for member_id, name in sorted(snap.members.items()):
        subs = sorted(s.rsplit("/", 1)[1] for s in snap.subsystems if s.startswith(member_id + "/"))
        certs = [c for c in snap.certs.values() if str(c.member) == member_id]
        rows.append(
            {
                "member": member_id,
                "name": name,
                "subsystems": ",".join(subs) or "-",
                "certificates": ",".join(
                    f"{c.keyid[:12]}{'(revoked)' if c.revoked else ''}" for c in certs
                )
                or "-",
            }
        )
    common.table(rows, as_json)


@source_app.command("register")
def source_register(
    code: str,
    provider: Annotated[
        str, typer.Option(help="Provider subsystem INSTANCE/CLASS/MEMBER/SUBSYSTEM.")
    ],
    adapter: Annotated[
        str | None, typer.Option(help="In-process adapter name, e.g. renapo.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Base URL of a remote source (https).")] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="PEM TLS certificate of the remote source (the only one accepted)."),
    ] = None,
    option: Annotated[list[str] | None, typer.Option(help="Adapter option KEY=VALUE.")] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Register a trusted source, run in process (--adapter) or remote (--url, --tls-cert)."""
    # Dev tooling is imported when the command runs: `enlace serve` must not load it.
    from gateway.devtools.population import seeded_options

    tls_cert_pem = None
    if tls_cert is not None:
        try:
            tls_cert_pem = tls_cert.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise common.CliError("cli.bad_file", f"{tls_cert}: cannot read it") from exc
    # A synthetic population (citizens=, seed=) is seeded into a dataset file the adapter reads.
    options: dict[str, Any] = seeded_options(dict(common.key_values(option)), Path("var/datasets"))
    registry.register_source(
        common.database(common.settings(database_url)),
        code,
        common.parse(ClientId, provider),
        adapter=adapter,
        url=url,
        tls_cert_pem=tls_cert_pem,
        options=options,
    )
    typer.echo(f"source {code} registered")


@source_app.command("list")
def source_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    snap = _snapshot(database_url)
    common.table(
        [
            {
                "source": s.code,
                "provider": str(s.provider),
                "adapter": s.adapter or "-",
                "url": s.url or "-",
            }
            for s in sorted(snap.sources.values(), key=lambda s: s.code)
        ],
        as_json,
    )


@service_app.command("add")
def service_add(
    service: str,
    source: Annotated[str, typer.Option(help="Code of the registered source.")],
    operation: Annotated[str, typer.Option(help="Adapter operation, e.g. consulta-curp.")],
    description: Annotated[str, typer.Option()] = "",
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
    registry.add_service(
        common.database(common.settings(database_url)),
        common.parse(ServiceId, service),
        source,
        operation,
        description=description,
        methods=methods,
    )
    typer.echo(f"service {service} added")


def _default_methods(operation: str) -> tuple[str, ...]:
    """The method an operation is called with: POST when its request schema requires a body
    (a GET carries none), else GET. An unknown operation is refused by the registry."""
    contract = schemas.catalogue().get(operation)
    takes_body = contract is not None and "body" in contract.inlined("request").get("required", [])
    return ("POST",) if takes_body else ("GET",)


@service_app.command("list")
def service_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    snap = _snapshot(database_url)
    common.table(
        [
            {
                "service": key,
                "source": s.source,
                "operation": s.operation,
                "methods": ",".join(sorted(s.methods)),
                "description": s.description,
            }
            for key, s in sorted(snap.services.items())
        ],
        as_json,
    )


@client_app.command("limit")
def client_limit(
    client: str,
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
    client: str,
    service: str,
    purpose: Annotated[list[str], typer.Option(help="Purpose code (repeatable).")],
    legal_basis: Annotated[list[str], typer.Option(help="Legal basis code (repeatable).")],
    hidden_until: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD: hide exchanges from the citizen until then.")
    ] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Allow a client subsystem to use a service for the given purposes and legal bases."""
    until = None
    if hidden_until:
        try:
            until = dt.date.fromisoformat(hidden_until)
        except ValueError as exc:
            raise common.CliError("cli.bad_option", "--hidden-until must be YYYY-MM-DD") from exc
    registry.grant(
        common.database(common.settings(database_url)),
        common.parse(ClientId, client),
        common.parse(ServiceId, service),
        purpose,
        legal_basis,
        until,
    )
    typer.echo(f"granted {service} to {client}")


@acl_app.command("revoke")
def acl_revoke(client: str, service: str, database_url: common.DatabaseOpt = None) -> None:
    """Withdraw a client's grant for a service."""
    registry.revoke_grant(
        common.database(common.settings(database_url)),
        common.parse(ClientId, client),
        common.parse(ServiceId, service),
    )
    typer.echo(f"revoked {service} from {client}")


@acl_app.command("list")
def acl_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    snap = _snapshot(database_url)
    common.table(
        [
            {
                "client": g.client,
                "service": g.service,
                "purposes": ",".join(sorted(g.purposes)),
                "legal_bases": ",".join(sorted(g.legal_bases)),
                "hidden_until": g.hidden_until or "-",
            }
            for g in sorted(snap.grants.values(), key=lambda g: (g.client, g.service))
        ],
        as_json,
    )


_TITLE_HELP = "What citizens read, e.g. 'Inscripción a una beca'."
_LAW_HELP = "What citizens read: the law and article, e.g. 'Ley General de Educación, art. 8'."
_URL_HELP = "Link to the text of the law."


@purpose_app.command("add")
def purpose_add(
    code: str,
    title: Annotated[str, typer.Option(help=_TITLE_HELP)],
    database_url: common.DatabaseOpt = None,
) -> None:
    """Register a purpose; grants may name only registered ones."""
    registry.add_title(common.database(common.settings(database_url)), "purpose", code, title)
    typer.echo(f"purpose {code} added")


@purpose_app.command("retitle")
def purpose_retitle(
    code: str,
    title: Annotated[str, typer.Option(help=_TITLE_HELP)],
    database_url: common.DatabaseOpt = None,
) -> None:
    """Change what citizens read for a registered purpose."""
    registry.retitle(common.database(common.settings(database_url)), "purpose", code, title)
    typer.echo(f"purpose {code} retitled")


@purpose_app.command("list")
def purpose_list(database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False) -> None:
    snap = _snapshot(database_url)
    common.table(
        [{"purpose": p.code, "title": p.title} for _, p in sorted(snap.purposes.items())],
        as_json,
    )


@legal_basis_app.command("add")
def legal_basis_add(
    code: str,
    title: Annotated[str, typer.Option(help=_LAW_HELP)],
    url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Register a legal basis; grants may name only registered ones."""
    database = common.database(common.settings(database_url))
    registry.add_title(database, "legal basis", code, title, url)
    typer.echo(f"legal basis {code} added")


@legal_basis_app.command("retitle")
def legal_basis_retitle(
    code: str,
    title: Annotated[str, typer.Option(help=_LAW_HELP)],
    url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Change what citizens read for a registered legal basis, and its link."""
    database = common.database(common.settings(database_url))
    registry.retitle(database, "legal basis", code, title, url)
    typer.echo(f"legal basis {code} retitled")


@legal_basis_app.command("list")
def legal_basis_list(
    database_url: common.DatabaseOpt = None, as_json: common.JsonOpt = False
) -> None:
    snap = _snapshot(database_url)
    common.table(
        [
            {"legal_basis": b.code, "title": b.title, "url": b.url or "-"}
            for _, b in sorted(snap.legal_bases.items())
        ],
        as_json,
    )
