"""Ledger storage: sequenced appends into the Merkle tree, proofs and checkpoints from storage.

Sequencing is done under a row lock on ``ledger_state`` (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so the gateway's writer
and an administrator's CLI can append concurrently and indexes stay dense and ordered. The same
transaction that stores an entry extends the tree: it stores every perfect subtree the entry
completes in ``ledger_nodes`` (leaves included) and the new frontier (``merkle.CompactRange``)
in ``ledger_state``, so a committed index always has its tree state. Proofs read the O(log n)
stored subtrees they need with one query (``read_nodes``). The maths lives in
``gateway.kernel.ledger.merkle`` and the note formats in ``gateway.kernel.ledger.checkpoint``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import checkpoint, merkle
from gateway.kernel.ledger import record as rec
from gateway.storage.db import (
    ledger_checkpoints,
    ledger_entries,
    ledger_nodes,
    ledger_state,
    ledger_subjects,
)

#: Pairs per node query: far below SQLite's expression depth limit (1000) for the OR chain.
_NODES_PER_QUERY = 256


class LedgerUnavailable(Exception):
    """The ledger could not durably record an entry; the exchange must not happen."""


class LedgerCorrupt(Exception):
    """Stored ledger state contradicts itself; nothing is appended or signed on top of it."""


class OutOfRange(LookupError):
    """A proof was asked for an index or tree size the ledger does not have (yet)."""


@dataclasses.dataclass(frozen=True)
class Appended:
    """Where an entry went: its index and leaf hash, and the tree right after its batch."""

    index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes


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


def _row(index: int, record: dict[str, Any], body: bytes, leaf: bytes) -> dict[str, Any]:
    return {"idx": index, "leaf_hash": leaf, **entry_columns(record), "body": body.decode()}


def _locked_tree(conn: Connection) -> merkle.CompactRange:
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


def _insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
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


def append(conn: Connection, records: list[dict[str, Any]]) -> list[Appended]:
    """Append records at the end of the ledger and the tree within ``conn``'s transaction."""
    if not records:
        return []
    tree = _locked_tree(conn)
    rows, subjects, nodes, placed = [], [], [], []
    for record in records:
        body = rec.canonical(record)
        leaf = merkle.leaf_hash(body)
        index = tree.size
        rows.append(_row(index, record, body, leaf))
        subjects += [{"subject": s, "idx": index} for s in record.get("subjects") or ()]
        nodes += [{"level": lv, "idx": i, "hash": h} for lv, i, h in tree.append(leaf)]
        placed.append((index, leaf))
    _insert(conn, ledger_entries, rows)
    _insert(conn, ledger_subjects, subjects)
    _insert(conn, ledger_nodes, nodes)
    conn.execute(
        sa.update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(size=tree.size, compact_range=tree.to_bytes())
    )
    root = tree.root()
    return [Appended(index, leaf, tree.size, root) for index, leaf in placed]


def size(conn: Connection) -> int:
    return conn.execute(sa.select(ledger_state.c.size).where(ledger_state.c.id == 1)).scalar_one()


def frontier(conn: Connection) -> merkle.CompactRange:
    """The committed tree's frontier (size and root), without taking the sequencing lock."""
    packed = conn.execute(
        sa.select(ledger_state.c.compact_range).where(ledger_state.c.id == 1)
    ).scalar_one()
    return merkle.CompactRange.from_bytes(bytes(packed))


# --- proofs ----------------------------------------------------------------------------------


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


def _missing(conn: Connection, tree_size: int, what: str) -> Exception:
    """Nodes a proof needs are not stored: the tree is not that big (yet), or storage lost them.

    Only committed leaves have nodes, and a proof's nodes cover its whole tree, so a proof of a
    tree beyond the ledger always misses one: the happy path needs no size query.
    """
    current = size(conn)
    if tree_size > current:
        return OutOfRange(f"tree size {tree_size} is beyond the ledger's {current} entries")
    return LedgerCorrupt(f"tree nodes for {what} are missing from storage")


def inclusion_proof(conn: Connection, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
    """The leaf hash of entry ``index`` and its inclusion proof in the tree of ``tree_size``.

    Leaf and proof come from one node query.
    """
    if not 0 <= index < tree_size:
        raise OutOfRange(f"index {index} is not in a tree of size {tree_size}")
    leaf_id = (0, index)
    fetched: dict[merkle.NodeId, bytes] = {}

    def read(nodes: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        fetched.update(read_nodes(conn, [*nodes, leaf_id]))
        return fetched

    try:
        path = merkle.inclusion_proof(index, tree_size, read)
        if leaf_id not in fetched:  # a one-leaf tree has an empty proof and asked for nothing
            read([])
        return fetched[leaf_id], path
    except (merkle.MissingNodeError, KeyError):
        raise _missing(conn, tree_size, f"entry {index}") from None


def consistency_proof(conn: Connection, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from the tree of ``old_size`` to the tree of ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise OutOfRange(f"cannot prove consistency from size {old_size} to {new_size}")
    if old_size in (0, new_size):  # an empty proof: nothing is read, so check the size
        if new_size > size(conn):
            raise _missing(conn, new_size, "the tree")
        return []
    try:
        return merkle.consistency_proof(old_size, new_size, node_reader(conn))
    except merkle.MissingNodeError:
        raise _missing(conn, new_size, f"sizes {old_size} to {new_size}") from None


# --- checkpoints -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StoredCheckpoint:
    """A signed tree head as stored: ``note`` is the signed note, cosignatures included."""

    size: int
    root: bytes
    note: bytes
    created_at: dt.datetime
    cosigned_at: dt.datetime | None


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back naive; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _checkpoint(row: Any) -> StoredCheckpoint:
    cosigned_at = _utc(row.cosigned_at) if row.cosigned_at is not None else None
    return StoredCheckpoint(
        row.size, bytes(row.root), row.note.encode(), _utc(row.created_at), cosigned_at
    )


def latest_checkpoint(conn: Connection, *, cosigned: bool = False) -> StoredCheckpoint | None:
    """The newest checkpoint (the newest carrying a cosignature if ``cosigned``), if any."""
    query = sa.select(ledger_checkpoints)
    if cosigned:
        query = query.where(ledger_checkpoints.c.cosigned_at.is_not(None))
    row = conn.execute(query.order_by(ledger_checkpoints.c.size.desc()).limit(1)).first()
    return _checkpoint(row) if row else None


def checkpoints(
    conn: Connection, *, cosigned: bool = False, newest_first: bool = False, page: int = 1000
) -> Iterator[StoredCheckpoint]:
    """Every stored checkpoint, oldest first (or newest first), read a page at a time."""
    column = ledger_checkpoints.c.size
    bound: int | None = None
    while True:
        query = sa.select(ledger_checkpoints)
        if cosigned:
            query = query.where(ledger_checkpoints.c.cosigned_at.is_not(None))
        if bound is not None:
            query = query.where(column < bound if newest_first else column > bound)
        rows = conn.execute(
            query.order_by(column.desc() if newest_first else column).limit(page)
        ).all()
        yield from (_checkpoint(row) for row in rows)
        if len(rows) < page:
            return
        bound = rows[-1].size


def _anchor(note: bytes, signer: checkpoint.NoteSigner, what: str) -> checkpoint.Checkpoint:
    try:
        return checkpoint.open_checkpoint(note, signer.verifier())
    except checkpoint.NoteError as exc:
        raise LedgerCorrupt(f"{what} does not verify with the checkpoint key: {exc}") from None


def sign_checkpoint(
    conn: Connection, signer: checkpoint.NoteSigner, *, last: bytes | None = None
) -> StoredCheckpoint:
    """Sign and store a checkpoint of the committed tree, unless one of its size exists.

    Holds the sequencing lock, and refuses (``LedgerCorrupt``) to sign a head that is not an
    append-only extension of the last signed one: a log must never sign inconsistent heads.
    That head is ``last``, the gateway's own copy of the last note it signed (kept outside the
    database, so that rewriting storage and deleting its checkpoints cannot move it), else the
    newest stored checkpoint; either way its *signed* root is used, never the ``root`` column.
    """
    head = _locked_tree(conn)
    latest = latest_checkpoint(conn)
    root = head.root()
    anchor = None
    if last is not None:
        anchor = _anchor(last, signer, "the last signed checkpoint")
    elif latest is not None:
        anchor = _anchor(latest.note, signer, f"stored checkpoint {latest.size}")
    if anchor is not None:
        try:
            proof = merkle.consistency_proof(anchor.size, head.size, node_reader(conn))
            merkle.verify_consistency(anchor.size, head.size, proof, anchor.root_hash, root)
        except (ValueError, merkle.MerkleError) as exc:
            raise LedgerCorrupt(
                f"tree of size {head.size} is not an extension of signed checkpoint "
                f"{anchor.size}: {exc}"
            ) from None
    if latest is not None and latest.size == head.size and latest.root == root:
        return latest
    body = checkpoint.Checkpoint(signer.name, head.size, root).body()
    stored = StoredCheckpoint(
        head.size, root, checkpoint.sign_note(body, [signer]), dt.datetime.now(dt.UTC), None
    )
    conn.execute(
        sa.insert(ledger_checkpoints).values(
            size=stored.size,
            root=stored.root,
            note=stored.note.decode(),
            created_at=stored.created_at,
        )
    )
    return stored


def sign_checkpoint_kept(
    engine: sa.Engine, signer: checkpoint.NoteSigner, last_file: Path
) -> StoredCheckpoint:
    """``sign_checkpoint`` in its own transaction, anchored on and then updating ``last_file``
    (the gateway's own copy of its last signed checkpoint; first run: the database's)."""
    last = last_file.read_bytes() if last_file.exists() else None
    with engine.begin() as conn:
        stored = sign_checkpoint(conn, signer, last=last)
    # Re-read: another process may have signed (and kept) a larger checkpoint meanwhile.
    current = last_file.read_bytes() if last_file.exists() else None
    if current is None or _anchor(current, signer, str(last_file)).size < stored.size:
        body = checkpoint.Checkpoint(signer.name, stored.size, stored.root).body()
        temporary = last_file.with_name(f"{last_file.name}.{os.getpid()}.tmp")
        temporary.write_bytes(checkpoint.sign_note(body, [signer]))  # Ed25519: same bytes
        os.replace(temporary, last_file)
    return stored


def add_cosignature(conn: Connection, size: int, line: bytes) -> StoredCheckpoint:
    """Append a witness's cosignature line to the stored checkpoint of ``size``."""
    row = conn.execute(
        sa.select(ledger_checkpoints).where(ledger_checkpoints.c.size == size).with_for_update()
    ).one()
    now = dt.datetime.now(dt.UTC)
    note = row.note + line.decode()
    conn.execute(
        sa.update(ledger_checkpoints)
        .where(ledger_checkpoints.c.size == size)
        .values(note=note, cosigned_at=now)
    )
    return dataclasses.replace(_checkpoint(row), note=note.encode(), cosigned_at=now)


# --- entries ---------------------------------------------------------------------------------


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
