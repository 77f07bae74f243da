"""The pure parts of the client rates shared through Redis: GCRA against the token bucket it
replaces, the batching of decisions, the fall-back to this process's limiter, and the step that
admits a client (no Redis here: tests/scale/test_shared_rates.py runs the real script)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from gateway.kernel.errors import EnlaceError
from gateway.server import throttle
from gateway.server.exchange import authorise
from gateway.server.exchange.context import Exchange
from gateway.server.limits import SLACK, ClientLimiter, Limit, gcra
from gateway.server.replay_claims import fresh
from gateway.server.shared_rates import SharedRates, requests
from gateway.storage.rates import Request
from gateway.storage.registry import ClientLimit, Snapshot

STILL = 1e-6  # no request regained during a test


def test_gcra_decides_as_the_token_bucket_it_replaces() -> None:
    """Request times drawn at random; bursts at one instant too (where a sum's rounding must
    not refuse the last of a burst)."""
    draw = random.Random(9)
    for _ in range(200):
        rate, burst = draw.choice([0.5, 1.0, 3.0, 50.0]), draw.randint(1, 5)
        tokens, then, tat, now = float(burst), 0.0, 0.0, 0.0
        for _ in range(30):
            now += draw.choice([0.0, draw.uniform(0, 0.5), draw.uniform(0, 2.5)]) / rate
            tokens, bucket_wait = throttle.spend(tokens, now - then, rate, burst)
            then = now
            tat, wait = gcra(tat, now, 1 / rate, burst)
            if 0 < bucket_wait <= 2 * SLACK:
                continue  # within the slack for rounding: either answer is right
            assert (wait > 0) == (bucket_wait > 0)
            assert wait == pytest.approx(bucket_wait, abs=1e-9)


def test_gcra_admits_the_burst_then_says_how_long_until_the_next() -> None:
    tat, now = 0.0, 100.0
    for _ in range(3):
        tat, wait = gcra(tat, now, 2.0, 3)
        assert wait == 0
    assert gcra(tat, now, 2.0, 3) == (tat, 2.0)  # refused: nothing moves
    assert gcra(tat, now + 2.0, 2.0, 3)[1] == 0  # one interval later, one more


def test_a_limit_raised_holds_from_the_next_request() -> None:
    """A TAT left far ahead by a stricter limit (here one request every 10⁶ s) is an empty
    bucket under the new one, not a lock-out for as long as the old limit said."""
    tat, now = 0.0, 0.0
    for _ in range(5):
        tat, _wait = gcra(tat, now, 1e6, 5)
    assert tat == 5e6
    tat, wait = gcra(tat, now, 0.02, 100)  # restored: 50 a second, burst 100
    assert 0 < wait <= 0.02 + SLACK  # empty, regaining at the new rate
    tat, wait = gcra(tat, now + 0.02, 0.02, 100)
    assert wait == 0


def test_the_store_is_asked_each_client_s_interval_and_burst() -> None:
    assert requests([("a", Limit(4.0, 7, 1)), ("b", Limit(0.5, 1, 1))]) == [
        ("a", 0.25, 7),
        ("b", 2.0, 1),
    ]


def test_the_first_request_of_a_batch_holding_a_key_wins_it() -> None:
    batch = [[b"n1", b"i1"], [b"n1", b"i2"], [b"n3", b"i3"], [b"n4", b"i4"]]
    assert fresh(batch, {b"n1", b"i1", b"i2", b"n3", b"i3", b"i4"}) == [True, False, True, False]


class Store:
    """A shared store in memory (GCRA on one clock that does not move), or a failing one."""

    def __init__(self) -> None:
        self.tats: dict[str, float] = {}
        self.calls: list[int] = []
        self.failing = False

    def spend(self, asked: Sequence[Request]) -> list[float]:
        self.calls.append(len(asked))
        if self.failing:
            raise ConnectionError("unreachable")
        waits = []
        for client, interval, burst in asked:
            self.tats[client], wait = gcra(self.tats.get(client, 0.0), 0.0, interval, burst)
            waits.append(wait)
        return waits

    def close(self) -> None:
        pass


def _shared(store: Store, default: Limit) -> tuple[SharedRates, ClientLimiter, list[int]]:
    local, fallbacks = ClientLimiter(default), []
    return SharedRates(store, local, fallbacks.append), local, fallbacks


async def test_decisions_of_one_loop_iteration_go_in_one_call_in_order() -> None:
    store = Store()
    shared, _, fallbacks = _shared(store, Limit(STILL, 3, 100))
    limit = Limit(STILL, 3, 100)
    waits = await asyncio.gather(*(shared.spend("a", limit) for _ in range(5)))
    assert [w == 0 for w in waits] == [True, True, True, False, False]
    assert store.calls == [5] and shared.batches == 1 and not fallbacks


async def test_an_unreachable_store_falls_back_to_this_process_s_limiter() -> None:
    store = Store()
    limit = Limit(STILL, 2, 100)
    shared, _, fallbacks = _shared(store, limit)
    assert await shared.spend("a", limit) == 0  # one spent in the shared budget
    store.failing = True
    waits = await asyncio.gather(*(shared.spend("a", limit) for _ in range(3)))
    assert [w == 0 for w in waits] == [True, True, False]  # this process's own full bucket
    assert fallbacks == [3] and not shared.available
    store.failing = False
    assert await shared.spend("a", limit) == 0  # the shared budget's second
    assert shared.available and await shared.spend("a", limit) > 0


def _snapshot(limits: dict[str, ClientLimit]) -> Snapshot:
    return Snapshot(version=1, subsystems=frozenset({"A"}), limits=limits)


def _exchange() -> Exchange:
    return Exchange(received_at="", method="GET", request_hash="")


async def test_admit_counts_the_client_in_then_spends_its_shared_rate() -> None:
    store = Store()
    shared, local, _ = _shared(store, Limit(STILL, 1, 1))
    snapshot = _snapshot({"A": ClientLimit(burst=2, concurrency=5)})
    first, second, third = _exchange(), _exchange(), _exchange()
    await authorise.admit(snapshot, local, shared, "A", first)
    await authorise.admit(snapshot, local, shared, "A", second)
    with pytest.raises(EnlaceError) as refused:
        await authorise.admit(snapshot, local, shared, "A", third)
    assert refused.value.code == "Client.RateLimited" and refused.value.retry_after
    assert "burst 2" in refused.value.message  # the client's own limits, not the defaults
    assert third.admitted == "A"  # counted in flight: the pipeline releases it
    for _ in range(3):
        local.release("A")
    with pytest.raises(EnlaceError, match="not registered"):
        await authorise.admit(snapshot, local, shared, "B", _exchange())
