"""Reading the ledger's entries back as records, for the CLI (``enlace ledger tail``), the
demo, and a restarted gateway's replay cache (``recent_exchange_ids``). Read-only; the records
are decoded from their stored bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.storage.db import ledger_entries
from gateway.storage.ledger import driver


def entries(
    conn: Connection, *, start: int = 0, limit: int = 100, kind: str | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Entries from index ``start`` on, decoded."""
    query = sa.select(ledger_entries.c.idx, ledger_entries.c.body).where(
        ledger_entries.c.idx >= start
    )
    if kind:
        query = query.where(ledger_entries.c.kind == kind)
    rows = conn.execute(query.order_by(ledger_entries.c.idx).limit(limit)).all()
    return [(idx, json.loads(body)) for idx, body in rows]


def tail(conn: Connection, count: int) -> list[tuple[int, dict[str, Any]]]:
    """The last ``count`` entries, decoded."""
    total = driver.size(conn)
    return entries(conn, start=max(0, total - count), limit=count)


def recent_exchange_ids(conn: Connection, since: str, chunk: int = 1000) -> Iterator[str]:
    """``client:X-Road-Id`` of the verified exchanges recorded at or after ``since`` (an RFC 3339
    UTC timestamp as records write it), newest first. Read back from the end of the ledger by
    index, so the cost is the window's entries, not the ledger's."""
    end = driver.size(conn)
    while end > 0:
        start = max(0, end - chunk)
        query = (
            sa.select(ledger_entries.c.recorded_at, ledger_entries.c.body)
            .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < end)
            .order_by(ledger_entries.c.idx.desc())
        )
        for recorded_at, body in conn.execute(query):
            if recorded_at < since:
                return
            record = json.loads(body)
            if record.get("kind") == "exchange" and record.get("client_verified"):
                yield f"{record['client']}:{record['exchange_id']}"
        end = start
