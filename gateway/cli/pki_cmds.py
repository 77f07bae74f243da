"""``enlace pki``: the development PKI."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli import common
from gateway.kernel import pki
from gateway.kernel.ids import MemberId

pki_app = typer.Typer(help="Development PKI.", no_args_is_help=True)


@pki_app.command("init")
def pki_init(
    pki_dir: common.PkiOpt = None,
    instance: Annotated[
        str, typer.Option(envvar="ENLACE_INSTANCE", help="Instance code, e.g. MX.")
    ] = "MX",
    host: Annotated[list[str] | None, typer.Option(help="Gateway TLS host names / IPs.")] = None,
    member: Annotated[
        list[str] | None, typer.Option(help="Also issue for INSTANCE/CLASS/CODE.")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace an existing CA (invalidates everything).")
    ] = False,
) -> None:
    """Create the instance CA, gateway certificates, pseudonym and ledger keys (and members)."""
    # Dev tooling is imported when the command runs: `enlace serve` must not load it.
    from gateway.devtools import devca

    settings = common.settings(pki_dir=pki_dir)
    members = [common.parse(MemberId, text) for text in member or []]  # all, before anything
    hosts = common.hosts(host, "--host") or ["localhost", "127.0.0.1"]
    folder, created = devca.init_pki(settings.pki_dir, instance, hosts=hosts, force=force)
    typer.echo(f"{'created' if created else 'kept existing'} PKI in {folder.root}")
    for member_id in members:
        devca.ensure_member(folder, member_id, tls_hosts=["localhost", "127.0.0.1"])
        typer.echo(f"member {member_id}: {folder.member(member_id)[0]}")


@pki_app.command("issue")
def pki_issue(
    member: Annotated[str, typer.Argument(help="Member INSTANCE/CLASS/MEMBER, e.g. MX/GOB/SEP.")],
    pki_dir: common.PkiOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Organisation name in the certificate (default: MEMBER).")
    ] = None,
    tls_host: Annotated[
        list[str] | None, typer.Option(help="Also issue a TLS certificate.")
    ] = None,
) -> None:
    """Issue a member's signing certificate, and TLS one if asked (existing ones are kept)."""
    # Dev tooling is imported when the command runs: `enlace serve` must not load it.
    from gateway.devtools import devca

    folder = pki.PkiDir(common.settings(pki_dir=pki_dir).pki_dir)
    if not folder.exists():
        raise common.CliError("pki.missing", f"no CA in {folder.root}: run `enlace pki init` first")
    member_id = common.parse(MemberId, member)
    tls_hosts = common.hosts(tls_host, "--tls-host")
    pair = devca.ensure_member(folder, member_id, name=name, tls_hosts=tls_hosts)
    typer.echo(f"{folder.member(member_id)[0]}  keyid={pki.keyid(pair.cert)}")


@pki_app.command("sat-init")
def pki_sat_init(
    pki_dir: common.PkiOpt = None,
    citizens: Annotated[int, typer.Option(help="Population size, as RENAPO's option.")] = 1000,
    seed: Annotated[int, typer.Option(help="Population seed, as RENAPO's option.")] = 0,
    count: Annotated[int, typer.Option(help="How many citizens get an e.firma.")] = 10,
    force: Annotated[bool, typer.Option(help="Replace an existing SAT dev PKI.")] = False,
) -> None:
    """Create the SAT-like dev CA, OCSP responder and e.firma credentials under PKI/sat/."""
    from gateway.devtools import sat_pki as devpki

    folder = pki.PkiDir(common.settings(pki_dir=pki_dir).pki_dir)
    try:
        sat = devpki.create(
            folder.root / "sat", citizens=citizens, seed=seed, count=count, force=force
        )
    except (devpki.SatPkiExists, ValueError) as exc:
        raise common.CliError("pki.sat", str(exc)) from exc
    typer.echo(f"SAT dev PKI in {sat.root}: {len(sat.credentials())} credentials")
    typer.echo(f"  trust_dir {sat.trust_dir}; keys' password {devpki.PASSWORD!r} (README.md)")
    typer.echo("  OCSP responder: enlace source run sat-ocsp")
