"""Ledger storage: appending records in sequence inside a caller's transaction, and reading.

Sequencing is done under a row lock on ``ledger_state`` (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so the gateway's writer
and an administrator's CLI can append concurrently and indexes stay dense and ordered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.db import ledger_entries, ledger_state, ledger_subjects
from gateway.ledger import record as rec


class LedgerUnavailable(Exception):
    """The ledger could not durably record an entry; the exchange must not happen."""


def leaf_hash(body: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + body).digest()


@dataclass(frozen=True)
class Appended:
    index: int
    leaf_hash: bytes


def _row(index: int, record: dict[str, Any], body: bytes, leaf: bytes) -> dict[str, Any]:
    return {
        "idx": index,
        "leaf_hash": leaf,
        "kind": record["kind"],
        "recorded_at": record.get("responded_at") or record.get("recorded_at"),
        "exchange_id": record.get("exchange_id"),
        "client": record.get("client"),
        "service": record.get("service"),
        "outcome": record.get("outcome") or record.get("action"),
        "body": body.decode(),
    }


def append(conn: Connection, records: list[dict[str, Any]]) -> list[Appended]:
    """Append records at the end of the ledger within ``conn``'s open transaction."""
    if not records:
        return []
    size = conn.execute(
        sa.select(ledger_state.c.size).where(ledger_state.c.id == 1).with_for_update()
    ).scalar_one()
    rows, subjects, appended = [], [], []
    for offset, record in enumerate(records):
        body = rec.canonical(record)
        leaf = leaf_hash(body)
        rows.append(_row(size + offset, record, body, leaf))
        subjects += [{"subject": s, "idx": size + offset} for s in record.get("subjects") or ()]
        appended.append(Appended(size + offset, leaf))
    conn.execute(sa.insert(ledger_entries), rows)
    if subjects:
        conn.execute(sa.insert(ledger_subjects), subjects)
    conn.execute(
        sa.update(ledger_state).where(ledger_state.c.id == 1).values(size=size + len(rows))
    )
    return appended


def size(conn: Connection) -> int:
    return conn.execute(sa.select(ledger_state.c.size).where(ledger_state.c.id == 1)).scalar_one()


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
    total = size(conn)
    return entries(conn, start=max(0, total - count), limit=count)
