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

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
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
from gateway.storage.ledger import driver
from gateway.storage.ledger.batch import prepare, sequence

#: Keys per ``IN`` list (values, nodes of one depth); positions per OR query (proofs).
_PER_QUERY = 500
_PAIRS_PER_QUERY = 128

_UPSERT_NODE = sa.text(
    f"INSERT INTO {ledger_map_nodes.name} (depth, path, hash, key, value) "
    "VALUES (:depth, :path, :hash, :key, :value) ON CONFLICT (depth, path) DO UPDATE SET "
    "hash = excluded.hash, key = excluded.key, value = excluded.value"
)
_UPSERT_VALUE = sa.text(
    f"INSERT INTO {ledger_map_values.name} (subject, count, latest, chain) "
    "VALUES (:subject, :count, :latest, :chain) ON CONFLICT (subject) DO UPDATE SET "
    "count = excluded.count, latest = excluded.latest, chain = excluded.chain"
)


@dataclasses.dataclass(frozen=True)
class MapState:
    """The newest map head: its index (-1: none yet), number of keys and root."""

    head: int
    keys: int
    root: bytes


def state(conn: Connection) -> MapState:
    m = ledger_map_state.c
    row = conn.execute(sa.select(m.head, m["keys"], m.root).where(m.id == 1)).one_or_none()
    if row is None:
        return MapState(-1, 0, subjectmap.EMPTY)
    return MapState(int(row[0]), int(row[1]), bytes(row[2]))


def _node(row: Any) -> subjectmap.MapNode:
    key, value = row.key, row.value
    return subjectmap.MapNode(
        bytes(row.hash),
        None if key is None else bytes(key),
        None if value is None else bytes(value),
    )


def read_nodes(
    conn: Connection, positions: Sequence[subjectmap.NodePos]
) -> dict[subjectmap.NodePos, subjectmap.MapNode]:
    """Stored nodes at ``positions``: by depth with ``IN`` lists for many, one OR query for few."""
    n = ledger_map_nodes.c
    found: dict[subjectmap.NodePos, subjectmap.MapNode] = {}
    columns = (n.depth, n.path, n.hash, n.key, n.value)
    wanted = sorted(set(positions))
    if len(wanted) <= _PAIRS_PER_QUERY:
        if wanted:
            pairs = [sa.and_(n.depth == d, n.path == p) for d, p in wanted]
            for row in conn.execute(sa.select(*columns).where(sa.or_(*pairs))):
                found[(row.depth, bytes(row.path))] = _node(row)
        return found
    by_depth: dict[int, list[bytes]] = {}
    for depth, path in wanted:
        by_depth.setdefault(depth, []).append(path)
    for depth, paths in by_depth.items():
        for start in range(0, len(paths), _PER_QUERY):
            chunk = paths[start : start + _PER_QUERY]
            query = sa.select(*columns).where(n.depth == depth, n.path.in_(chunk))
            for row in conn.execute(query):
                found[(depth, bytes(row.path))] = _node(row)
    return found


def read_values(conn: Connection, subjects: Iterable[str]) -> dict[str, subjectmap.Value]:
    """The values of ``subjects`` in the newest map head (absent ones are not in the map)."""
    v = ledger_map_values.c
    wanted = sorted(set(subjects))
    found = {}
    for start in range(0, len(wanted), _PER_QUERY):
        chunk = wanted[start : start + _PER_QUERY]
        rows = conn.execute(
            sa.select(v.subject, v.count, v.latest, v.chain).where(v.subject.in_(chunk))
        )
        for subject, count, latest, chain in rows:
            found[subject] = subjectmap.Value(count, latest, bytes(chain))
    return found


def _rows_since(conn: Connection, head: int, size: int) -> list[tuple[str, int, bytes]]:
    """(subject, index, leaf hash) of the entries after map head ``head`` and before ``size``."""
    s, e = ledger_subjects.c, ledger_entries.c
    query = (
        sa.select(s.subject, s.idx, e.leaf_hash)
        .select_from(ledger_subjects.join(ledger_entries, e.idx == s.idx))
        .where(s.idx > head, s.idx < size)
        .order_by(s.idx, s.subject)
    )
    return [(subject, idx, bytes(leaf)) for subject, idx, leaf in conn.execute(query)]


def _write(
    conn: Connection,
    nodes: Mapping[subjectmap.NodePos, subjectmap.MapNode],
    values: Mapping[str, subjectmap.Value],
) -> None:
    if nodes:
        conn.execute(
            _UPSERT_NODE,
            [
                {"depth": d, "path": p, "hash": n.hash, "key": n.key, "value": n.value}
                for (d, p), n in nodes.items()
            ],
        )
    if values:
        conn.execute(
            _UPSERT_VALUE,
            [
                {"subject": k, "count": v.count, "latest": v.latest, "chain": v.chain}
                for k, v in values.items()
            ],
        )


def fold(conn: Connection, current: MapState, size: int) -> MapState:
    """Fold the subject rows of entries ``current.head`` < i < ``size`` into the stored map;
    the map's new key count and root (``head`` not yet moved)."""
    rows = _rows_since(conn, current.head, size)
    before = read_values(conn, {subject for subject, _, _ in rows})
    changed = subjectmap.fold_chains(before, rows)
    changes = {subjectmap.key_of(k): v.hash() for k, v in changed.items()}
    root, nodes = subjectmap.update(lambda p: read_nodes(conn, p), changes, current.root)
    _write(conn, nodes, changed)
    return MapState(current.head, current.keys + len(changed.keys() - before.keys()), root)


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
