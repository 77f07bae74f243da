"""Client rates shared through Redis, on the real server: two limiters (two processes' worth)
spend one client's budget, and two real ``enlace serve`` on one PostgreSQL and one Redis refuse
a client past its burst whichever of them it asks."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import redis

from gateway.devtools import bootstrap
from gateway.kernel.protocol import headers as h
from gateway.server.limits import ClientLimiter, Limit
from gateway.server.shared_rates import SharedRates
from gateway.storage import rates, registry
from tests.e2e.helpers import Call, error_code
from tests.scale.conftest import serving, tls
from tests.scale.test_election_and_claims import REDIS_URL

STILL = 1e-6  # no request regained during a test


@pytest.fixture
def store():  # noqa: ANN201
    opened = rates.RedisRates(REDIS_URL, 2.0, f"test.example/log+{uuid.uuid4().hex[:8]}")
    try:
        opened.spend([(f"probe-{uuid.uuid4()}", 1.0, 1)])
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    try:
        yield opened
    finally:
        opened.close()


def _shared(store: rates.RateStore, limit: Limit) -> SharedRates:
    return SharedRates(store, ClientLimiter(limit), lambda n: None)


async def test_two_processes_spend_one_client_s_budget(store: rates.RedisRates) -> None:
    limit, client = Limit(STILL, 7, 1000), f"MX/GOB/TEST/{uuid.uuid4().hex}"
    one, other = _shared(store, limit), _shared(store, limit)
    waits = await asyncio.gather(
        *(shared.spend(client, limit) for _ in range(12) for shared in (one, other))
    )
    assert sum(1 for wait in waits if wait == 0) == 7  # not 7 each
    assert one.batches == 1 and other.batches == 1  # each its 12 in one script call
    assert await one.spend(f"{client}-2", limit) == 0  # another client: its own budget


async def test_a_refusal_says_how_long_and_the_budget_comes_back(store: rates.RedisRates) -> None:
    client, interval = f"MX/GOB/TEST/{uuid.uuid4().hex}", 1000.0  # one request every 1000 s
    assert store.spend([(client, interval, 2)] * 2) == [0, 0]
    (wait,) = store.spend([(client, interval, 2)])
    assert 999 < wait <= 1000  # the next in a thousand seconds
    with redis.Redis.from_url(REDIS_URL) as direct:
        ttl = direct.pttl(store.prefix + client)
        assert 1_999_000 < ttl <= 2_000_000  # forgotten once the bucket would be full again
        direct.set(store.prefix + client, "0")  # as if the TAT were long past
    assert store.spend([(client, interval, 2)] * 3) == [0, 0, pytest.approx(1000, abs=1)]


def test_a_limit_raised_holds_from_the_next_request(store: rates.RedisRates) -> None:
    client = f"MX/GOB/TEST/{uuid.uuid4().hex}"
    assert store.spend([(client, 1e6, 5)] * 5) == [0] * 5  # the TAT now 5·10⁶ s ahead
    (wait,) = store.spend([(client, 0.02, 100)])  # restored: empty at worst, not locked out
    assert 0 < wait <= 0.021


def test_two_gateways_on_one_redis_hold_a_client_to_one_budget(
    pg_dev, sep, people, tmp_path
) -> None:
    with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as direct:
        try:
            direct.ping()  # the keys are this instance's own (its log's): nothing to clear
        except redis.RedisError as exc:
            pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    burst, sent = 5, 16
    registry.set_limit(pg_dev.database, bootstrap.BECAS, registry.ClientLimit(STILL, burst))
    public = "https://enlace.example"
    env = {
        "ENLACE_REDIS_URL": REDIS_URL,
        "ENLACE_PUBLIC_URL": public,
        "ENLACE_CLIENT_THROTTLE_DELAY": "0",  # refusals sent at once
    }
    subject = {h.SUBJECT: next(p for p in people if p.estatus_curp == "AN").curp}
    log = tmp_path / "serve.log"
    with (
        serving(pg_dev, log, **env) as a,
        serving(pg_dev, log, **env) as b,
        httpx.Client(verify=tls(pg_dev), timeout=30) as http,
    ):
        answers = []
        for n in range(sent):
            call = Call(public, sep, headers=subject).sign()
            url = (a, b)[n % 2].url
            answers.append(
                http.request(call.method, f"{url}/r1/{call.service}", headers=call.headers)
            )
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == burst, statuses  # one budget, not one per gateway
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(refused) == sent - burst
    assert {error_code(answer) for answer in refused} == {"Client.RateLimited"}
    assert all(int(answer.headers["Retry-After"]) > 1000 for answer in refused)
