"""The group-commit writer and admin changes on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa

from gateway.kernel.ids import ClientId, MemberId
from gateway.storage import registry
from gateway.storage.db import (
    ledger_entries,
    ledger_state,
    ledger_subjects,
    members,
    open_database,
    upgrade,
)
from gateway.storage.ledger import audit, driver
from gateway.storage.ledger.errors import LedgerUnavailable
from gateway.storage.ledger.sequencer import LedgerWriter
from tests.factories import exchange_record


def _record(n: int, subjects: list[str] | None = None) -> dict:
    return exchange_record(n, subjects=subjects or [], purpose="p", legal_basis="lb", issue="c")


def _rows(database) -> list[tuple[int, dict]]:
    with database.read.connect() as conn:
        return [
            (idx, json.loads(body))
            for idx, body in conn.execute(
                sa.select(ledger_entries.c.idx, ledger_entries.c.body).order_by(
                    ledger_entries.c.idx
                )
            )
        ]


async def test_concurrent_appends_get_dense_ordered_indexes_in_batches(database):
    writer = LedgerWriter(database, max_batch=64)
    writer.start()
    try:
        results = await asyncio.gather(
            *(writer.append(_record(n, [f"s{n % 7}"])) for n in range(500))
        )
    finally:
        writer.stop()
    indexes = sorted(r.index for r in results)
    assert indexes == list(range(500))
    assert writer.batches < 500, "appends were not grouped into batches"
    rows = _rows(database)
    assert [idx for idx, _ in rows] == list(range(500))
    by_exchange = {entry["exchange_id"]: idx for idx, entry in rows}
    for n, result in enumerate(results):
        assert by_exchange[f"x-{n}"] == result.index
    with database.read.connect() as conn:
        assert driver.size(conn) == 500
        subject_rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(ledger_subjects)
            .where(ledger_subjects.c.subject == "s3")
        ).scalar_one()
    assert subject_rows == sum(1 for n in range(500) if n % 7 == 3)


async def test_failed_batch_writes_nothing_and_every_waiter_fails(database):
    writer = LedgerWriter(database)
    writer.start()
    try:
        await writer.append(_record(0))
        # A record that cannot be stored (exchange_id longer than the column allows on
        # PostgreSQL; a NOT NULL violation everywhere) poisons its whole batch.
        bad = _record(1)
        bad["kind"] = None
        with pytest.raises(LedgerUnavailable):
            await writer.append(bad)
        ok = await writer.append(_record(2))
    finally:
        writer.stop()
    assert ok.index == 1  # nothing of the failed batch took an index
    with database.read.connect() as conn:
        assert conn.execute(sa.select(ledger_state.c.size)).scalar_one() == 2
    assert [entry["exchange_id"] for _, entry in _rows(database)] == ["x-0", "x-2"]


async def test_writer_not_running_refuses(database):
    writer = LedgerWriter(database)
    with pytest.raises(LedgerUnavailable):
        await writer.append(_record(0))


def test_admin_changes_are_ledgered_atomically(database):
    member = MemberId.parse("MX/GOB/SEP")
    registry.add_member(database, member, "Secretaría de Educación Pública")
    registry.add_subsystem(database, ClientId.parse("MX/GOB/SEP/becas"))
    with pytest.raises(registry.RegistryError) as caught:
        registry.add_member(database, member, "again")
    assert caught.value.code == "registry.exists"
    with pytest.raises(registry.RegistryError) as caught:
        registry.add_subsystem(database, ClientId.parse("MX/GOB/SRE/pasaportes"))
    assert caught.value.code == "registry.unknown_member"
    entries = _rows(database)
    assert [e["action"] for _, e in entries] == ["member.add", "subsystem.add"]
    assert entries[0][1]["target"] == "MX/GOB/SEP"
    assert entries[0][1]["details"] == {"name": "Secretaría de Educación Pública"}
    with database.read.connect() as conn:
        assert registry.version(conn) == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(members)).scalar_one() == 1


async def test_exchanges_and_admin_changes_interleave_without_gaps(database):
    writer = LedgerWriter(database, max_batch=8)
    writer.start()
    try:
        tasks = [asyncio.create_task(writer.append(_record(n))) for n in range(100)]
        for n in range(10):
            await asyncio.to_thread(
                registry.add_member, database, MemberId("MX", "GOB", f"M{n}"), "x"
            )
        await asyncio.gather(*tasks)
    finally:
        writer.stop()
    rows = _rows(database)
    assert [idx for idx, _ in rows] == list(range(110))
    assert sum(1 for _, e in rows if e["kind"] == "admin") == 10


async def test_appends_of_one_loop_iteration_share_transactions(database):
    """500 appends made together take ceil(500 / max_batch) transactions, counted, not timed."""
    for max_batch, expected in ((64, 8), (512, 1)):
        writer = LedgerWriter(database, max_batch=max_batch)
        writer.start()
        try:
            results = await asyncio.gather(*(writer.append(_record(n)) for n in range(500)))
        finally:
            writer.stop()
        assert writer.batches == expected and writer.appended == 500
        assert writer.mean_batch == 500 / expected
        first = results[0].index
        assert [r.index for r in results] == list(range(first, first + 500))
        # Every entry of a transaction reports the tree right after it.
        assert len({(r.tree_size, r.root) for r in results}) == expected


async def test_writer_follows_appends_made_behind_its_back(database, signer):
    """The in-memory frontier is only a cache: another appender's entries are found in storage."""
    writer = LedgerWriter(database)
    writer.start()
    try:
        assert (await writer.append(_record(0))).index == 0
        registry.add_member(database, MemberId.parse("MX/GOB/SEP"), "SEP")  # another appender
        after = await writer.append(_record(1))
        assert after.index == 2 and after.tree_size == 3
        with database.read.connect() as conn:
            stored = driver.frontier(conn)
        assert (stored.size, stored.root()) == (after.tree_size, after.root)
    finally:
        writer.stop()
    with database.read.connect() as conn, conn.begin():
        report = audit.verify(conn, signer.verifier())
    assert report.ok and report.entries == 3, report.findings


async def test_a_record_that_cannot_be_canonicalised_fails_alone(database):
    writer = LedgerWriter(database)
    writer.start()
    try:
        bad = _record(0)
        bad["purpose"] = {1, 2}  # not JSON
        outcomes = await asyncio.gather(
            writer.append(bad), writer.append(_record(1)), return_exceptions=True
        )
    finally:
        writer.stop()
    assert isinstance(outcomes[0], LedgerUnavailable)
    assert not isinstance(outcomes[1], BaseException) and outcomes[1].index == 0
    assert [entry["exchange_id"] for _, entry in _rows(database)] == ["x-1"]


async def test_an_append_not_committed_in_time_times_out(tmp_path):
    """The waiter gives up (the exchange is answered 503) while the write lock is held."""
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(database)
    writer = LedgerWriter(database, commit_timeout=1.0)
    writer.start()
    try:
        # BEGIN IMMEDIATE: the writer's transaction waits for this one.
        with database.write.begin(), pytest.raises(TimeoutError):
            await writer.append(_record(0))
        # Whether the writer had taken it before it gave up decides if it is stored; either
        # way the ledger goes on densely, and a stored one is corrected as undelivered.
        await writer.append(_record(1))
        for _ in range(600):  # the correction is appended once its batch is resolved
            if not writer._compensating:
                break
            await asyncio.sleep(0.05)
        rows = _rows(database)
    finally:
        writer.stop()
        database.dispose()
    assert [idx for idx, _ in rows] == list(range(len(rows)))
    by_id = {
        entry.get("exchange_id"): (idx, entry) for idx, entry in rows if entry["kind"] == "exchange"
    }
    assert "x-1" in by_id
    corrections = [entry for _, entry in rows if entry["kind"] == "undelivered"]
    if "x-0" in by_id:
        assert [(c["exchange_id"], c["corrects"]) for c in corrections] == [
            ("x-0", by_id["x-0"][0])
        ]
    else:
        assert corrections == []
