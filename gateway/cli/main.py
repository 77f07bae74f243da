"""The ``enlace`` command: the administrator's command line.

Each area lives in its own module (``*_cmds.py``) as a thin layer over the library; this module
assembles them. Any catalogued error (``gateway.kernel.errors.CodedError``) escaping a command
prints one line ``error [code]: message`` on stderr, never a stack trace, and exits with status 2
for a usage error (the command or the registry change cannot be done as given), 1 otherwise."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli import common
from gateway.cli.curp_cmds import curp_app
from gateway.cli.disclose_cmds import ledger_disclose
from gateway.cli.efirma_cmds import efirma_app
from gateway.cli.evidence_cmds import evidence_app
from gateway.cli.ledger_cmds import ledger_app
from gateway.cli.pki_cmds import pki_app
from gateway.cli.registry_cmds import (
    acl_app,
    client_app,
    db_app,
    legal_basis_app,
    member_app,
    purpose_app,
    service_app,
    source_app,
)
from gateway.cli.seed_cmds import seed_population
from gateway.cli.source_cmds import source_run
from gateway.cli.witness_cmds import witness_app
from gateway.kernel import pki
from gateway.kernel.errors import CodedError
from gateway.storage import registry

app = typer.Typer(help="Enlace once-only data-exchange gateway.", no_args_is_help=True)
for sub, name in (
    (pki_app, "pki"),
    (db_app, "db"),
    (member_app, "member"),
    (client_app, "client"),
    (source_app, "source"),
    (service_app, "service"),
    (acl_app, "acl"),
    (purpose_app, "purpose"),
    (legal_basis_app, "legal-basis"),
    (curp_app, "curp"),
    (efirma_app, "efirma"),
    (evidence_app, "evidence"),
    (ledger_app, "ledger"),
    (witness_app, "witness"),
):
    app.add_typer(sub, name=name)
ledger_app.command("disclose")(ledger_disclose)
source_app.command("run")(source_run)
app.command("seed")(seed_population)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8443,
    insecure_http: Annotated[
        bool,
        typer.Option("--insecure-http", help="Plain HTTP, only behind a TLS-terminating proxy."),
    ] = False,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Run the gateway over HTTPS with the instance's TLS certificate."""
    import uvicorn

    from gateway.server.run import uvicorn_config

    settings = common.settings(database_url, pki_dir)
    if not pki.PkiDir(settings.pki_dir).exists():
        raise common.CliError(
            "pki.missing", f"no PKI in {settings.pki_dir}: run `enlace pki init` first"
        )
    common.database(settings).dispose()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.Server(
        uvicorn_config(settings, host, port, tls=not insecure_http, log_level="info")
    ).run()


@app.command("demo")
def demo(
    citizens: Annotated[
        int, typer.Option(help="Synthetic citizens in the RENAPO registry.")
    ] = 1000,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the demo's database and PKI here.")
    ] = None,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            "--serve",
            help="Afterwards keep the gateway running for the citizen page, until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """The whole product on the embedded default, narrated: exchanges, SAT, ledger, citizen."""
    from gateway.devtools.demo import run_demo

    run_demo(citizens=citizens, keep=keep, keep_running=keep_running)


#: Errors that mean the command cannot be done as given: the administrator must change it.
_USAGE_ERRORS = (common.CliError, registry.RegistryError)


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except CodedError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        sys.exit(2 if isinstance(exc, _USAGE_ERRORS) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(result if isinstance(result, int) else 0)
