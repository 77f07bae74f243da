"""The ledger's storage driver: how entries, tree nodes and the tree state are stored and read.

Owns the rows of ``ledger_entries``, ``ledger_subjects``, ``ledger_covert``, ``ledger_nodes`` and
``ledger_state``
and the differences between the two dialects ``gateway.storage.db`` opens (bulk inserts by COPY
on PostgreSQL, by sqlite3's executemany on SQLite, both on the DBAPI connection: SQLAlchemy's
per-row parameter processing cost more than the insert). It decides nothing: the sequencer
(``sequencer``) says what to append, proofs (``proofs``) say which nodes to read.

Two ways in: ``locked_tree`` and ``store_batch`` work inside a caller's SQLAlchemy transaction
(a registry change, the CLI); ``BatchStore`` is the group-commit writer's own connection, used
without SQLAlchemy at all. Invariants: the state row's size is the size of its compact range
(``LedgerCorrupt`` if not); ``locked_tree`` takes the ledger's sequencing lock (``SELECT … FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers) until the
transaction ends, and ``BatchStore`` writes the state row first, only if it still holds the
frontier the batch was built on, so appends from the gateway's writer and an administrator's
CLI keep indexes dense and ordered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.kernel.ledger import merkle
from gateway.storage.db import (
    ledger_covert,
    ledger_entries,
    ledger_nodes,
    ledger_state,
    ledger_subjects,
    writing,
)
from gateway.storage.ledger.errors import LedgerCorrupt

#: Pairs per node query: far below SQLite's expression depth limit (1000) for the OR chain.
_NODES_PER_QUERY = 256
#: Indexes per ``IN`` list when reading entry bodies.
_BODIES_PER_QUERY = 500

#: Column order of the bulk-inserted rows, which are tuples.
ENTRY_COLUMNS = (
    "idx", "leaf_hash", "kind", "recorded_at", "exchange_id", "client", "service", "outcome", "body"
)  # fmt: skip
SUBJECT_COLUMNS = ("subject", "idx")
NODE_COLUMNS = ("level", "idx", "hash")
_TABLES = (
    (ledger_entries.name, ENTRY_COLUMNS),
    (ledger_subjects.name, SUBJECT_COLUMNS),
    (ledger_nodes.name, NODE_COLUMNS),
    (ledger_covert.name, SUBJECT_COLUMNS),
)
#: PostgreSQL types of those columns, for binary COPY (varchar's binary form is text's).
_PG_TYPES = (
    ("int8", "bytea", "text", "text", "text", "text", "text", "text", "text"),
    ("text", "int8"),
    ("int2", "int8", "bytea"),
    ("text", "int8"),
)


def entry_columns(record: dict[str, Any]) -> dict[str, Any]:
    """The ``ledger_entries`` columns copied from a record (what queries filter on); the audit
    compares the stored ones with this."""
    return {
        "kind": record["kind"],
        "recorded_at": record.get("responded_at") or record.get("recorded_at"),
        "exchange_id": record.get("exchange_id"),
        "client": record.get("client"),
        "service": record.get("service"),
        # A map head has neither: its kind stands in (the column is not null).
        "outcome": record.get("outcome") or record.get("action") or record["kind"],
    }


def entry_fields(record: dict[str, Any], body: bytes) -> tuple[Any, ...]:
    """The ``ledger_entries`` row of ``record`` after ``idx`` and ``leaf_hash`` (in
    ``ENTRY_COLUMNS`` order), with its canonical ``body``."""
    return (*entry_columns(record).values(), body.decode())


@dataclasses.dataclass
class Rows:
    """The rows one batch adds, as tuples in the ``*_COLUMNS`` orders."""

    entries: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    subjects: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    nodes: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    #: (pseudonym, index) of entries recorded under a covert key: rare, usually empty.
    covert: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Statements:
    """One dialect's SQL for the raw paths (its parameter marker and bulk insert)."""

    postgres: bool

    def mark(self, count: int) -> str:
        return ", ".join(("%s" if self.postgres else "?") for _ in range(count))

    @functools.cached_property
    def inserts(self) -> tuple[str, ...]:
        """Per table: ``COPY … FROM STDIN`` on PostgreSQL, a parametrised INSERT on SQLite."""
        if self.postgres:
            return tuple(
                f"COPY {t} ({', '.join(c)}) FROM STDIN (FORMAT BINARY)" for t, c in _TABLES
            )
        return tuple(
            f"INSERT INTO {t} ({', '.join(c)}) VALUES ({self.mark(len(c))})" for t, c in _TABLES
        )

    @functools.cached_property
    def read_state(self) -> str:
        lock = " FOR UPDATE" if self.postgres else ""
        return f"{self.select_state}{lock}"

    @functools.cached_property
    def set_state(self) -> str:
        values = "size = {0}, compact_range = {0}".format("%s" if self.postgres else "?")
        return f"UPDATE {ledger_state.name} SET {values} WHERE id = 1"

    @functools.cached_property
    def swap_state(self) -> str:
        """The conditional write of the state row. On PostgreSQL it also answers, in the same
        round trip, the stored state, row-locked, when it did not match (READ COMMITTED: the
        lock is taken on the newest version, so it is the state the last appender committed);
        the data-modifying CTE leaves the row unwritten then, so the slow path writes it once."""
        swap = f"{self.set_state} AND size = {self.mark(1)} AND compact_range = {self.mark(1)}"
        if not self.postgres:
            return swap
        return (
            f"WITH swapped AS ({swap} RETURNING id) {self.select_state}"
            " AND NOT EXISTS (SELECT FROM swapped) FOR UPDATE"
        )

    @functools.cached_property
    def select_state(self) -> str:
        return f"SELECT size, compact_range FROM {ledger_state.name} WHERE id = 1"

    @functools.cached_property
    def leaf_hashes(self) -> str:
        return (
            f"SELECT leaf_hash FROM {ledger_entries.name}"
            f" WHERE idx >= {self.mark(1)} AND idx < {self.mark(1)} ORDER BY idx"
        )


_SQLITE, _POSTGRES = _Statements(postgres=False), _Statements(postgres=True)


def _write_rows(cursor: Any, sql: _Statements, rows: Rows) -> None:
    """Bulk-insert a batch's rows on a DBAPI cursor: a statement per table, whatever its size
    (none for a table without rows)."""
    tables = zip(
        sql.inserts,
        _PG_TYPES,
        (rows.entries, rows.subjects, rows.nodes, rows.covert),
        strict=True,
    )
    for statement, types, data in tables:
        if not data:
            continue
        if sql.postgres:  # binary: no text escaping of the hashes on either side
            with cursor.copy(statement) as copy:
                copy.set_types(types)
                for row in data:
                    copy.write_row(row)
        else:
            cursor.executemany(statement, data)


def _frontier(size: int, packed: bytes) -> merkle.CompactRange:
    tree = merkle.CompactRange.from_bytes(bytes(packed))
    if tree.size != size:
        raise LedgerCorrupt(f"ledger_state size {size} but its compact range has {tree.size}")
    return tree


def locked_tree(conn: Connection) -> merkle.CompactRange:
    """The tree's frontier, with the ledger's sequencing lock held until the transaction ends."""
    size, packed = conn.execute(
        sa.select(ledger_state.c.size, ledger_state.c.compact_range)
        .where(ledger_state.c.id == 1)
        .with_for_update()
    ).one()
    return _frontier(size, packed)


def size(conn: Connection) -> int:
    """The committed tree's size, without taking the sequencing lock."""
    return conn.execute(sa.select(ledger_state.c.size).where(ledger_state.c.id == 1)).scalar_one()


def frontier(conn: Connection) -> merkle.CompactRange:
    """The committed tree's frontier (size and root), without taking the sequencing lock."""
    packed = conn.execute(
        sa.select(ledger_state.c.compact_range).where(ledger_state.c.id == 1)
    ).scalar_one()
    return merkle.CompactRange.from_bytes(bytes(packed))


def store_batch(conn: Connection, rows: Rows, tree: merkle.CompactRange) -> None:
    """Store a batch in ``conn``'s SQLAlchemy transaction: its entry, subject index and node
    rows, and the tree's new frontier in the state row (whose lock ``locked_tree`` took), so a
    committed index always has its tree state. Errors are SQLAlchemy's, as for any statement."""
    sql = _POSTGRES if conn.dialect.name == "postgresql" else _SQLITE
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with contextlib.closing(conn.connection.dbapi_connection.cursor()) as cursor:  # type: ignore[union-attr]
            _write_rows(cursor, sql, rows)
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance("ledger bulk insert", None, exc, dbapi_error) from exc
    conn.execute(
        sa.update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(size=tree.size, compact_range=tree.to_bytes())
    )


class CommitFailed(Exception):
    """COMMIT itself failed (its cause attached): the transaction may or may not be stored."""


def leaf_at(conn: Connection, index: int) -> bytes | None:
    """The stored leaf hash at ``index``, if any."""
    found = conn.execute(
        sa.select(ledger_entries.c.leaf_hash).where(ledger_entries.c.idx == index)
    ).scalar_one_or_none()
    return bytes(found) if found is not None else None


class BatchStore:
    """The group-commit writer's own DBAPI connection: a batch is a handful of statements
    (the state row, three bulk inserts, the commit), none of them through SQLAlchemy.

    The connection is taken from ``engine``'s pool when first needed, so it has the engine's
    settings (SQLite: WAL, ``synchronous=FULL``), and dropped after any failure.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sql = _POSTGRES if engine.dialect.name == "postgresql" else _SQLITE
        self._conn: Any = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[BatchTransaction]:
        """One transaction, committed (durably) when the block ends, rolled back on any error;
        on SQLite, in the database's write turn (``db.writing``)."""
        with writing(self._engine):
            if self._conn is None:
                self._conn = self._engine.raw_connection()
            conn = self._conn
            try:
                with contextlib.closing(conn.cursor()) as cursor:
                    if not self._sql.postgres:  # pysqlite autocommits: we say when to begin
                        cursor.execute("BEGIN IMMEDIATE")
                    yield BatchTransaction(cursor, self._sql)
                try:
                    self._commit(conn)
                except Exception as exc:
                    raise CommitFailed("commit failed") from exc
            except BaseException:
                self.close()  # rolls back; the next batch gets a fresh connection
                raise

    @staticmethod
    def _commit(conn: Any) -> None:
        conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # a broken connection is dropped either way
                conn.invalidate()


class BatchTransaction:
    """What a ``BatchStore`` transaction can do."""

    def __init__(self, cursor: Any, sql: _Statements) -> None:
        self._cursor = cursor
        self._sql = sql

    def swap_state(
        self, old: merkle.CompactRange, new: merkle.CompactRange
    ) -> merkle.CompactRange | None:
        """Write ``new`` as the tree state if the stored one is still ``old``, taking the
        sequencing lock: None if written, else (nothing written) the stored state another
        appender left, with the lock held as by ``locked_state``. One round trip on
        PostgreSQL; SQLite's lock is already ours (``BEGIN IMMEDIATE``), it reads the row."""
        params = (new.size, new.to_bytes(), old.size, old.to_bytes())
        self._cursor.execute(self._sql.swap_state, params)
        if self._sql.postgres:
            row = self._cursor.fetchone()
            return None if row is None else _frontier(*row)
        return None if self._cursor.rowcount == 1 else self.locked_state()

    def locked_state(self) -> merkle.CompactRange:
        """The stored tree state, with the sequencing lock held until the transaction ends."""
        self._cursor.execute(self._sql.read_state)
        size, packed = self._cursor.fetchone()
        return _frontier(size, packed)

    def set_state(self, new: merkle.CompactRange) -> None:
        """Write the tree state (after ``locked_state`` or a refused ``swap_state``)."""
        self._cursor.execute(self._sql.set_state, (new.size, new.to_bytes()))

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The stored leaf hashes of entries [start, end), in index order, in one query;
        absent ones are simply missing (the list is then shorter)."""
        self._cursor.execute(self._sql.leaf_hashes, (start, end))
        return [bytes(leaf) for (leaf,) in self._cursor.fetchall()]

    def insert(self, rows: Rows) -> None:
        _write_rows(self._cursor, self._sql, rows)


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
