"""Shared pieces of the ``enlace`` commands: settings, database, identifier parsing, output."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.kernel.errors import CodedError
from gateway.kernel.ids import InvalidIdentifier
from gateway.kernel.settings import Settings
from gateway.storage import db as dbm

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="ENLACE_DATABASE_URL",
        help="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB.",
    ),
]
PkiOpt = Annotated[
    Path | None,
    typer.Option(
        "--pki-dir", envvar="ENLACE_PKI_DIR", help="PKI directory (enlace pki init creates it)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


class CliError(CodedError):
    """A command given wrongly (a usage error): printed as ``error [code]: message``, exit 2."""


def settings(database_url: str | None = None, pki_dir: Path | None = None) -> Settings:
    return Settings.from_env(database_url=database_url, pki_dir=pki_dir)


def database(config: Settings) -> dbm.Database:
    """Open the database for a registry change, creating it and its schema when missing."""
    opened = dbm.open_database(config.database_url, config)
    dbm.upgrade(opened)
    return opened


def existing_database(config: Settings) -> dbm.Database:
    """Open a database that must already exist with its schema (brought up to date): reading
    commands and ``serve`` refuse a typo'd URL instead of creating an empty database."""
    opened = dbm.open_database(config.database_url, create=False)
    try:
        dbm.check_schema(opened)
        dbm.upgrade(opened)
    except Exception:
        opened.dispose()
        raise
    return opened


def parse(kind: Any, text: str) -> Any:
    """An identifier argument; its wire-protocol error becomes the CLI's ``cli.bad_identifier``."""
    try:
        return kind.parse(text)
    except InvalidIdentifier as exc:
        raise CliError("cli.bad_identifier", str(exc)) from exc


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def hosts(values: list[str] | None, option: str) -> list[str] | None:
    """Host names or IP addresses for a TLS certificate, each checked (``cli.bad_option``):
    a name that no client could ask for would only be found out at the first handshake."""
    for value in values or []:
        try:
            ipaddress.ip_address(value)
            continue
        except ValueError:
            pass
        labels = value.removesuffix(".").split(".")
        if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise CliError("cli.bad_option", f"{option} {value!r} is no host name or IP address")
    return values


def key_values(items: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` command-line options as a dict."""
    options: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError("cli.bad_option", f"option {item!r} must be KEY=VALUE")
        options[key] = value
    return options


def table(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        typer.echo("(none)")
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        typer.echo("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
