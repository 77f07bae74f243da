"""``enlace witness``: run an independent C2SP tlog-witness (``gateway.witness``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli import common
from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import checkpoint
from gateway.witness.logs import LogConfigError, read_config, trusted_logs
from gateway.witness.state import WitnessDir, WitnessStateError

witness_app = typer.Typer(help="An independent witness of signed logs.", no_args_is_help=True)

DirOpt = Annotated[
    Path,
    typer.Option("--dir", help="The witness's state directory."),
]


@witness_app.command("init")
def witness_init(
    directory: DirOpt,
    name: Annotated[str, typer.Option(help="Witness key name, e.g. inai.example/witness.")],
) -> None:
    """Create a witness's state directory and key; print the verifier key to publish."""
    try:
        key = WitnessDir(directory).init(name)
    except WitnessStateError as exc:
        raise common.CliError("ledger.witness_state", str(exc)) from exc
    except checkpoint.KeyFormatError as exc:
        raise common.CliError("cli.bad_option", f"--name: {exc}") from exc
    typer.echo(key.verifier().to_vkey())


@witness_app.command("serve")
def witness_serve(
    directory: DirOpt,
    log: Annotated[
        list[str] | None,
        typer.Option("--log", help="ORIGIN=VKEY of a log to witness (repeatable)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A file of ORIGIN=VKEY lines, one log each.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8780,
    prefix: Annotated[str, typer.Option(help="Submission prefix (URL path).")] = "",
    tls_cert: Annotated[Path | None, typer.Option(help="HTTPS certificate chain (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="HTTPS private key (PEM).")] = None,
) -> None:
    """Answer POST /add-checkpoint for the given logs until stopped (docs/operations.md)."""
    if (tls_cert is None) != (tls_key is None):
        raise common.CliError("cli.bad_option", "give both --tls-cert and --tls-key, or neither")
    try:
        logs = trusted_logs([*(log or []), *(read_config(config) if config else [])])
    except LogConfigError as exc:
        raise common.CliError("ledger.witness_log", str(exc)) from exc
    if not logs:
        raise common.CliError("ledger.witness_log", "no log to witness: give --log or --config")
    from gateway.witness.app import Witness, serve  # aiohttp's server: only for this command

    store = WitnessDir(directory)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        with store.lock():
            witness = Witness(store, logs)
            tls = (tls_cert, tls_key) if tls_cert and tls_key else None
            serve(witness, host, port, prefix=prefix, tls=tls)
    except WitnessStateError as exc:
        raise common.CliError("ledger.witness_state", str(exc)) from exc


@witness_app.command("show")
def witness_show(directory: DirOpt) -> None:
    """Print the witness's verifier key and its latest cosigned head per origin (JSON)."""
    store = WitnessDir(directory)
    try:
        vkey, heads = store.key().verifier().to_vkey(), store.heads()
    except WitnessStateError as exc:
        raise common.CliError("ledger.witness_state", str(exc)) from exc
    shown = {o: {"size": h.size, "root_hash": b64encode(h.root_hash)} for o, h in heads.items()}
    typer.echo(json.dumps({"vkey": vkey, "logs": shown}, indent=2))
