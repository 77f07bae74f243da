"""The subject map on a database: its nodes, each key's value, the fold that closes a checkpoint.

Owns ``ledger_map_nodes`` (the tree's nodes, current version), ``ledger_map_values`` (each key's
count, latest index and chain in the newest map head) and ``ledger_map_state`` (that head's
index, key count and root). The maths is ``gateway.kernel.ledger.subjectmap``; docs/ledger.md
§12 specifies it.

``close`` runs in the publisher's signing transaction, under the sequencing lock: it folds the
``ledger_subjects`` rows appended since the previous map head (with their leaf hashes) into the
chains, updates the tree with one node read per depth, and appends the map head record at the
end of the log through the same batch path as every append, so indexes stay dense whoever else
appends. Nothing of this is on the per-exchange path. ``prove`` reads a key's value and map
proof as of the newest map head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import merkle, subjectmap
from gateway.kernel.ledger import record as rec
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

__all__ = ["MapState", "close", "fold", "prove", "read_nodes", "read_values", "state"]

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


def fold(conn: Connection, current: MapState, size: int) -> MapState:
    """Fold the subject rows of entries ``current.head`` < i < ``size`` into the stored map;
    the map's new key count and root (``head`` not yet moved). Stored nodes and values are
    read through this process's copy (``mapcache``), so a steady fold mostly hashes."""
    rows = _rows_since(conn, current.head, size)
    with mapcache.use(conn.engine, current) as cache:
        subjects = {subject for subject, _, _ in rows}
        before = cache.read_values(subjects, lambda s: read_values(conn, s))
        changed = subjectmap.fold_chains(before, rows)
        changes = {bytes.fromhex(k): v.hash() for k, v in changed.items()}  # keys: is_key
        source = cache.node_source(lambda p: read_nodes(conn, p))
        root, nodes = subjectmap.update(source, changes, current.root)
        _write(conn, nodes, changed)
        keys = current.keys + len(changed.keys() - before.keys())
        cache.wrote(MapState(size, keys, root), nodes, changed)
    return MapState(current.head, keys, root)


def close(conn: Connection, tree: merkle.CompactRange) -> merkle.CompactRange:
    """End ``tree`` (locked by the caller) with a map head covering every entry before it,
    unless its last entry already is one; the tree as it then is."""
    current = state(conn)
    if tree.size > 0 and current.head == tree.size - 1:
        return tree
    folded = fold(conn, current, tree.size)
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
