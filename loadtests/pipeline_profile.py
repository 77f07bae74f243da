"""CPU per exchange of the gateway's own code, without HTTP or TLS: stable on a noisy machine.

The bench (``loadtests/bench``) measures the whole server over HTTPS; on a shared, loaded
machine its figures swing with everything else running. This drives the same ASGI application
``enlace serve`` runs (``gateway.server.app.create_app``: the ``/r1`` dispatcher, the pipeline,
the ledger writer on a real SQLite file, the in-process RENAPO source) on uvloop, as
``enlace serve`` does, with pre-signed CURP requests, ``--concurrency`` in flight, and reads
the process's CPU time (``time.process_time``: every thread, the ledger writer's included) per
exchange. Each round signs its requests first (outside the measured window, ``created`` must
be fresh); the table gives the minimum and the median over rounds: the minimum is the figure
least disturbed by other work on the host.

    PYTHONPATH=$PWD .venv/bin/python loadtests/pipeline_profile.py [--rounds 7] [--requests 600]
    PYTHONPATH=$PWD .venv/bin/python loadtests/pipeline_profile.py --profile out.pstats

``--profile`` writes a cProfile of one more round (read it with ``python -m pstats``).
``--case remote`` asks RENAPO as a remote source instead (the bench's ``remote`` case): the
gateway's outgoing hop over real loopback mutual TLS to ``enlace source run renapo``, a
subprocess pinned to CPU 0, whose CPU (and, under callgrind, instructions) is not counted.
``--shared-rates REDIS_URL`` alternates rounds with the client rate decided in this process and
in Redis (``gateway/server/shared_rates.py``; replay claims stay in memory, as on SQLite), and
gives both figures: what the shared rate costs an exchange, measured in the same run.
No network but that Redis and loopback: a throwaway dev instance in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import uvloop

from gateway.kernel.settings import Settings
from gateway.server import remote
from gateway.server.app import create_app
from gateway.server.run import free_port
from gateway.server.shared_rates import SharedRates
from gateway.storage.rates import RedisRates
from loadtests.bench import instance as bench_instance
from loadtests.bench import pool, scenarios, servers
from loadtests.bench.servers import UNLIMITED
from services.apps import catalogue

AUTHORITY = "127.0.0.1:8443"
#: The bench cases this can drive, and how the table names them.
CASES = {"curp": "in process", "remote": "remote source (mTLS)"}
#: Under valgrind a remote source's answer at 50 in flight, or 50 TLS handshakes at once, take
#: seconds, not milliseconds.
SOURCE_TIMEOUT = 120.0


def scope(signed: pool.Signed) -> dict[str, Any]:
    """The ASGI scope uvicorn would give for ``signed`` sent over HTTPS."""
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

    await app(scope(signed), receive, send)
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


def _sign(args: tuple[pool.Template, str, int, int]) -> list[pool.Signed]:
    template, pki_dir, start, count = args
    return pool.sign(template, pki_dir, f"https://{AUTHORITY}", start, count)


def _instance(work: Path) -> bench_instance.Instance:
    """The dev instance in ``work``, made on first use (its subjects and dataset kept beside it)."""
    saved = work / "subjects.json"
    if saved.exists():
        kept = json.loads(saved.read_text())
        dataset = Path(kept.pop("dataset"))
        settings = Settings(database_url=f"sqlite:///{work / 'enlace.db'}", pki_dir=work / "certs")
        return bench_instance.Instance(settings, dataset, scenarios.Subjects(**kept))
    made = bench_instance.create(work, citizens=1000, ocsp_url="http://127.0.0.1:9/ocsp")
    kept = {**dataclasses.asdict(made.subjects), "dataset": str(made.dataset)}
    saved.write_text(json.dumps(kept))
    return made


@contextlib.contextmanager
def _remote_source(made: bench_instance.Instance, work: Path) -> Iterator[None]:
    """RENAPO's own mutual-TLS service, registered as the remote source once per instance (on
    the port it was registered with), pinned to the helpers' CPU, stopped at the end."""
    saved = work / "remote-port"
    if saved.exists():
        port = int(saved.read_text())
    else:
        port = free_port()
        bench_instance.register_remote(made, f"https://127.0.0.1:{port}")
        saved.write_text(str(port))
    argv = ["-m", "gateway", "source", "run", "renapo", "--provider", str(catalogue.RENAPO)]
    argv += ["--port", str(port), "--option", f"dataset={made.dataset}"]
    argv += ["--pki-dir", str(made.pki_dir)]
    source = servers.start("remote-renapo", argv, cpu=servers.HELPER_CPU, port=port, work=work)
    try:
        servers.wait_tcp(source)
        yield
    finally:
        servers.stop(source)


@contextlib.contextmanager
def _callgrind_window(enabled: bool, figures: list[float], count: int) -> Iterator[None]:
    """Under ``valgrind --tool=callgrind``: count the instructions of the block alone."""
    if not enabled:
        yield
        return
    _callgrind("-z")
    yield
    dump = _callgrind("-d")
    figures.append(dump / count)


def _callgrind(option: str) -> float:
    """Send ``callgrind_control option`` to this process; busy-wait (the tool answers between
    guest instructions); the instruction count of the newest dump after ``-d``."""
    pid = os.getpid()
    before = set(Path.cwd().glob(f"callgrind.out.{pid}*"))
    control = subprocess.Popen(["callgrind_control", option, str(pid)], stdout=subprocess.DEVNULL)
    while control.poll() is None:
        time.sleep(0.001)
    if option != "-d":
        return 0.0
    (dump,) = set(Path.cwd().glob(f"callgrind.out.{pid}*")) - before
    return instructions(dump.read_bytes())


def instructions(dump: bytes) -> float:
    """The instruction count (``Ir``) of a callgrind dump: its ``summary`` (or ``totals``)."""
    found = re.search(rb"^(?:summary|totals): (\d+)", dump, re.MULTILINE)
    if found is None:
        raise ValueError("not a callgrind dump")
    return float(found.group(1))


def _variants(app: Any, redis_url: str | None) -> list[tuple[str, SharedRates | None]]:
    """The gateway's rate decisions to alternate between, by name."""
    if redis_url is None:
        return [("", None)]
    gw = app.gateway
    shared = SharedRates(
        RedisRates(redis_url, 2.0), gw.client_limits, gw.metrics.rate_fallbacks.inc
    )
    return [("rate in this process", None), ("rate shared in Redis", shared)]


async def _run(args: argparse.Namespace, made: bench_instance.Instance) -> dict[str, list[float]]:
    # The bench's unlimited client (servers.UNLIMITED), as settings.
    unlimited = {k.removeprefix("ENLACE_").lower(): v for k, v in UNLIMITED.items()}
    # A registry check, or a remote source's answer, may lag under valgrind: neither may fail the
    # exchanges.
    settings = Settings(
        database_url=made.settings.database_url,
        pki_dir=made.pki_dir,
        registry_max_age=3600.0,
        source_timeout=SOURCE_TIMEOUT,
        **unlimited,
    )
    remote.CONNECT_TIMEOUT = SOURCE_TIMEOUT  # read as each source is built
    app = create_app(settings)
    template = scenarios.cases(made.subjects, args.concurrency)[args.case].template
    assert template is not None

    # Signed in other processes: not in this one's CPU time, nor under valgrind.
    signer = ProcessPoolExecutor(2, mp_context=get_context("spawn"))

    def requests(start: int) -> list[pool.Signed]:
        half = args.requests // 2
        jobs = [
            (template, str(made.pki_dir), start, half),
            (template, str(made.pki_dir), start + half, args.requests - half),
        ]
        return [signed for part in signer.map(_sign, jobs) for signed in part]

    await app.gateway.start()
    variants = _variants(app, args.shared_rates)
    figures: dict[str, list[float]] = {name: [] for name, _ in variants}
    try:
        await _round(app, requests(0), args.concurrency)  # warm-up
        for n in range(1, args.rounds * len(variants) + 1):
            name, app.gateway.shared_rates = variants[n % len(variants)]
            batch = requests(n * args.requests)
            with _callgrind_window(args.callgrind, figures[name], len(batch)):
                spent = await _round(app, batch, args.concurrency)
            if not args.callgrind:
                figures[name].append(spent)
        if args.profile:
            batch = requests(0)
            profiler = cProfile.Profile()
            profiler.enable()
            await _round(app, batch, args.concurrency)
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        app.gateway.shared_rates = None
        await app.gateway.stop()
        signer.shutdown()
        for _, shared in variants:
            if shared is not None:
                shared.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=600, help="per round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--case", choices=CASES, default="curp", help="in process or remote")
    parser.add_argument("--profile", help="write a cProfile of one more round here")
    parser.add_argument("--instance", help="keep the dev instance here (made once, reused)")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="run under valgrind --tool=callgrind: count instructions, not CPU time",
    )
    parser.add_argument(
        "--shared-rates",
        metavar="REDIS_URL",
        help="alternate rounds: client rate in this process / shared in this Redis",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.instance or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="enlace-pipeline-")
        )
        Path(work).mkdir(parents=True, exist_ok=True)
        made = _instance(Path(work))
        if args.case == "remote":
            stack.enter_context(_remote_source(made, Path(work)))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as `enlace serve`
            figures = runner.run(_run(args, made))
    unit = "instructions/exchange" if args.callgrind else "CPU µs/exchange"
    for name, rounds in figures.items():
        print(
            f"CURP exchange, {CASES[args.case]}, SQLite, {args.concurrency} in flight, no HTTP/TLS"
            f"{', ' + name if name else ''}: {unit} min {min(rounds):,.0f}, "
            f"median {statistics.median(rounds):,.0f} over {len(rounds)} rounds of {args.requests}"
        )


if __name__ == "__main__":
    main()
