"""Per-client rate and concurrency limits, the global in-flight cap, and unsigned floods."""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel import pki
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.kernel.protocol.headers import HeaderMap
from gateway.kernel.settings import Settings
from gateway.server.exchange import pipeline
from gateway.server.exchange.context import Inbound
from gateway.server.limits import ClientLimiter, InFlight, Limit, UnsignedFloods
from gateway.server.run import running
from gateway.server.state import Gateway
from gateway.storage import registry
from gateway.storage.db import ledger_entries
from tests.e2e.helpers import Call, error_code, ledger_entry

#: A rate so slow that no token comes back during a test: each limit is then exact.
STILL = 1e-6


def _code(refused: pytest.ExceptionInfo[EnlaceError]) -> str:
    return refused.value.code


def test_a_client_is_limited_by_rate_then_burst_and_others_are_not() -> None:
    limiter = ClientLimiter(Limit(rate=1.0, burst=2, concurrency=10))
    for _ in range(2):
        limiter.admit("a", None, now=0.0)
        limiter.release("a")
    with pytest.raises(EnlaceError) as refused:
        limiter.admit("a", None, now=0.0)
    assert _code(refused) == "Client.RateLimited" and refused.value.retry_after == 1
    limiter.admit("b", None, now=0.0)  # another client has its own bucket
    limiter.admit("a", None, now=1.0)  # a second later one token is back


def test_a_client_is_limited_by_its_exchanges_in_flight() -> None:
    limiter = ClientLimiter(Limit(rate=100.0, burst=100, concurrency=2))
    limiter.admit("a", None, now=0.0)
    limiter.admit("a", None, now=0.0)
    with pytest.raises(EnlaceError) as refused:
        limiter.admit("a", None, now=0.0)
    assert _code(refused) == "Client.RateLimited"
    limiter.release("a")
    limiter.admit("a", None, now=0.0)


def test_a_client_s_own_limits_override_the_defaults() -> None:
    limiter = ClientLimiter(Limit(rate=STILL, burst=1, concurrency=1))
    own = registry.ClientLimit(burst=3, concurrency=None)
    for _ in range(3):
        limiter.admit("a", own, now=0.0)
        limiter.release("a")
    with pytest.raises(EnlaceError):
        limiter.admit("a", own, now=0.0)
    assert Limit(1.0, 2, 3).overridden(registry.ClientLimit(rate=5.0)) == Limit(5.0, 2, 3)


def test_the_global_cap_counts_exchanges_in_flight() -> None:
    cap = InFlight(2)
    assert cap.enter() and cap.enter() and not cap.enter()
    cap.leave()
    assert cap.enter()


def test_unsigned_requests_past_the_budget_are_counted_by_address() -> None:
    floods = UnsignedFloods(per_minute=STILL, burst=2)
    assert [floods.suppressed("192.0.2.1", now=0.0) for _ in range(5)][:2] == [0, 0]
    assert floods.suppressed("192.0.2.1", now=0.0) > 0
    assert floods.suppressed("2001:db8::1", now=0.0) == 0  # its own budget
    assert floods.drain() == {"192.0.2.1": 4}
    assert floods.drain() == {}


# --- over the wire --------------------------------------------------------------------------


def _settings(dev: bootstrap.DevInstance, **limits: object) -> Settings:
    return dev.settings.model_copy(update=limits)


def _verify_signed(dev: bootstrap.DevInstance, response: httpx.Response) -> None:
    gateway = pki.load_cert(dev.pki.gateway("sign")[0])
    answer = signing.Response(response.status_code, dict(response.headers))
    signing.verify_response(
        answer, response.content, key=gateway.public_key(), key_id=pki.keyid(gateway)
    )


def _becas(dev: bootstrap.DevInstance, url: str, curp: str) -> Call:
    signer = dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))
    return Call(url, signer, headers={h.SUBJECT: curp}).sign()


def test_a_client_past_its_burst_gets_a_signed_ledgered_429(
    dev: bootstrap.DevInstance, http: httpx.Client, people: list
) -> None:
    registry.set_limit(dev.database, bootstrap.BECAS, registry.ClientLimit(burst=2))
    settings = _settings(dev, client_rate=STILL)
    curp = people[0].curp
    with running(settings) as url:
        first = [_becas(dev, url, curp).send(http) for _ in range(2)]
        limited = _becas(dev, url, curp).send(http)
    assert [r.status_code for r in first] != [429, 429]
    assert limited.status_code == 429, limited.text
    assert error_code(limited) == "Client.RateLimited"
    assert limited.headers[h.ERROR] == "Client.RateLimited"
    assert int(limited.headers["Retry-After"]) >= 1
    _verify_signed(dev, limited)
    entry = ledger_entry(dev.database, int(limited.headers[h.LEDGER_INDEX]))
    assert (entry["outcome"], entry["error"], entry["status"]) == (
        "refused",
        "Client.RateLimited",
        429,
    )
    assert entry["client_verified"] is True


def _inbound() -> Inbound:
    async def empty():  # type: ignore[no-untyped-def]
        yield b""

    return Inbound("GET", "https", "/r1/x", "", HeaderMap([]), {}, empty(), peer="192.0.2.9")


def test_past_the_global_cap_an_exchange_is_shed_signed_and_not_ledgered(
    dev: bootstrap.DevInstance,
) -> None:
    gw = Gateway(_settings(dev, max_inflight=1))
    with dev.database.read.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar()
    gw.inflight.enter()  # one exchange is being served: the cap is reached
    shed = asyncio.run(pipeline.handle(gw, _inbound()))
    assert shed.status == 503 and shed.headers[h.ERROR] == "Server.Overloaded"
    assert shed.headers["Retry-After"] == "1" and h.LEDGER_INDEX not in shed.headers
    response = httpx.Response(shed.status, headers=shed.headers, content=shed.body)
    _verify_signed(dev, response)
    assert gw.inflight.count == 1  # the shed exchange never counted
    with dev.database.read.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar()
    assert after == before
    gw.db.dispose()


def test_a_body_still_arriving_holds_no_slot_of_the_global_cap(
    dev: bootstrap.DevInstance,
) -> None:
    gw = Gateway(_settings(dev, max_inflight=1, body_timeout=3600.0))

    async def scenario() -> tuple[int, bool]:
        reading = asyncio.Event()

        async def trickle():  # type: ignore[no-untyped-def]
            reading.set()
            await asyncio.Event().wait()  # the rest of the body never comes
            yield b""

        headers = HeaderMap([("content-length", "10")])
        slow = Inbound("POST", "https", "/r1/x", "", headers, {}, trickle(), peer="192.0.2.9")
        task = asyncio.get_running_loop().create_task(pipeline.handle(gw, slow))
        await reading.wait()  # the exchange is waiting for its body
        held, free = gw.inflight.count, gw.inflight.enter()
        task.cancel()
        return held, free

    held, free = asyncio.run(scenario())
    assert held == 0 and free  # the one slot is still there for an exchange ready to run
    gw.db.dispose()


def test_a_thousand_unsigned_requests_do_not_write_a_thousand_entries(
    dev: bootstrap.DevInstance,
) -> None:
    requests, budget = 1000, 5
    settings = _settings(
        dev, unsigned_per_minute=STILL, unsigned_burst=budget, unsigned_flood_interval=3600
    )
    with dev.database.read.connect() as conn:
        start = conn.execute(sa.select(sa.func.max(ledger_entries.c.idx))).scalar_one() + 1
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with running(settings) as url, httpx.Client(verify=context, timeout=30) as http:
        answers = [http.get(f"{url}/r1/{bootstrap.CURP_SERVICE}") for _ in range(requests)]
    # The gateway has stopped, and ledgered the flood as it did.
    statuses = [r.status_code for r in answers]
    assert statuses[:budget] == [400] * budget  # ledgered one by one, as usual
    assert statuses[budget:] == [429] * (requests - budget)
    last = answers[-1]
    assert error_code(last) == "Client.RateLimited" and "Retry-After" in last.headers
    assert h.LEDGER_INDEX not in last.headers
    _verify_signed(dev, last)
    with dev.database.read.connect() as conn:
        rows = conn.execute(
            sa.select(ledger_entries.c.kind, ledger_entries.c.body).where(
                ledger_entries.c.idx >= start, ledger_entries.c.kind != "admin"
            )
        ).all()
    kinds = [kind for kind, _ in rows]
    assert kinds.count("exchange") == budget
    floods = [json.loads(body) for kind, body in rows if kind == "flood"]
    assert [(f["address"], f["count"]) for f in floods] == [("127.0.0.1", requests - budget)]


def test_over_limit_refusals_are_held_up_to_a_bound_then_sent_at_once() -> None:
    from gateway.server.held import HeldRefusals

    async def scenario() -> tuple[list[bool], int, int]:
        held = HeldRefusals(delay=3600, cap=2)
        waiting = [asyncio.create_task(held.hold(5)) for _ in range(2)]
        while held.count < 2:  # both are waiting
            await asyncio.sleep(0)
        at_once = await held.hold(5)  # past the bound: not held
        held.release_all()
        return [*(await asyncio.gather(*waiting)), at_once], held.total, held.unheld

    outcomes, total, unheld = asyncio.run(scenario())
    assert outcomes == [True, True, False] and (total, unheld) == (2, 1)
