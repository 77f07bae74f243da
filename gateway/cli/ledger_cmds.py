"""``enlace ledger``: reading and checking the audit ledger."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gateway.cli import common
from gateway.ledger import store

ledger_app = typer.Typer(help="The audit ledger.", no_args_is_help=True)


@ledger_app.command("tail")
def ledger_tail(
    count: Annotated[int, typer.Option("-n", help="How many entries.")] = 20,
    database_url: common.DatabaseOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """The newest ledger entries."""
    with common.database(common.settings(database_url)).read.connect() as conn:
        entries = store.tail(conn, count)
    if as_json:
        typer.echo(
            json.dumps([{"index": i, "entry": e} for i, e in entries], ensure_ascii=False, indent=2)
        )
        return
    for index, entry in entries:
        typer.echo(describe_entry(index, entry))


def describe_entry(index: int, entry: dict[str, Any]) -> str:
    """One line for a ledger entry, for people (no personal data: subjects are pseudonyms)."""
    if entry.get("kind") == "admin":
        return (
            f"#{index:<5} {entry['recorded_at']}  admin     {entry['action']:<18} "
            f"{entry['target']}  by {entry['actor']}"
        )
    subject = (entry.get("subjects") or ["-"])[0][:12]
    outcome = entry["outcome"] + (f" ({entry['error']})" if entry.get("error") else "")
    return (
        f"#{index:<5} {entry['responded_at']}  exchange  {outcome:<18} "
        f"{entry.get('client')} -> {entry.get('service')}  purpose={entry.get('purpose')} "
        f"basis={entry.get('legal_basis')} official={entry.get('user_id')} "
        f"case={entry.get('issue')} "
        f"subject={subject}…"
    )
