"""The subject map on a database: its nodes, each key's value, the fold that closes a checkpoint.

Owns ``ledger_map_nodes`` (the tree's nodes, current version), ``ledger_map_values`` (each key's
count, latest index and chain in the newest map head) and ``ledger_map_state`` (that head's
index, key count and root). The maths is ``gateway.kernel.ledger.subjectmap``; docs/ledger.md
§12 specifies it.

A checkpoint's fold runs in two phases, so that the sequencing lock is held only for the tail:

1. ``prefold``, before the signing transaction, in a read-only snapshot of its own that takes
   no lock: the committed size S0 and the map state, the ``ledger_subjects`` rows (with their
   leaf hashes) of the entries after the map head and before S0, folded in memory into the
   chains and the tree (``subjectmap.fold``). Nothing is written: the stored nodes and values
   must stay the current map head's (citizens' proofs read them) until the next map head is.
2. ``close``, in the publisher's signing transaction, under the sequencing lock: if the map
   state is still the one phase 1 started from, it folds only the rows of the entries [S0, S1)
   appended meanwhile on top of phase 1's result (its nodes and values laid over the stored
   ones), else (another signer moved the map, or no phase 1) every row since the map head;
   then writes the changed nodes and values, and appends the map head record at the end of the
   log through the same batch path as every append, so indexes stay dense whoever else
   appends.

Stored nodes and values are read through this process's copy (``mapcache``) in both phases.
Nothing of this is on the per-exchange path. ``prove`` reads a key's value and map proof as of
the newest map head.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import merkle, subjectmap
from gateway.kernel.ledger import record as rec
from gateway.storage import db
from gateway.storage.db import (
    ledger_entries,
    ledger_map_nodes,
    ledger_map_state,
    ledger_map_values,
    ledger_subjects,
)
from gateway.storage.ledger import driver, mapcache
from gateway.storage.ledger.batch import prepare, sequence
from gateway.storage.ledger.mapcache import MapState

__all__ = [
    "MapState",
    "Prefold",
    "close",
    "fold",
    "prefold",
    "prove",
    "read_nodes",
    "read_values",
    "state",
]

#: Keys per ``IN`` list on SQLite (PostgreSQL takes one array per depth).
_PER_QUERY = 500

_NODE_COLUMNS = "depth, path, hash, key, value"
_VALUE_COLUMNS = "subject, count, latest, chain"
#: PostgreSQL types of those columns, for the upserts' arrays.
_NODE_TYPES = ("int2", "bytea", "bytea", "bytea", "bytea")
_VALUE_TYPES = ("text", "int8", "int8", "bytea")


def _upsert(table: str, columns: str, key: str, types: Sequence[str] | None) -> str:
    """Insert-or-update rows of ``table`` by ``key``: one row of ``?`` parameters (SQLite's
    ``executemany``), or with ``types`` (PostgreSQL) one array of each column, in binary,
    ``unnest``-ed: one statement for every row, none of psycopg's per-row work."""
    names = [c.strip() for c in columns.split(",")]
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in key)
    if types is None:
        rows = "VALUES (" + ", ".join("?" for _ in names) + ")"
    else:
        rows = "SELECT * FROM unnest(" + ", ".join(f"%b::{t}[]" for t in types) + ")"
    return f"INSERT INTO {table} ({columns}) {rows} ON CONFLICT ({key}) DO UPDATE SET {updates}"


@contextlib.contextmanager
def _cursor(conn: Connection) -> Iterator[tuple[Any, bool]]:
    """A DBAPI cursor inside ``conn``'s transaction, and whether it is PostgreSQL's: the map's
    reads and writes are many small rows, where SQLAlchemy's per-statement and per-parameter
    work cost more than the database (as for the ledger's own bulk inserts, ``driver``)."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    raw = conn.connection.dbapi_connection
    assert raw is not None
    try:
        with contextlib.closing(raw.cursor()) as cursor:
            yield cursor, conn.dialect.name == "postgresql"
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance("subject map", None, exc, dbapi_error) from exc


def state(conn: Connection) -> MapState:
    m = ledger_map_state.c
    row = conn.execute(sa.select(m.head, m["keys"], m.root).where(m.id == 1)).one_or_none()
    if row is None:
        return MapState(-1, 0, subjectmap.EMPTY)
    return MapState(int(row[0]), int(row[1]), bytes(row[2]))


def _node(key: Any, digest: Any, value: Any) -> subjectmap.MapNode:
    return subjectmap.MapNode(
        bytes(digest), None if key is None else bytes(key), None if value is None else bytes(value)
    )


def _select(cursor: Any, postgres: bool, table: str, columns: str, where: str, chunk: list) -> list:
    """Rows of ``table`` where ``where`` (ending in the key column) is in ``chunk``."""
    if postgres:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE {where} = ANY(%s)", (chunk,))
    else:
        marks = ", ".join("?" for _ in chunk)
        cursor.execute(f"SELECT {columns} FROM {table} WHERE {where} IN ({marks})", chunk)
    return list(cursor.fetchall())


def read_nodes(
    conn: Connection, positions: Sequence[subjectmap.NodePos]
) -> dict[subjectmap.NodePos, subjectmap.MapNode]:
    """Stored nodes at ``positions``: one query per depth (and per 500 paths on SQLite)."""
    by_depth: dict[int, list[bytes]] = {}
    for depth, path in set(positions):
        by_depth.setdefault(depth, []).append(path)
    found: dict[subjectmap.NodePos, subjectmap.MapNode] = {}
    table = ledger_map_nodes.name
    with _cursor(conn) as (cursor, postgres):
        for depth, paths in sorted(by_depth.items()):
            step = len(paths) if postgres else _PER_QUERY
            for start in range(0, len(paths), step):
                chunk = paths[start : start + step]
                where = f"depth = {int(depth)} AND path"
                rows = _select(cursor, postgres, table, "path, hash, key, value", where, chunk)
                for path, digest, key, value in rows:
                    found[(depth, bytes(path))] = _node(key, digest, value)
    return found


def read_values(conn: Connection, subjects: Iterable[str]) -> dict[str, subjectmap.Value]:
    """The values of ``subjects`` in the newest map head (absent ones are not in the map)."""
    wanted = sorted(set(subjects))
    found = {}
    with _cursor(conn) as (cursor, postgres):
        step = max(len(wanted), 1) if postgres else _PER_QUERY
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            rows = _select(
                cursor, postgres, ledger_map_values.name, _VALUE_COLUMNS, "subject", chunk
            )
            for subject, count, latest, chain in rows:
                found[subject] = subjectmap.Value(count, latest, bytes(chain))
    return found


def _rows_since(conn: Connection, head: int, size: int) -> list[tuple[str, int, bytes]]:
    """(subject, index, leaf hash) of the entries after map head ``head`` and before ``size``."""
    with _cursor(conn) as (cursor, postgres):
        mark = "%s" if postgres else "?"
        cursor.execute(
            f"SELECT s.subject, s.idx, e.leaf_hash FROM {ledger_subjects.name} s "
            f"JOIN {ledger_entries.name} e ON e.idx = s.idx "
            f"WHERE s.idx > {mark} AND s.idx < {mark} ORDER BY s.idx, s.subject",
            (head, size),
        )
        return [(subject, idx, bytes(leaf)) for subject, idx, leaf in cursor.fetchall()]


def _write(
    conn: Connection,
    nodes: Mapping[subjectmap.NodePos, subjectmap.MapNode],
    values: Mapping[str, subjectmap.Value],
) -> None:
    """Upsert the changed nodes and values: a statement per table on PostgreSQL (``_upsert``),
    an ``executemany`` on SQLite."""
    tables = (
        (ledger_map_nodes.name, _NODE_COLUMNS, "depth, path", _NODE_TYPES,
         [(d, p, n.hash, n.key, n.value) for (d, p), n in nodes.items()]),
        (ledger_map_values.name, _VALUE_COLUMNS, "subject", _VALUE_TYPES,
         [(k, v.count, v.latest, v.chain) for k, v in values.items()]),
    )  # fmt: skip
    with _cursor(conn) as (cursor, postgres):
        for table, columns, key, types, rows in tables:
            if not rows:
                continue
            if postgres:
                cursor.execute(
                    _upsert(table, columns, key, types), [list(c) for c in zip(*rows, strict=True)]
                )
            else:
                cursor.executemany(_upsert(table, columns, key, None), rows)


@dataclasses.dataclass(frozen=True)
class Prefold:
    """Phase 1 (``prefold``): the fold of the entries after map head ``state.head`` and before
    ``size``, over the map as of ``state``; nothing of it written."""

    state: MapState
    size: int
    folded: subjectmap.Folded


def _fold(
    conn: Connection, cache: mapcache.MapCache, base: subjectmap.Folded, after: int, size: int
) -> subjectmap.Folded:
    """``base`` (a fold over the stored map, not written) with the subject rows of entries
    ``after`` < i < ``size`` folded on top; the stored nodes and values read through
    ``cache``, so a steady fold mostly hashes."""
    rows = _rows_since(conn, after, size)
    subjects = {subject for subject, _, _ in rows} - base.values.keys()
    stored = cache.read_values(subjects, lambda s: read_values(conn, s))
    source = cache.node_source(lambda p: read_nodes(conn, p))
    return subjectmap.fold(base, source, stored, rows)


def prefold(engine: sa.Engine) -> Prefold | None:
    """Phase 1: fold the committed entries since the map head in memory, in a snapshot of
    its own that takes no lock (the module docstring). None if the stored rows do not fold
    (``ValueError``): the locked path then folds them again, after the history check, and
    fails as it would have."""
    with db.snapshot(engine) as conn:
        current, size = state(conn), driver.size(conn)
        with mapcache.use(engine, current) as cache:
            base = subjectmap.Folded(current.root, current.keys)
            try:
                folded = _fold(conn, cache, base, current.head, size)
            except ValueError:
                return None
    return Prefold(current, size, folded)


def fold(
    conn: Connection, current: MapState, size: int, prefolded: Prefold | None = None
) -> subjectmap.Folded:
    """Fold the subject rows of entries ``current.head`` < i < ``size`` into the stored map
    and write the changed nodes and values (``head`` not yet moved): on top of ``prefolded``
    (phase 1) when it started from ``current``, else all of them."""
    base, after = subjectmap.Folded(current.root, current.keys), current.head
    if prefolded is not None and prefolded.state == current and prefolded.size <= size:
        base, after = prefolded.folded, prefolded.size - 1
    with mapcache.use(conn.engine, current) as cache:
        folded = _fold(conn, cache, base, after, size)
        _write(conn, folded.nodes, folded.values)
        cache.wrote(MapState(size, folded.keys, folded.root), folded.nodes, folded.values)
    return folded


def close(
    conn: Connection, tree: merkle.CompactRange, prefolded: Prefold | None = None
) -> merkle.CompactRange:
    """End ``tree`` (locked by the caller) with a map head covering every entry before it,
    unless its last entry already is one; the tree as it then is. ``prefolded``: phase 1's
    fold, if one was made (``prefold``)."""
    current = state(conn)
    if tree.size > 0 and current.head == tree.size - 1:
        return tree
    folded = fold(conn, current, tree.size, prefolded)
    batch = sequence(tree, [prepare(rec.map_head(tree.size, folded.keys, folded.root))])
    driver.store_batch(conn, batch.rows, batch.tree)
    values = {"head": tree.size, "keys": folded.keys, "root": folded.root}
    changed = conn.execute(
        sa.update(ledger_map_state).where(ledger_map_state.c.id == 1).values(**values)
    )
    if changed.rowcount != 1:
        conn.execute(sa.insert(ledger_map_state).values(id=1, **values))
    return batch.tree


def prove(conn: Connection, subject: str) -> tuple[subjectmap.Value | None, subjectmap.MapProof]:
    """``subject``'s value in the newest map head (None: absent) and its map proof."""
    value = read_values(conn, [subject]).get(subject)
    proof = subjectmap.prove(lambda p: read_nodes(conn, p), subjectmap.key_of(subject))
    return value, proof
