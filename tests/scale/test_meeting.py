"""Writers meeting on the one tree-state row: the swap that answers the stored state in the
same statement, and the history guard checking another writer's batches by their leaves
(SQLite and PostgreSQL, where each applies)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from gateway.kernel.ledger import merkle
from gateway.storage.db import Database, ledger_entries, ledger_state
from gateway.storage.ledger import audit, driver, guard, sequencer
from gateway.storage.ledger.batch import sequence
from gateway.storage.ledger.errors import LedgerCorrupt
from gateway.storage.ledger.guard import HistoryGuard
from gateway.storage.ledger.sequencer import LedgerWriter
from tests.factories import exchange_record
from tests.ledger.helpers import checkpoint_key, sign
from tests.scale.conftest import wait_for


def _append(database: Database, first: int, count: int) -> merkle.CompactRange:
    """Another appender's batch (a registry change, the CLI); the tree after it."""
    with database.write.begin() as conn:
        sequencer.append(conn, [exchange_record(n) for n in range(first, first + count)])
        return driver.locked_tree(conn)


def _stored(database: Database) -> merkle.CompactRange:
    with database.read.connect() as conn:
        return driver.frontier(conn)


def _grown(tree: merkle.CompactRange, first: int) -> merkle.CompactRange:
    return sequence(tree, [sequencer.prepare(exchange_record(first))]).tree


@pytest.fixture
def store(database: Database) -> Iterator[driver.BatchStore]:
    batches = driver.BatchStore(database.write)
    try:
        yield batches
    finally:
        batches.close()


@pytest.fixture
def signed_guard(database: Database, tmp_path) -> HistoryGuard:  # noqa: ANN001
    """A guard over a ledger with a signed head, having verified the tree as it is."""
    signer, _ = checkpoint_key(tmp_path / "pki")
    sign(database, signer)
    history = HistoryGuard(signer, tmp_path / "last")
    with database.read.connect() as conn:
        history.check(conn, driver.frontier(conn))
    return history


def test_the_swap_answers_none_when_the_stored_state_is_ours(database, store) -> None:  # noqa: ANN001
    ours = _append(database, 0, 3)
    new = _grown(ours, 3)
    with store.transaction() as txn:
        assert txn.swap_state(ours, new) is None
    assert _stored(database) == new


def test_the_swap_answers_the_stored_state_when_another_went_first(database, store) -> None:  # noqa: ANN001
    ours = _append(database, 0, 3)
    theirs = _append(database, 3, 2)
    with store.transaction() as txn:
        assert txn.swap_state(ours, _grown(ours, 5)) == theirs
    assert _stored(database) == theirs  # nothing written


def _pg_url(database: Database) -> str:
    if database.write.dialect.name != "postgresql":
        pytest.skip("row locks between connections: PostgreSQL")
    return database.write.url.set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_refused_swap_holds_the_row_lock(database, store) -> None:  # noqa: ANN001
    url = _pg_url(database)
    ours = _append(database, 0, 3)
    _append(database, 3, 2)
    with store.transaction() as txn, psycopg.connect(url) as other:
        assert txn.swap_state(ours, _grown(ours, 5)) is not None
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(f"SELECT size FROM {ledger_state.name} WHERE id = 1 FOR UPDATE NOWAIT")


def test_a_swap_waiting_on_another_appender_answers_what_it_committed(database, store) -> None:  # noqa: ANN001
    """READ COMMITTED: the swap waits on the row, then reads the newest version, not its
    statement's snapshot."""
    url = _pg_url(database)
    ours = _append(database, 0, 3)
    answered: list[merkle.CompactRange | None] = []
    with database.write.connect() as conn:
        other = conn.begin()
        sequencer.append(conn, [exchange_record(3), exchange_record(4)])  # holds the row lock
        theirs = driver.locked_tree(conn)

        def swap() -> None:
            with store.transaction() as txn:
                answered.append(txn.swap_state(ours, _grown(ours, 5)))

        swapping = threading.Thread(target=swap)
        swapping.start()
        with psycopg.connect(url, autocommit=True) as watcher:
            wait_for("the swap waits on the row lock", lambda: _waiting(watcher))
        other.commit()
        swapping.join(timeout=60)
    assert answered == [theirs]


def _waiting(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE 'WITH swapped%'"
    ).fetchone()
    return bool(row and row[0])


def test_leaves_since_the_verified_tree_extend_it(database, store, signed_guard) -> None:  # noqa: ANN001
    theirs = _append(database, 0, 7)
    with store.transaction() as txn:
        assert signed_guard.check_by_leaves(theirs, txn.leaf_hashes)
    assert signed_guard.reason is None
    assert signed_guard.check_by_leaves(theirs, _no_reads) is False  # verified now: not larger


def test_a_changed_leaf_is_refused(database, store, signed_guard) -> None:  # noqa: ANN001
    theirs = _append(database, 0, 7)
    with database.write.begin() as conn:
        conn.execute(
            sa.update(ledger_entries).where(ledger_entries.c.idx == 4).values(leaf_hash=b"\1" * 32)
        )
    with store.transaction() as txn, pytest.raises(LedgerCorrupt):
        signed_guard.check_by_leaves(theirs, txn.leaf_hashes)
    assert signed_guard.reason is not None  # corrupt until restarted
    with pytest.raises(LedgerCorrupt):
        signed_guard.check_by_leaves(theirs, _no_reads)


def _no_reads(start: int, end: int) -> list[bytes]:
    raise AssertionError(f"leaves [{start}, {end}) read")


def test_no_verified_tree_falls_back(database, tmp_path) -> None:  # noqa: ANN001
    signer, _ = checkpoint_key(tmp_path / "pki")
    fresh = HistoryGuard(signer, tmp_path / "last")
    assert fresh.check_by_leaves(_append(database, 0, 2), _no_reads) is False


def test_too_many_leaves_fall_back(database, signed_guard, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(guard, "MAX_LEAVES", 4)
    assert signed_guard.check_by_leaves(_append(database, 0, 5), _no_reads) is False


def test_missing_leaves_fall_back(database, store, signed_guard) -> None:  # noqa: ANN001
    theirs = _append(database, 0, 5)
    with database.write.begin() as conn:
        conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx == 2))
    with store.transaction() as txn:
        assert signed_guard.check_by_leaves(theirs, txn.leaf_hashes) is False
    assert signed_guard.reason is None


def _counting_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    checks: list[int] = []
    check = HistoryGuard.check

    def counted(self, conn, tree):  # noqa: ANN001, ANN202
        checks.append(tree.size)
        return check(self, conn, tree)

    monkeypatch.setattr(HistoryGuard, "check", counted)
    return checks


async def test_the_writer_proves_only_what_its_leaves_cannot_show(
    database, signed_guard, monkeypatch
) -> None:  # noqa: ANN001
    """Its first batch after another's (no tree of its own yet) and a run of more than
    ``MAX_LEAVES`` are proven; a few leaves since its own last batch are appended."""
    base = _stored(database).size  # the signed head's map head
    checks = _counting_checks(monkeypatch)
    monkeypatch.setattr(guard, "MAX_LEAVES", 4)
    writer = LedgerWriter(database, guard=signed_guard)
    writer.start()
    try:
        await writer.append(exchange_record(0))  # no tree of its own: ``check``'s fast path
        _append(database, 1, 4)
        await writer.append(exchange_record(5))  # by its leaves
        _append(database, 6, 5)
        await writer.append(exchange_record(11))  # too many: proven
    finally:
        writer.stop()
    assert checks == [base, base + 11]
    assert signed_guard.reason is None


async def test_two_writers_interleaving_leave_a_log_the_audit_accepts(
    database, tmp_path, monkeypatch
) -> None:  # noqa: ANN001
    if database.write.dialect.name != "postgresql":
        pytest.skip("two writers on one database: PostgreSQL")
    checks = _counting_checks(monkeypatch)
    signer, _ = checkpoint_key(tmp_path / "pki")
    start = sign(database, signer).size
    guards = [HistoryGuard(signer, tmp_path / f"last-{n}") for n in range(2)]
    writers = [LedgerWriter(database, guard=g) for g in guards]
    for writer in writers:
        writer.start()
    try:
        for n in range(20):  # in turn: each batch finds the other's on the state row
            await writers[n % 2].append(exchange_record(n))
        together = [writers[n % 2].append(exchange_record(n)) for n in range(20, 120)]
        appended = await asyncio.gather(*together)
    finally:
        for writer in writers:
            writer.stop()
    assert sorted(a.index for a in appended) == list(range(start + 20, start + 120))
    assert all(g.reason is None for g in guards)
    assert len(checks) == 2  # each guard's first batch; then by the leaves since its own
    with database.read.connect() as conn, conn.begin():
        report = audit.verify(conn, signer.verifier())
    assert report.ok and report.entries == start + 120, report.findings
