"""``enlace ledger disclose``: end a covert period early, so the citizen sees the entries.

A thin layer over ``gateway.storage.disclosure``: the entries are named by index, or as every still
covert exchange of one client with one service; the disclosure is recorded in the ledger as an
``admin`` record ``ledger.disclose`` (actor, reason, indexes). Records are never altered.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from gateway.cli import common
from gateway.kernel.ids import ClientId, ServiceId
from gateway.storage import disclosure


def ledger_disclose(
    index: Annotated[int | None, typer.Argument(help="Ledger index of the entry.")] = None,
    client: Annotated[
        str | None, typer.Option(help="Disclose every covert exchange of this client...")
    ] = None,
    service: Annotated[str | None, typer.Option(help="...with this service.")] = None,
    reason: Annotated[str, typer.Option(help="Why, e.g. the investigation's closing act.")] = "",
    database_url: common.DatabaseOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Show covert entries (hidden by their grant's --hidden-until) to their citizens now."""
    if (index is None) == (client is None and service is None):
        raise common.CliError("cli.bad_option", "give an INDEX, or --client and --service")
    if index is None and (client is None or service is None):
        raise common.CliError("cli.bad_option", "--client and --service go together")
    if not reason.strip():
        raise common.CliError("cli.bad_option", "--reason is required: say why")
    db = common.existing_database(common.settings(database_url))
    today = dt.datetime.now(dt.UTC).date()
    try:
        with db.read.connect() as conn:
            if index is not None:
                covert = [disclosure.covert_entry(conn, index, today)]
                scope: dict[str, str] = {}
            else:
                client_id = str(common.parse(ClientId, client or ""))
                service_id = str(common.parse(ServiceId, service or ""))
                covert = disclosure.covert_entries(conn, client_id, service_id, today)
                scope = {"client": client_id, "service": service_id}
        count = disclosure.disclose(db, covert, reason.strip(), scope)
    finally:
        db.dispose()
    indexes = sorted(c.index for c in covert)
    if as_json:
        common.table([{"disclosed": count, "indexes": indexes}], True)
    else:
        typer.echo(f"disclosed {count} entr{'y' if count == 1 else 'ies'}: {indexes}")
