"""The cases that are not one wrk against one server (issue 9's figures): ``flood``,
``gateways2`` and ``takeover``.

- ``flood``: a well-behaved client (SEP, one connection, its own limit raised) alone, then while
  another client (SRE, 50 connections, the default limits) floods the same gateway and is
  answered 429 past its rate; unloaded and loaded rounds alternate, and the report gives both
  clients' figures and the well-behaved client's p99 ratio (target ≤ 2).
- ``gateways2``: two ``enlace serve`` processes on one PostgreSQL database, each loaded by its
  own wrk at once; exchanges/s summed, CPU per exchange over both process trees.
- ``takeover``: on that pair, SIGKILL the one whose ``/healthz`` says ``"signer": true``, keep
  exchanges flowing to the other, and time until its ``/healthz`` says it signs and it serves a
  checkpoint of a bigger tree than the last one before the kill.

The last two need the scale-out work (``enlace serve --workers``, a ``signer`` in ``/healthz``);
without it they are reported unavailable, with the reason. CPU comes from ``/proc`` as
elsewhere; every round's figures are medians over interleaved rounds.
"""

from __future__ import annotations

import contextlib
import ssl
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.storage import db as dbm
from gateway.storage import registry
from loadtests.bench import instance, metrics, procstat, servers, wrk
from loadtests.bench.pool import Signer, Template, sign
from services.apps import catalogue

EXTRA = ("flood", "gateways2", "takeover")
#: Seconds each extra case may take at most, set aside from ``--budget`` for it.
RESERVED = {"flood": 30.0, "gateways2": 20.0, "takeover": 25.0}
#: The well-behaved client's own limit in the flood case: never the one limited.
GENEROUS = registry.ClientLimit(rate=100_000, burst=100_000, concurrency=1000)
FLOOD_CONNECTIONS = 50
TAKEOVER_BOUND = 60.0


@dataclass
class Extras:
    """What the extra cases need from the run, and what they found."""

    work: Path
    dev: instance.Instance
    signer: Signer
    ca: Path
    pg_url: str
    seconds: float
    rounds: int
    connections: int
    curp: Template
    flooder: Template
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: bool = False

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def scale_available() -> str | None:
    """None when ``enlace serve`` runs several processes on one database; else why not."""
    if servers.serve_has_workers():
        return None
    return "`enlace serve` has no --workers yet (the scale-out branch)"


# --- helpers -----------------------------------------------------------------------------------


def _pool(ex: Extras, template: Template, url: str, count: int, name: str) -> Path:
    [raw] = ex.signer.pools([(template, url, count)])
    return wrk.write_pool(raw, ex.work / f"{name}.pool")


def _wrk(url: str, pool: Path, seconds: float, connections: int) -> Callable[[], wrk.WrkResult]:
    return lambda: wrk.run(url, pool, seconds=seconds, connections=connections, cycle=False)


def _together(jobs: list[Callable[[], wrk.WrkResult]]) -> list[wrk.WrkResult]:
    with ThreadPoolExecutor(len(jobs)) as executor:
        return [f.result() for f in [executor.submit(job) for job in jobs]]


def _exchanges(server: servers.Server, tls: ssl.SSLContext) -> float:
    return metrics.parse(httpx.get(server.url + "/metrics", verify=tls, timeout=10).text).exchanges


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


# --- flood ---------------------------------------------------------------------------------------


def flood(ex: Extras, stack: contextlib.ExitStack) -> None:
    url = f"sqlite:///{ex.work / 'flood.db'}"
    settings = instance.second(ex.dev, ex.work, "flood", url)
    database = dbm.open_database(url)
    try:
        registry.set_limit(database, catalogue.BECAS, GENEROUS)
    finally:
        database.dispose()
    gateway = servers.gateway(
        "gateway-flood", database_url=url, pki_dir=settings.pki_dir, work=ex.work, limited=True
    )
    stack.callback(servers.stop, gateway)
    servers.wait_http(gateway, "/livez", ex.ca)
    quiet: list[wrk.WrkResult] = []
    loud: list[tuple[wrk.WrkResult, wrk.WrkResult]] = []
    good_count, flood_count = int(800 * ex.seconds), int(3000 * (ex.seconds + 1))
    for number in range(ex.rounds):
        good = _pool(ex, ex.curp, gateway.url, good_count, f"flood-good-{number}")
        quiet.append(_wrk(gateway.url, good, ex.seconds, 1)())
        good = _pool(ex, ex.curp, gateway.url, good_count, f"flood-good-{number}b")
        bad = _pool(ex, ex.flooder, gateway.url, flood_count, f"flood-bad-{number}")
        flooding = _wrk(gateway.url, bad, ex.seconds + 1, FLOOD_CONNECTIONS)
        delayed = _after(0.5, _wrk(gateway.url, good, ex.seconds, 1))
        flood_result, good_result = _together([flooding, delayed])
        loud.append((good_result, flood_result))
    _flood_figures(ex, quiet, loud)


def _after(seconds: float, job: Callable[[], wrk.WrkResult]) -> Callable[[], wrk.WrkResult]:
    """``job`` once the flood has begun."""

    def later() -> wrk.WrkResult:
        threading.Event().wait(seconds)
        return job()

    return later


def _flood_figures(
    ex: Extras, quiet: list[wrk.WrkResult], loud: list[tuple[wrk.WrkResult, wrk.WrkResult]]
) -> None:
    alone_p99 = _median([r.p99 for r in quiet])
    loaded_p99 = _median([g.p99 for g, _ in loud])
    limited = sum(f.statuses.get(429, 0) for _, f in loud)
    errors = sum(r.unexpected(200) for r in quiet) + sum(g.unexpected(200) for g, _ in loud)
    ex.figures["flood"] = {
        "alone": {"rps": _median([r.rps for r in quiet]), "p50": _median([r.p50 for r in quiet]),
                  "p99": alone_p99},
        "flooded": {"rps": _median([g.rps for g, _ in loud]),
                    "p50": _median([g.p50 for g, _ in loud]), "p99": loaded_p99},
        "flooder": {"rps": _median([f.rps for _, f in loud]), "answered_429": limited,
                    "statuses": dict(sum((f.statuses for _, f in loud), start=Counter()))},
        "p99_ratio": loaded_p99 / alone_p99 if alone_p99 else None,
        "good_client_errors": errors,
    }  # fmt: skip
    ex.failed |= errors > 0 or limited == 0


# --- two gateways on one PostgreSQL, and the take-over ----------------------------------------


def pair(ex: Extras, stack: contextlib.ExitStack) -> list[servers.Server]:
    """Two ``enlace serve`` processes on one fresh PostgreSQL database, sharing a PKI."""
    settings = stack.enter_context(instance.postgres(ex.dev, ex.work, ex.pg_url, name="pg2"))
    started = []
    for name in ("gateway-pg-a", "gateway-pg-b"):
        server = servers.gateway(
            name,
            database_url=settings.database_url,
            pki_dir=settings.pki_dir,
            work=ex.work,
            cpu=servers.ALL_CPUS,
        )
        stack.callback(servers.stop, server)
        started.append(server)
    for server in started:
        servers.wait_http(server, "/livez", ex.ca)
    return started


def gateways2(ex: Extras, gateways: list[servers.Server]) -> None:
    tls, each = ex.tls(), max(1, ex.connections // len(gateways))
    rps, cpu_us, errors = [], [], 0
    for number in range(ex.rounds):
        pools = [
            _pool(ex, ex.curp, g.url, int(1500 * ex.seconds), f"g2-{number}-{n}")
            for n, g in enumerate(gateways)
        ]
        before = [_exchanges(g, tls) for g in gateways]
        cpu = sum(procstat.tree_cpu_seconds(g.pid) for g in gateways)
        results = _together(
            [_wrk(g.url, p, ex.seconds, each) for g, p in zip(gateways, pools, strict=True)]
        )
        cpu = sum(procstat.tree_cpu_seconds(g.pid) for g in gateways) - cpu
        done = sum(_exchanges(g, tls) for g in gateways) - sum(before)
        rps.append(sum(r.rps for r in results))
        cpu_us.append(cpu * 1e6 / done if done else 0.0)
        errors += sum(r.unexpected(200) for r in results)
    ex.figures["gateways2"] = {"rps": _median(rps), "cpu_us": _median(cpu_us), "errors": errors}
    ex.failed |= errors > 0


def _health(server: servers.Server, tls: ssl.SSLContext) -> dict[str, Any]:
    try:
        answer = httpx.get(server.url + "/healthz", verify=tls, timeout=5)
        return dict(answer.json())
    except (httpx.HTTPError, ValueError):
        return {}


def _tree_size(server: servers.Server, tls: ssl.SSLContext) -> int:
    """The tree size of the checkpoint the gateway serves (line 2 of the C2SP note), or -1."""
    try:
        answer = httpx.get(server.url + "/v1/ledger/checkpoint", verify=tls, timeout=5)
        return int(answer.text.splitlines()[1]) if answer.status_code == 200 else -1
    except (httpx.HTTPError, ValueError, IndexError):
        return -1


def takeover(ex: Extras, gateways: list[servers.Server]) -> None:
    tls = ex.tls()
    signers = [g for g in gateways if _health(g, tls).get("signer") is True]
    if len(signers) != 1:
        ex.notes.append(f"takeover: not measured, {len(signers)} gateways say signer true")
        ex.failed = True
        return
    [victim] = signers
    [survivor] = [g for g in gateways if g is not victim]
    before = max(_tree_size(g, tls) for g in gateways)
    victim.process.kill()  # SIGKILL: no goodbye, its lock goes with its connection
    killed = time.monotonic()
    signer_at = newer_at = None
    requests = iter(sign(ex.curp, str(ex.dev.pki_dir), survivor.url, 0, 2000))
    with httpx.Client(verify=tls, timeout=10) as http:
        while newer_at is None and time.monotonic() - killed < TAKEOVER_BOUND:
            signed = next(requests)
            with contextlib.suppress(httpx.HTTPError):  # the tree grows: a checkpoint is due
                http.request(signed.method, survivor.url + signed.path, headers=signed.headers)
            if signer_at is None and _health(survivor, tls).get("signer") is True:
                signer_at = time.monotonic() - killed
            if signer_at is not None and _tree_size(survivor, tls) > before:
                newer_at = time.monotonic() - killed
    ex.figures["takeover"] = {"signer_after_s": signer_at, "newer_checkpoint_after_s": newer_at}
    ex.failed |= newer_at is None


# --- the extra cases of a run -----------------------------------------------------------------


def execute(ex: Extras, chosen: list[str]) -> None:
    """Run the chosen extra cases; a case that cannot run gets a note, not a figure."""
    with contextlib.ExitStack() as stack:
        if "flood" in chosen:
            flood(ex, stack)
    wanted = [name for name in ("gateways2", "takeover") if name in chosen]
    if not wanted:
        return
    missing = scale_available()
    if missing is not None:
        ex.notes += [f"{name}: not measured, {missing}" for name in wanted]
        return
    with contextlib.ExitStack() as stack:
        gateways = pair(ex, stack)
        if "gateways2" in wanted:
            gateways2(ex, gateways)
        if "takeover" in wanted:
            takeover(ex, gateways)


def lines(ex: Extras, single_pg: dict[str, float] | None) -> list[str]:
    """The report's lines for the extra cases (``single_pg``: the ``postgres`` case's rps and
    CPU per exchange, for the two-gateway ratio)."""
    out = []
    if "flood" in ex.figures:
        f = ex.figures["flood"]
        ratio = f"{f['p99_ratio']:.2f}" if f["p99_ratio"] else "-"
        out.append(
            f"flood: well-behaved client (1 conn) alone p50 {f['alone']['p50']:.1f} ms, p99 "
            f"{f['alone']['p99']:.1f} ms; while another floods ({FLOOD_CONNECTIONS} conns, "
            f"{f['flooder']['rps']:.0f}/s answered, {f['flooder']['answered_429']} × 429) p50 "
            f"{f['flooded']['p50']:.1f} ms, p99 {f['flooded']['p99']:.1f} ms: p99 ratio {ratio} "
            "(target ≤ 2)"
        )
    if "gateways2" in ex.figures:
        g = ex.figures["gateways2"]
        ratio = ""
        if single_pg and single_pg.get("rps"):
            ratio = f", {g['rps'] / single_pg['rps']:.2f}× one gateway on PostgreSQL"
        out.append(
            f"gateways2: two gateways on one PostgreSQL, {g['rps']:.0f} exchanges/s, "
            f"{g['cpu_us']:.0f} µs CPU per exchange{ratio}"
        )
    if "takeover" in ex.figures:
        t = ex.figures["takeover"]
        out.append(
            f"takeover: signer SIGKILLed; the other says signer after "
            f"{_seconds(t['signer_after_s'])}, serves a newer checkpoint after "
            f"{_seconds(t['newer_checkpoint_after_s'])}"
        )
    return out + ex.notes


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else f"never (within {TAKEOVER_BOUND:.0f} s)"
