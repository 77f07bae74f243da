"""What deciding a client's rate costs the gateway per exchange: in this process, or shared in
Redis (``gateway/server/shared_rates.py``), measured in the same run.

Drives the admission step every exchange takes (``authorise.admit``: the client registered, its
concurrency counted in, its rate spent; then released as the pipeline does) for ``--concurrency``
exchanges at once, ``--exchanges`` a round, the rounds alternating between the two ways, and
reads this process's CPU time (``time.process_time``: every thread, the one that calls Redis
included; Redis's own CPU is not counted, see ``--redis-cpu``). The limits never refuse (the
bench's unlimited client), so every exchange does the whole work. Prints the median and the
minimum of each way, and their difference: the CPU the shared rate adds to an exchange.

    PYTHONPATH=$PWD .venv/bin/python loadtests/rate_cost.py [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import redis

from gateway.server.exchange import authorise
from gateway.server.exchange.context import Exchange
from gateway.server.limits import ClientLimiter, Limit
from gateway.server.shared_rates import SharedRates
from gateway.storage.rates import RedisRates
from gateway.storage.registry import Snapshot

UNLIMITED = Limit(rate=1e6, burst=1_000_000, concurrency=100_000)
REDIS_OWN = "Redis's own time in script calls (not the gateway's)"


async def _round(limiter: ClientLimiter, shared: SharedRates | None, args) -> float:  # noqa: ANN001
    """CPU µs per exchange of admitting (and releasing) ``args.exchanges``."""
    clients = [f"MX/GOB/BENCH/{uuid.uuid4().hex[:8]}" for _ in range(args.clients)]
    snapshot = Snapshot(version=1, subsystems=frozenset(clients))

    async def one(n: int) -> None:
        client = clients[n % len(clients)]
        await authorise.admit(snapshot, limiter, shared, client, Exchange("", "GET", ""))
        limiter.release(client)

    started = time.process_time()
    for first in range(0, args.exchanges, args.concurrency):
        await asyncio.gather(*(one(n) for n in range(first, first + args.concurrency)))
    return (time.process_time() - started) / args.exchanges * 1e6


def _evalsha_usec(url: str) -> float:
    """Redis's own time in script calls so far (every client's: the server may be shared)."""
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec", 0))


async def _run(args: argparse.Namespace) -> tuple[dict[str, list[float]], float]:
    """Each way's figures by round, and the exchanges per script call."""
    limiter = ClientLimiter(UNLIMITED)
    shared = SharedRates(RedisRates(args.redis, 2.0), limiter, lambda n: None)
    ways: list[tuple[str, SharedRates | None]] = [("this process", None), ("Redis", shared)]
    figures: dict[str, list[float]] = {name: [] for name, _ in ways}
    figures[REDIS_OWN] = []
    await _round(limiter, shared, args)  # warm-up: the script loaded, the pool opened
    shared.batches = 0
    for n in range(args.rounds * 2):
        name, way = ways[n % 2]
        before = _evalsha_usec(args.redis) if way else 0.0
        figures[name].append(await _round(limiter, way, args))
        if way:
            spent = _evalsha_usec(args.redis) - before
            figures[REDIS_OWN].append(spent / args.exchanges)
    shared.close()
    return figures, args.rounds * args.exchanges / max(1, shared.batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--rounds", type=int, default=15, help="of each way")
    parser.add_argument("--exchanges", type=int, default=5000, help="per round")
    parser.add_argument("--concurrency", type=int, default=50, help="exchanges at once")
    parser.add_argument("--clients", type=int, default=10, help="distinct clients")
    args = parser.parse_args()
    figures, per_call = asyncio.run(_run(args))
    for name, rounds in figures.items():
        print(
            f"{name if name == REDIS_OWN else 'client rate decided in ' + name}: "
            f"CPU µs/exchange median "
            f"{statistics.median(rounds):.1f}, min {min(rounds):.1f} over {len(rounds)} rounds "
            f"of {args.exchanges}, {args.concurrency} at once, {args.clients} clients"
        )
    added = statistics.median(figures["Redis"]) - statistics.median(figures["this process"])
    print(
        f"the shared rate adds {added:.1f} µs of gateway CPU per exchange (medians), "
        f"{per_call:.1f} exchanges per script call"
    )


if __name__ == "__main__":
    main()
