"""The ledger's storage driver: how entries, tree nodes and the tree state are stored and read.

Owns the rows of ``ledger_entries``, ``ledger_subjects``, ``ledger_nodes`` and ``ledger_state``
and the differences between the two dialects ``gateway.storage.db`` opens (bulk inserts by COPY
on PostgreSQL, by the driver's executemany on SQLite). It decides nothing: the sequencer
(``sequencer``) says what to append, proofs (``proofs``) say which nodes to read.

Invariants: the state row's size is the size of its compact range (``LedgerCorrupt`` if not);
``locked_tree`` takes the ledger's sequencing lock (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already serialises writers) until the transaction ends, so
appends from the gateway's writer and an administrator's CLI keep indexes dense and ordered.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import merkle
from gateway.storage.db import ledger_entries, ledger_nodes, ledger_state, ledger_subjects
from gateway.storage.ledger.errors import LedgerCorrupt

#: Pairs per node query: far below SQLite's expression depth limit (1000) for the OR chain.
_NODES_PER_QUERY = 256
#: Indexes per ``IN`` list when reading entry bodies.
_BODIES_PER_QUERY = 500


def entry_columns(record: dict[str, Any]) -> dict[str, Any]:
    """The ``ledger_entries`` columns copied from a record (what queries filter on); the audit
    compares the stored ones with this."""
    return {
        "kind": record["kind"],
        "recorded_at": record.get("responded_at") or record.get("recorded_at"),
        "exchange_id": record.get("exchange_id"),
        "client": record.get("client"),
        "service": record.get("service"),
        "outcome": record.get("outcome") or record.get("action"),
    }


def entry_row(index: int, record: dict[str, Any], body: bytes, leaf: bytes) -> dict[str, Any]:
    """The ``ledger_entries`` row of ``record`` at ``index``, its canonical ``body`` and leaf."""
    return {"idx": index, "leaf_hash": leaf, **entry_columns(record), "body": body.decode()}


def locked_tree(conn: Connection) -> merkle.CompactRange:
    """The tree's frontier, with the ledger's sequencing lock held until the transaction ends."""
    size, packed = conn.execute(
        sa.select(ledger_state.c.size, ledger_state.c.compact_range)
        .where(ledger_state.c.id == 1)
        .with_for_update()
    ).one()
    tree = merkle.CompactRange.from_bytes(bytes(packed))
    if tree.size != size:
        raise LedgerCorrupt(f"ledger_state size {size} but its compact range has {tree.size}")
    return tree


def size(conn: Connection) -> int:
    """The committed tree's size, without taking the sequencing lock."""
    return conn.execute(sa.select(ledger_state.c.size).where(ledger_state.c.id == 1)).scalar_one()


def frontier(conn: Connection) -> merkle.CompactRange:
    """The committed tree's frontier (size and root), without taking the sequencing lock."""
    packed = conn.execute(
        sa.select(ledger_state.c.compact_range).where(ledger_state.c.id == 1)
    ).scalar_one()
    return merkle.CompactRange.from_bytes(bytes(packed))


def insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in bulk, two to three times faster than SQLAlchemy's executemany: COPY on
    PostgreSQL (one stream, not a statement per row); on SQLite, the only other dialect
    gateway.storage.db opens, the driver's executemany without per-row parameter processing."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(columns)
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})",
            [tuple(row[c] for c in columns) for row in rows],
        )
        return
    statement = f"COPY {table.name} ({names}) FROM STDIN"
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    except dbapi_error as exc:  # raise what SQLAlchemy raises for the executemany path
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi_error) from exc


def store_batch(
    conn: Connection,
    entries: list[dict[str, Any]],
    subjects: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    tree: merkle.CompactRange,
) -> None:
    """Store a batch in ``conn``'s transaction: its entry rows (``entry_row``), subject index
    rows, the perfect subtrees it completes, and the tree's new frontier in the state row (whose
    lock ``locked_tree`` took), so a committed index always has its tree state."""
    insert(conn, ledger_entries, entries)
    insert(conn, ledger_subjects, subjects)
    insert(conn, ledger_nodes, nodes)
    conn.execute(
        sa.update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(size=tree.size, compact_range=tree.to_bytes())
    )


@functools.lru_cache(maxsize=_NODES_PER_QUERY)
def _nodes_query(count: int) -> sa.TextClause:
    """``SELECT … WHERE (level = :l0 AND idx = :i0) OR …`` for ``count`` pairs, built once."""
    pairs = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(count))
    return sa.text(f"SELECT level, idx, hash FROM {ledger_nodes.name} WHERE {pairs}")


def read_nodes(conn: Connection, nodes: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    """Stored hashes of the given perfect subtrees; absent ones are simply missing.

    One query per 256 nodes (a proof needs at most 2·64): an OR of (level, idx) pairs, which
    both SQLite (multi-index OR) and PostgreSQL (BitmapOr) answer with primary-key lookups —
    SQLite would scan the table for the row-value form ``(level, idx) IN (VALUES …)``. The
    statement text is cached per number of pairs: building it as an expression each time cost
    more than running it.
    """
    found: dict[merkle.NodeId, bytes] = {}
    wanted = sorted(set(nodes))
    for start in range(0, len(wanted), _NODES_PER_QUERY):
        chunk = wanted[start : start + _NODES_PER_QUERY]
        params = {}
        for n, (level, idx) in enumerate(chunk):
            params[f"l{n}"], params[f"i{n}"] = level, idx
        rows = conn.execute(_nodes_query(len(chunk)), params)
        found.update({(level, idx): bytes(h) for level, idx, h in rows})
    return found


def node_reader(conn: Connection) -> merkle.NodeReader:
    """A ``merkle.NodeReader`` over this connection: one query per proof or root."""
    return lambda nodes: read_nodes(conn, nodes)


def read_bodies(conn: Connection, indexes: Iterable[int]) -> dict[int, bytes]:
    """The stored record bodies of the entries at ``indexes``; absent ones are simply missing."""
    wanted = sorted(set(indexes))
    bodies: dict[int, bytes] = {}
    for start in range(0, len(wanted), _BODIES_PER_QUERY):
        chunk = wanted[start : start + _BODIES_PER_QUERY]
        query = sa.select(ledger_entries.c.idx, ledger_entries.c.body).where(
            ledger_entries.c.idx.in_(chunk)
        )
        bodies.update({idx: body.encode() for idx, body in conn.execute(query)})
    return bodies
