"""Reading the ledger's entries back as records, for the CLI (``enlace ledger tail``) and the
demo. Read-only; the records are decoded from their stored bodies, in index order.
"""

from __future__ import annotations

import json
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
