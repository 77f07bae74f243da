"""``enlace source run``: a trusted source as its own HTTPS service, or SAT's dev OCSP responder.

Thin layer over ``trusted_sources.server`` (any registered adapter behind mutual TLS, signing
with the provider member's key) and ``gateway.devtools.ocsp_responder``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli import common
from gateway.kernel import pki
from gateway.kernel.ids import ClientId, MemberId
from trusted_sources import server
from trusted_sources.adapters import adapter_factories

OCSP_RESPONDER = "sat-ocsp"
DEFAULT_OCSP_PORT = 8790


def source_run(
    name: Annotated[str, typer.Argument(help="An adapter (renapo, sat, ...) or sat-ocsp.")],
    provider: Annotated[
        str | None,
        typer.Option(help="Provider subsystem INSTANCE/CLASS/MEMBER/SUBSYSTEM (adapters)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Default 9443, or 8790 for sat-ocsp.")] = None,
    option: Annotated[list[str] | None, typer.Option(help="Adapter option KEY=VALUE.")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (default: the member's, in the PKI).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Its private key.")] = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Serve a source over HTTPS to the gateway alone (mutual TLS), or the dev OCSP responder.

    The gateway calls the source once it is registered with: enlace source register CODE
    --provider SUBSYSTEM --url https://HOST:PORT --tls-cert CERT
    """
    # Dev tooling is imported when the command runs: `enlace serve` must not load it.
    from gateway.devtools.population import seeded_options

    settings = common.settings(pki_dir=pki_dir)
    folder = pki.PkiDir(settings.pki_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if name == OCSP_RESPONDER:
        _run_responder(folder, host, port or DEFAULT_OCSP_PORT)
        return
    factories = adapter_factories()
    if name not in factories:
        known = ", ".join(sorted([*factories, OCSP_RESPONDER]))
        raise common.CliError("cli.unknown_source", f"no source {name!r}; known: {known}")
    if provider is None:
        raise common.CliError("cli.bad_option", "--provider is required to run an adapter")
    client = common.parse(ClientId, provider)
    member_tls = folder.member(client.member, "tls")
    cert, key = tls_cert or member_tls[0], tls_key or member_tls[1]
    if not cert.exists() or not key.exists():
        raise common.CliError(
            "pki.missing",
            f"no TLS certificate at {cert}: run `enlace pki issue {client.member} --tls-host "
            f"{host}`",
        )
    options = seeded_options(dict(common.key_values(option)), Path("var/datasets"))
    adapter = factories[name](options)
    source = server.SourceServer(
        adapter,
        folder.load_pair(folder.member(client.member)),
        provider=client,
        gateway=MemberId(settings.instance, "ENLACE", "gateway"),
    )
    port = port or 9443
    typer.echo(f"source {name} of {client} on https://{host}:{port} (mutual TLS, gateway only)")
    typer.echo(f"register it with: --url https://{host}:{port} --tls-cert {cert}")
    server.run(source.app(), host, port, server.server_ssl_context(cert, key, folder.ca_cert))


def _run_responder(folder: pki.PkiDir, host: str, port: int) -> None:
    # Dev tooling is imported when the command runs: `enlace serve` must not load it.
    from gateway.devtools import sat_pki as devpki
    from gateway.devtools.ocsp_responder import Responder, StatusFileError

    sat = devpki.SatDevPki(folder.root / "sat")
    if not sat.exists():
        raise common.CliError(
            "pki.missing", f"no SAT dev PKI in {sat.root}: run `enlace pki sat-init` first"
        )
    try:
        responder = Responder.from_directory(sat.ca_dir, sat.status_file)
    except StatusFileError as exc:
        raise common.CliError(exc.code, exc.message) from exc
    typer.echo(f"SAT OCSP responder on http://{host}:{port}/ (status from {sat.status_file})")
    server.run(responder.app(), host, port, None)
