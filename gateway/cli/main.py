"""The ``enlace`` command: the administrator's command line.

Each area lives in its own module (``*_cmds.py``) as a thin layer over the library; this module
assembles them. Any catalogued error (``gateway.kernel.errors.CodedError``) escaping a command
prints one line ``error [code]: message`` on stderr, never a stack trace, and exits with status 2
for a usage error (the command or the registry change cannot be done as given), 1 otherwise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

# typer (pinned to 0.29.x in pyproject.toml) raises the exceptions of the click it bundles, not
# those of any installed ``click``.
from typer._click.exceptions import (
    BadParameter,
    ClickException,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperGroup

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
from gateway.kernel.settings import Settings, SettingsError
from gateway.storage import db as dbm
from gateway.storage import exclusive, registry

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
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8443,
    insecure_http: Annotated[
        bool,
        typer.Option("--insecure-http", help="Plain HTTP, only behind a TLS-terminating proxy."),
    ] = False,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Gateway processes on this port (PostgreSQL only; SQLite: 1)."
        ),
    ] = 1,
) -> None:
    """Run the gateway over HTTPS with the instance's TLS certificate.

    The database must exist with its schema (enlace db upgrade, or enlace member add). Citizen
    login by e.firma needs the SAT CA certificates (ENLACE_CITIZEN_SAT_TRUST_DIR, default
    PKI/sat/trust: enlace pki sat-init creates dev ones) and an OCSP responder
    (ENLACE_CITIZEN_OCSP_URL, e.g. enlace source run sat-ocsp); the citizen page at /ciudadano/
    needs node-forge (bash gateway/web/install.sh).
    """
    from gateway.server import run

    settings = common.settings(database_url, pki_dir)
    if not pki.PkiDir(settings.pki_dir).exists():
        raise common.CliError(
            "pki.missing", f"no PKI in {settings.pki_dir}: run `enlace pki init` first"
        )
    opened = common.existing_database(settings)
    opened.dispose()
    if opened.is_sqlite and workers > 1:
        raise common.CliError(
            "db.single_process",
            "SQLite serves from one process: --workers needs PostgreSQL (ENLACE_DATABASE_URL)",
        )
    # SQLite: this process holds the database for its whole life (a second one is refused).
    exclusive.acquire(settings.database_url)
    for line in _citizen_login_status(settings):
        typer.echo(line, err=True)
    run.serve(settings, host, port, tls=not insecure_http, workers=workers)


def _citizen_login_status(settings: Settings) -> list[str]:
    """What citizen login by e.firma needs that this instance lacks, and how to provide it."""
    trust = settings.citizen_sat_trust_dir or settings.pki_dir / "sat" / "trust"
    missing = []
    if not trust.is_dir():
        missing.append(
            f"the SAT CA certificates (ENLACE_CITIZEN_SAT_TRUST_DIR; default {trust}, which "
            "`enlace pki sat-init` fills with dev ones)"
        )
    if settings.citizen_ocsp_url is None:
        missing.append(
            "an OCSP responder (ENLACE_CITIZEN_OCSP_URL, e.g. http://127.0.0.1:8790/ from "
            "`enlace source run sat-ocsp`)"
        )
    lines = [f"citizen login disabled: it needs {need}" for need in missing]
    if not missing:
        lines.append(f"citizen login enabled: SAT trust {trust}, OCSP {settings.citizen_ocsp_url}")
    if not _FORGE.is_file():
        lines.append(
            "the citizen page /ciudadano/ needs node-forge: run `bash gateway/web/install.sh`"
        )
    return lines


#: The citizen page's one third-party script (gateway/web/install.sh installs it).
_FORGE = Path(__file__).parents[1] / "web" / "static" / "vendor" / "forge.min.js"


@app.command("demo")
def demo(
    citizens: Annotated[
        int, typer.Option(min=1, help="Synthetic citizens in the RENAPO registry.")
    ] = 1000,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the demo's database and PKI in this directory.")
    ] = None,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            "--serve",
            help="Afterwards keep the gateway running for the citizen page, until Ctrl-C.",
        ),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="The gateway's port (default: a free one)."),
    ] = None,
) -> None:
    """The whole product on the embedded default, narrated: exchanges, SAT, ledger, citizen."""
    from gateway.devtools.demo import run_demo

    run_demo(citizens=citizens, keep=keep, keep_running=keep_running, port=port)


#: Errors that mean the command cannot be done as given: the administrator must change it.
_USAGE_ERRORS = (common.CliError, registry.RegistryError, SettingsError, dbm.DatabaseError)


def _fail(code: str, message: str, status: int) -> NoReturn:
    """The one line every user error prints, and its exit status."""
    line = " ".join(message.split())  # never more than one line
    typer.echo(f"error [{code}]: {line}", err=True)
    sys.exit(status)


def _usage_code(exc: UsageError) -> str:
    if isinstance(exc, NoSuchOption):
        return "cli.unknown_option"
    if isinstance(exc, MissingParameter):
        return "cli.missing_parameter"
    if isinstance(exc, BadParameter):
        return "cli.bad_option"
    if exc.message.startswith("No such command"):
        return "cli.unknown_command"
    return "cli.usage"


def _usage_message(exc: UsageError) -> str:
    """Click's message, with where to read more when it knows the command."""
    if exc.ctx is None:
        return exc.format_message()
    return f"{exc.ctx.command_path}: {exc.format_message()} (see {exc.ctx.command_path} --help)"


def _missing_command(exc: NoArgsIsHelpError) -> str:
    ctx = exc.ctx
    group = ctx.command
    names = group.list_commands(ctx) if isinstance(group, TyperGroup) else []
    return f"{ctx.command_path} needs a command: {', '.join(names)} (see {ctx.command_path} --help)"


def main() -> None:
    try:
        result = app(prog_name="enlace", standalone_mode=False)
    except CodedError as exc:
        _fail(exc.code, exc.message, 2 if isinstance(exc, _USAGE_ERRORS) else 1)
    except NoArgsIsHelpError as exc:
        _fail("cli.missing_command", _missing_command(exc), 2)
    except UsageError as exc:
        _fail(_usage_code(exc), _usage_message(exc), 2)
    except ClickException as exc:
        _fail("cli.usage", exc.format_message(), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except OSError as exc:
        if exc.filename is None:  # not a file's (a socket's, say): not the user's to fix here
            raise
        # A file or directory named on the command line: missing, taken, not a directory, …
        _fail("cli.bad_file", f"{exc.strerror or exc}: {exc.filename}", 2)
    sys.exit(result if isinstance(result, int) else 0)
