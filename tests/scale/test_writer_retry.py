"""A failed ledger batch is tried once more on a fresh connection when nothing was committed;
a failure during COMMIT is settled by asking storage whether the batch's first leaf is there
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from gateway.storage.db import ledger_entries
from gateway.storage.ledger import driver
from gateway.storage.ledger.errors import LedgerUnavailable
from gateway.storage.ledger.sequencer import LedgerWriter
from tests.factories import exchange_record


def _ids(database) -> list[str]:  # noqa: ANN001
    with database.read.connect() as conn:
        bodies = conn.execute(sa.select(ledger_entries.c.body).order_by(ledger_entries.c.idx))
        return [json.loads(body)["exchange_id"] for (body,) in bodies]


def _Failing(count: int):  # noqa: ANN202, N802
    """An ``insert`` failing the next ``count`` times, as a dropped connection would."""
    insert = driver.BatchTransaction.insert
    left = [count]

    def failing(txn: driver.BatchTransaction, rows: driver.Rows) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise OSError("connection dropped")
        insert(txn, rows)

    return failing


async def test_a_batch_failing_before_commit_is_retried_once(
    database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver.BatchTransaction, "insert", _Failing(1))
    writer = LedgerWriter(database)
    writer.start()
    try:
        first = await writer.append(exchange_record(0))
        second = await writer.append(exchange_record(1))
    finally:
        writer.stop()
    assert (first.index, second.index) == (0, 1)
    assert writer.retried == 1
    assert _ids(database) == ["x-0", "x-1"]


async def test_a_batch_failing_twice_fails_closed(database, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(driver.BatchTransaction, "insert", _Failing(2))
    writer = LedgerWriter(database)
    writer.start()
    try:
        with pytest.raises(LedgerUnavailable):
            await writer.append(exchange_record(0))
        after = await writer.append(exchange_record(1))  # and the next batch works again
    finally:
        writer.stop()
    assert after.index == 0
    assert _ids(database) == ["x-1"]


@pytest.mark.parametrize("committed", [True, False])
async def test_a_failed_commit_is_settled_by_reading_the_first_leaf(
    database, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    """COMMIT raised: stored (only the answer was lost) → success, no duplicate; not stored →
    the batch is retried once."""
    failed = []

    def commit(conn) -> None:  # noqa: ANN001
        if failed:
            conn.commit()
            return
        failed.append(True)
        conn.commit() if committed else conn.rollback()
        raise OSError("connection dropped during COMMIT")

    monkeypatch.setattr(driver.BatchStore, "_commit", staticmethod(commit))
    writer = LedgerWriter(database)
    writer.start()
    try:
        first = await writer.append(exchange_record(0))
        second = await writer.append(exchange_record(1))
    finally:
        writer.stop()
    assert (first.index, second.index) == (0, 1)
    assert _ids(database) == ["x-0", "x-1"]
    assert writer.retried == (0 if committed else 1)
