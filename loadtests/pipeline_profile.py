"""CPU per exchange of the gateway's own code, without HTTP or TLS: stable on a noisy machine.

The bench (``loadtests/bench``) measures the whole server over HTTPS; on a shared, loaded
machine its figures swing with everything else running. This drives the same ASGI application
``enlace serve`` runs (``gateway.server.app.create_app``: the ``/r1`` dispatcher, the pipeline,
the ledger writer on a real SQLite file, the in-process RENAPO source) with pre-signed CURP
requests, ``--concurrency`` in flight, and reads the process's CPU time (``time.process_time``:
every thread, the ledger writer's included) per exchange. Each round signs its requests first
(outside the measured window, ``created`` must be fresh); the table gives the minimum and the
median over rounds: the minimum is the figure least disturbed by other work on the host.

    PYTHONPATH=$PWD .venv/bin/python loadtests/pipeline_profile.py [--rounds 7] [--requests 600]
    PYTHONPATH=$PWD .venv/bin/python loadtests/pipeline_profile.py --profile out.pstats

``--profile`` writes a cProfile of one more round (read it with ``python -m pstats``).
No network: a throwaway dev instance in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.kernel.settings import Settings
from gateway.server.app import create_app
from loadtests.bench import instance as bench_instance
from loadtests.bench import pool, scenarios
from loadtests.bench.servers import UNLIMITED

AUTHORITY = "127.0.0.1:8443"


def _scope(signed: pool.Signed) -> dict[str, Any]:
    headers = [(b"host", AUTHORITY.encode())]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in signed.headers.items()]
    return {
        "type": "http",
        "http_version": "1.1",
        "method": signed.method,
        "scheme": "https",
        "path": signed.path,
        "raw_path": signed.path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8443),
    }


async def _one(app: Any, signed: pool.Signed) -> int:
    status, body = 0, b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": signed.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body = message["body"]

    await app(_scope(signed), receive, send)
    if status != 200:
        raise SystemExit(f"unexpected answer {status}: {body[:300]!r}")
    return status


async def _round(app: Any, requests: list[pool.Signed], concurrency: int) -> float:
    """CPU µs per exchange of running ``requests``, ``concurrency`` at a time."""
    queue = iter(requests)
    statuses: list[int] = []

    async def worker() -> None:
        for signed in queue:
            statuses.append(await _one(app, signed))

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = time.process_time() - started
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
    return spent / len(requests) * 1e6


async def _run(args: argparse.Namespace, work: Path) -> list[float]:
    made = bench_instance.create(work, citizens=1000, ocsp_url="http://127.0.0.1:9/ocsp")
    # The bench's unlimited client (servers.UNLIMITED), as settings.
    unlimited = {k.removeprefix("ENLACE_").lower(): v for k, v in UNLIMITED.items()}
    settings = Settings(database_url=made.settings.database_url, pki_dir=made.pki_dir, **unlimited)
    app = create_app(settings)
    template = scenarios.cases(made.subjects, args.concurrency)["curp"].template
    assert template is not None

    def requests(start: int) -> list[pool.Signed]:
        base = f"https://{AUTHORITY}"
        return pool.sign(template, str(made.pki_dir), base, start, args.requests)

    await app.gateway.start()
    try:
        await _round(app, requests(0), args.concurrency)  # warm-up
        figures = [
            await _round(app, requests(n * args.requests), args.concurrency)
            for n in range(1, args.rounds + 1)
        ]
        if args.profile:
            batch = requests(0)
            profiler = cProfile.Profile()
            profiler.enable()
            await _round(app, batch, args.concurrency)
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        await app.gateway.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=600, help="per round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", help="write a cProfile of one more round here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enlace-pipeline-") as work:
        figures = asyncio.run(_run(args, Path(work)))
    print(
        f"CURP exchange, in process, SQLite, {args.concurrency} in flight, no HTTP/TLS: "
        f"CPU µs/exchange min {min(figures):,.0f}, median {statistics.median(figures):,.0f} "
        f"over {len(figures)} rounds of {args.requests}"
    )


if __name__ == "__main__":
    main()
