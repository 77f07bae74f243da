"""The signer election (PostgreSQL session advisory lock) and the shared replay claims
(PostgreSQL table, Redis) as units, on the real servers; and what a claim costs."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
import sqlalchemy as sa

from gateway.server.replay_claims import SharedReplay
from gateway.storage import db as dbm
from gateway.storage import replay
from gateway.storage.ledger.leader import SignerElection
from tests.scale.conftest import wait_for

REDIS_URL = os.environ.get("ENLACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def pg(postgres_url: str):  # noqa: ANN201
    opened = dbm.open_database(postgres_url)
    dbm.upgrade(opened)
    try:
        yield opened
    finally:
        opened.dispose()


def test_one_signer_at_a_time_and_take_over(pg: dbm.Database) -> None:
    key = 0x5CA1E0000000 + (uuid.uuid4().int & 0xFFFF)  # this test's own lock
    first, second = SignerElection(pg.write, key), SignerElection(pg.write, key)
    try:
        assert first.holds() and first.signer
        assert not second.holds() and not second.signer
        assert first.holds()  # still (the session lives)
        # The signer's session dies (a killed process, a dropped link): the role is free.
        with pg.write.connect() as conn:
            pid = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": key},
            ).scalar_one()
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        wait_for("the other takes the role", second.holds)  # the backend exits soon after
        assert not first.holds() and not first.signer
        second.release()
        assert first.holds()
    finally:
        first.release()
        second.release()


def test_a_process_that_does_not_take_the_role_returns_its_connection_transactional(
    pg: dbm.Database, postgres_url: str
) -> None:
    """The election's connection is autocommit; one that goes back to the pool must not be,
    or the next user (the ledger writer) would hold no lock past each statement."""
    key = 0x5CA1E0000000 + (uuid.uuid4().int & 0xFFFF)
    holder = SignerElection(pg.write, key)
    single = sa.create_engine(dbm.normalise_url(postgres_url), pool_size=1, max_overflow=0)
    try:
        assert holder.holds()
        assert not SignerElection(single, key).holds()  # its connection went back to the pool
        pooled = single.raw_connection()  # the only one there is: that same connection
        try:
            assert pooled.driver_connection.autocommit is False  # type: ignore[union-attr]
        finally:
            pooled.close()
    finally:
        holder.release()
        single.dispose()


def test_sqlite_always_signs(tmp_path) -> None:  # noqa: ANN001
    opened = dbm.open_database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert SignerElection(opened.write).holds()
    finally:
        opened.dispose()


def _redis() -> replay.ClaimStore:
    store = replay.RedisClaims(REDIS_URL, 2.0)
    try:
        store.claim([uuid.uuid4().bytes], 10_000, 0)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return store


@pytest.fixture(params=["postgres", "redis"])
def store(request: pytest.FixtureRequest):  # noqa: ANN201
    if request.param == "redis":
        opened = _redis()
    else:
        opened = replay.PostgresClaims(request.getfixturevalue("pg").write)
    try:
        yield opened
    finally:
        opened.close()


def test_a_key_is_claimed_once_until_it_expires(store: replay.ClaimStore) -> None:
    a, b = uuid.uuid4().bytes, uuid.uuid4().bytes
    now = int(time.time() * 1000)
    assert store.claim([a], now + 60_000, now) == {a}
    assert store.claim([a, b], now + 60_000, now) == {b}  # another process, same store
    later = now + 61_000
    if isinstance(store, replay.PostgresClaims):
        assert store.claim([a], later + 60_000, later) == {a}  # expired: claimable again
        assert store.purge(later + 120_000) >= 2


async def test_batched_claims_refuse_a_replay_within_a_batch_and_across(store) -> None:  # noqa: ANN001
    shared, other = SharedReplay(store, 60), SharedReplay(store, 60)
    nonce = f"n:k:{uuid.uuid4()}"
    results = await asyncio.gather(
        shared.first_use(nonce, "i:c:1"), shared.first_use(nonce, "i:c:2")
    )
    assert results == [True, False]
    assert shared.batches == 1  # one statement for both
    assert not await other.first_use(nonce, "i:c:3")


async def test_claim_cost_per_exchange(store, capsys) -> None:  # noqa: ANN001
    """Not a deadline: prints what a claim adds per exchange at 200 concurrent requests."""
    shared = SharedReplay(store, 60)
    rounds, concurrent = 10, 200
    started = time.perf_counter()
    for _ in range(rounds):
        keys = [(f"n:k:{uuid.uuid4()}", f"i:c:{uuid.uuid4()}") for _ in range(concurrent)]
        assert all(await asyncio.gather(*(shared.first_use(*pair) for pair in keys)))
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nreplay claims ({type(store).__name__}): "
            f"{elapsed / (rounds * concurrent) * 1e6:.0f} µs per exchange, "
            f"{rounds * concurrent / shared.batches:.0f} exchanges per statement"
        )
