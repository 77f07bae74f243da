"""The command line and the rounds: set up, probe, warm up, measure interleaved, report.

    PYTHONPATH=. .venv/bin/python -m loadtests.bench [--cases curp,remote,...] [--rounds 3]
        [--seconds 3] [--connections 50] [--json FILE]

Every case gets a short warm-up round (which also sizes its pools), then ``--rounds`` measured
rounds; the rounds cycle through the cases (each round starting one case later), so a slow
spell of this shared machine spreads over all of them, and the table shows medians. A round's
server CPU is read from ``/proc`` just before and after wrk runs, its ledger batches from
``/metrics`` outside that window. The run stops starting rounds after ``--budget`` seconds.

Exit status: 0 when every case was measured without errors, 1 when a case's probe failed or a
round had errors, 2 when a server failed (the run's directory and logs are then kept).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.kernel import pki
from gateway.kernel.settings import Settings
from gateway.server.run import free_port
from loadtests.bench import (
    instance,
    mapfold,
    metrics,
    procstat,
    report,
    scale,
    scenarios,
    servers,
    sockets,
    stats,
    wrk,
)
from loadtests.bench.pool import Signer, sign
from loadtests.bench.scenarios import Case
from services.apps import catalogue

#: Cases measured against others: ``workers`` against ``postgres`` (one worker) and against
#: what two processes gain here with no gateway work (``bare-2w`` against ``bare``);
#: ``gateways2`` against ``postgres``; the paced ``curp-half`` at half of ``curp``'s rate.
COMPARED = {
    "workers": ("postgres", "bare-2w"),
    "bare-2w": ("bare",),
    "gateways2": ("postgres",),
    "curp-half": ("curp",),
}
MAP_CASE = "map"


@dataclass
class Run:
    """What a run holds while it measures: options, servers, pools, results so far."""

    args: argparse.Namespace
    work: Path
    signer: Signer
    pki_dir: Path
    ocsp_port: int
    machine: dict[str, Any]
    servers: dict[str, servers.Server] = field(default_factory=dict)
    static_pools: dict[str, Path] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    reached: dict[str, float] = field(default_factory=dict)  # each warm-up's req/s
    #: A paced case's delay correction: its answers' own time lowers the rate reached.
    pacing: dict[str, float] = field(default_factory=dict)
    rounds: dict[str, list[stats.Round]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # cases whose probe failed
    signing_seconds: float = 0.0
    setup_seconds: float = 0.0
    extra: scale.Extras | None = None  # the extra cases' figures, once measured

    @property
    def ca(self) -> Path:
        return pki.PkiDir(self.pki_dir).ca_cert


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--cases",
        # Issue 9's extra cases only when asked for: with them every case would not fit in
        # the 3 minutes on this machine.
        default=",".join((*scenarios.ALL, MAP_CASE)),
        help="comma-separated: " + ",".join((*scenarios.ALL, MAP_CASE, *scale.EXTRA)),
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measured round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per warm-up round")
    parser.add_argument("--warmup-requests", type=int, default=300)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--headroom", type=float, default=1.6, help="pool size over the rate")
    parser.add_argument("--max-pool", type=int, default=20_000)
    parser.add_argument("--citizens", type=int, default=1000)
    parser.add_argument("--pg-url", default=instance.DEFAULT_PG, help="server for `postgres`")
    parser.add_argument("--budget", type=float, default=160.0, help="seconds; then stop rounds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.cases.split(",") if name.strip()]
    # The map case measures no server: it runs apart (loadtests.bench.mapfold).
    args.map = MAP_CASE in chosen
    chosen = [name for name in chosen if name != MAP_CASE]
    unknown = sorted(set(chosen) - set(scenarios.ALL) - set(scale.EXTRA))
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}")
    # The ratios need the baselines (they are cheap) and the cases compared against.
    wanted = {*chosen, *scenarios.BASELINES, *(c for n in chosen for c in COMPARED.get(n, ()))}
    args.cases = [name for name in scenarios.ALL if name in wanted]
    args.extras = [name for name in scale.EXTRA if name in chosen]
    return args


def check_tools() -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: `make bench` installs wrk (apt-get install wrk)")


# --- servers ---------------------------------------------------------------------------------


def start_servers(run: Run, dev: instance.Instance, stack: contextlib.ExitStack) -> None:
    """The helpers first (OCSP, remote RENAPO, registered before the gateway reads the
    registry), then the measured servers; the bare app comes later (it needs an answer)."""
    cases = set(run.args.cases)
    work, pki_dir = run.work, str(dev.pki_dir)
    started: list[tuple[servers.Server, str | None]] = []  # server, HTTP path to wait on
    if "efirma" in cases:
        port = run.ocsp_port
        argv = ["-m", "gateway", "source", "run", "sat-ocsp", "--port", str(port)]
        argv += ["--pki-dir", pki_dir]
        ocsp = servers.start("ocsp", argv, cpu=servers.HELPER_CPU, port=port, work=work)
        ocsp.url = f"http://127.0.0.1:{port}"
        started.append((_keep(run, stack, ocsp), None))
    if "remote" in cases:
        port = free_port()
        argv = ["-m", "gateway", "source", "run", "renapo", "--provider", str(catalogue.RENAPO)]
        argv += ["--port", str(port), "--option", f"dataset={dev.dataset}", "--pki-dir", pki_dir]
        remote = servers.start("remote-renapo", argv, cpu=servers.HELPER_CPU, port=port, work=work)
        started.append((_keep(run, stack, remote), None))
        instance.register_remote(dev, remote.url)
    gateway = servers.gateway(
        scenarios.GATEWAY, database_url=dev.settings.database_url, pki_dir=dev.pki_dir, work=work
    )
    started.append((_keep(run, stack, gateway), "/livez"))
    pg = _postgres(run, dev, stack) if "postgres" in cases else None
    if pg is not None:
        gateway_pg = servers.gateway(
            scenarios.GATEWAY_PG, database_url=pg.database_url, pki_dir=pg.pki_dir, work=work
        )
        started.append((_keep(run, stack, gateway_pg), "/livez"))
    if "workers" in cases:
        missing = scale.scale_available()
        pg_2w = _postgres(run, dev, stack, "pg-2w") if missing is None else None
        if missing is not None:
            run.notes.append(f"workers: not measured, {missing}")
        elif pg_2w is not None:  # several workers need PostgreSQL: SQLite has one writer
            gateway_2w = servers.gateway(
                scenarios.GATEWAY_2W,
                database_url=pg_2w.database_url,
                pki_dir=pg_2w.pki_dir,
                work=work,
                workers=2,
            )
            started.append((_keep(run, stack, gateway_2w), "/livez"))
    if cases & {"source", "source-1c"}:
        port = free_port()
        argv = ["-m", "loadtests.bench.source_direct", pki_dir, str(dev.dataset), str(port)]
        source = servers.start(scenarios.SOURCE, argv, cpu=servers.SERVER_CPU, port=port, work=work)
        started.append((_keep(run, stack, source), None))
    for server, path in started:
        if path is None:
            servers.wait_tcp(server)
        else:
            servers.wait_http(server, path, run.ca)


def _postgres(
    run: Run, dev: instance.Instance, stack: contextlib.ExitStack, name: str = "pg"
) -> Settings | None:
    """A PostgreSQL instance's settings; None (and a note) if the server is not there."""
    try:
        return stack.enter_context(instance.postgres(dev, run.work, run.args.pg_url, name=name))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        run.notes.append(f"postgres: not measured, no PostgreSQL server ({reason}; make services)")
        return None


def _keep(run: Run, stack: contextlib.ExitStack, server: servers.Server) -> servers.Server:
    run.servers[server.name] = server
    stack.callback(servers.stop, server)
    return server


def start_bare(
    run: Run, answer: httpx.Response, dev: instance.Instance, stack: contextlib.ExitStack
) -> None:
    """The bare baseline, and with ``bare-2w`` its two-worker twin (pinned as ``workers``)."""
    answer_file = run.work / "curp-answer.json"
    answer_file.write_text(
        json.dumps(
            {
                "status": answer.status_code,
                "headers": dict(answer.headers.items()),
                "body": base64.b64encode(answer.content).decode(),
            }
        )
    )
    cert, key = pki.PkiDir(dev.pki_dir).gateway("tls")
    wanted = [(scenarios.BARE, 1, servers.SERVER_CPU)]
    if scenarios.BARE_2W in run.args.cases:
        wanted.append((scenarios.BARE_2W, 2, servers.ALL_CPUS))
    for name, workers, cpu in wanted:
        port = free_port()
        argv = ["-m", "loadtests.bench.bare_app", str(answer_file), str(port), str(cert), str(key)]
        bare = servers.start(name, [*argv, str(workers)], cpu=cpu, port=port, work=run.work)
        bare.workers = workers
        _keep(run, stack, bare)
        servers.wait_http(bare, "/", run.ca)


# --- probing and pools -----------------------------------------------------------------------


def probe(run: Run, case: Case, http: httpx.Client) -> httpx.Response | None:
    """Send one signed request of the case; None (and a note) if it is not answered as
    expected, so that a broken case is reported instead of measured."""
    assert case.template is not None
    server = run.servers[case.server]
    signed = sign(case.template, str(run.pki_dir), server.url, 0, 1)[0]
    response = http.request(
        signed.method, server.url + signed.path, headers=signed.headers, content=signed.body
    )
    if response.status_code != case.expected:
        run.unanswered.append(case.name)
        run.notes.append(
            f"{case.name}: not measured, the probe got {response.status_code} "
            f"(expected {case.expected}): {response.text[:200]}"
        )
        return None
    return response


def static_pool(run: Run, case: Case, dev: instance.Instance) -> Path:
    """A baseline's fixed pool (replayed in a cycle)."""
    if case.server not in run.static_pools:
        server = run.servers[case.server]
        if case.server in (scenarios.BARE, scenarios.BARE_2W):
            requests = [scenarios.get("/", server.authority)]
        else:
            calls = scenarios.source_calls(dev.subjects.curps)
            requests = [scenarios.post("/v1/call", server.authority, c) for c in calls]
        run.static_pools[case.server] = wrk.write_pool(requests, run.work / f"{case.server}.pool")
    return run.static_pools[case.server]


def signed_pool(run: Run, case: Case, count: int) -> Path:
    """``count`` fresh signed requests of the case (signed now: ``created`` must be recent)."""
    assert case.template is not None
    started = time.perf_counter()
    [requests] = run.signer.pools([(case.template, run.servers[case.server].url, count)])
    run.signing_seconds += time.perf_counter() - started
    return wrk.write_pool(requests, run.work / f"{case.name}.pool")


def pool_size(run: Run, case: Case, seconds: float) -> int:
    """Requests for a round: the expected rate × duration × headroom, plus what is in flight."""
    estimate = run.rates[case.name] * seconds * run.args.headroom
    return min(run.args.max_pool, math.ceil(estimate) + 2 * case.connections + 20)


# --- rounds ----------------------------------------------------------------------------------


def gateway_reading(run: Run, server: servers.Server) -> metrics.Reading:
    if server.metrics is None:
        context = ssl.create_default_context(cafile=str(run.ca))
        server.metrics = httpx.Client(verify=context, timeout=10)
    return metrics.parse(server.metrics.get(server.url + "/metrics").text)


def settled_cpu(pid: int, timeout: float = 3.0) -> float:
    """The server's CPU seconds once it has finished what was in flight when wrk stopped
    (two readings 50 ms apart agree), so that no request's work spills past the window."""
    deadline = time.monotonic() + timeout
    last = procstat.tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = procstat.tree_cpu_seconds(pid)
        if now == last:
            break
        last = now
    return last


def measure(run: Run, case: Case, pool: Path, seconds: float) -> stats.Round:
    """One wrk run of the case with the server's CPU and ledger batches around it.

    A gateway's CPU is divided by the exchanges it counted (those wrk left in flight at the
    end included, since their work is in the window); a baseline's, and that of a gateway of
    several workers (a ``/metrics`` reading is one worker's), by wrk's responses."""
    server = run.servers[case.server]
    before = gateway_reading(run, server) if case.ledgered and server.workers == 1 else None
    split = Split(server, seconds / 2) if server.workers > 1 else None
    cpu = procstat.tree_cpu_seconds(server.pid)
    result = wrk.run(
        server.url,
        pool,
        seconds=seconds,
        connections=case.connections,
        cycle=case.template is None,
        delay_ms=paced_delay(run, case),
    )
    cpu = settled_cpu(server.pid) - cpu
    handled, batch, locked = result.requests, None, None
    if before is not None:
        delta = gateway_reading(run, server) - before
        handled, batch, locked = int(delta.exchanges), delta.mean_batch, delta.mean_locked_ms
    return stats.Round(
        rps=result.rps,
        p50=result.p50,
        p95=result.p95,
        p99=result.p99,
        requests=result.requests,
        errors=result.unexpected(case.expected),
        cpu_us=stats.cpu_per_request(cpu, handled),
        batch=batch,
        dry=result.dry,
        split=split.result() if split else None,
        locked=locked,
    )


def paced_delay(run: Run, case: Case) -> float | None:
    """A paced case's wait before each request, in ms, for its share of the other case's
    throughput: that case's median so far, or its warm-up's rate before its first round."""
    if case.load_of is None:
        return None
    return stats.paced_delay_ms(case.connections, paced_rate(run, case)) * run.pacing.get(
        case.name, 1.0
    )


def paced_rate(run: Run, case: Case) -> float:
    """The rate a paced case is to offer: its share of the other case's median so far (its
    warm-up's rate before its first round)."""
    assert case.load_of is not None
    name, share = case.load_of
    return share * (stats.median([r.rps for r in run.rounds.get(name, [])]) or run.reached[name])


class Split:
    """wrk's connections on each worker of a server, read once ``after`` seconds into the
    round (from ``/proc``: which worker holds which accepted socket)."""

    def __init__(self, server: servers.Server, after: float) -> None:
        self._found: tuple[int, ...] | None = None
        port = int(server.authority.rsplit(":", 1)[1])
        self._timer = threading.Timer(after, self._read, (server.pid, port))
        self._timer.start()

    def _read(self, pid: int, port: int) -> None:
        self._found = sockets.spread(pid, port)

    def result(self) -> tuple[int, ...] | None:
        self._timer.join()
        return self._found


def warm_up(run: Run, case: Case, dev: instance.Instance) -> None:
    """A short round whose result only sizes the case's pools: the higher of the rate it
    reached and what its cores (one per worker) could do at the CPU per request it measured
    (the rate a round may reach if the machine is quieter; the warm-up pool may have run dry)."""
    if case.template is None:
        pool = static_pool(run, case, dev)
    else:
        pool = signed_pool(run, case, run.args.warmup_requests)
    result = measure(run, case, pool, run.args.warmup)
    workers = run.servers[case.server].workers
    capacity = workers * 1e6 / result.cpu_us if result.cpu_us else 0.0
    run.rates[case.name] = max(capacity, result.rps, 1.0)
    run.reached[case.name] = result.rps


def measured_round(run: Run, case: Case, dev: instance.Instance) -> None:
    if case.template is None:
        pool = static_pool(run, case, dev)
    else:
        pool = signed_pool(run, case, pool_size(run, case, run.args.seconds))
    result = measure(run, case, pool, run.args.seconds)
    if result.dry:  # the next round of this case gets a bigger pool
        run.rates[case.name] *= 2
    if case.load_of is not None and result.rps:  # nearer the share next round
        run.pacing[case.name] = stats.pace_correction(
            run.pacing.get(case.name, 1.0), paced_rate(run, case), result.rps
        )
    run.rounds.setdefault(case.name, []).append(result)


# --- the run ---------------------------------------------------------------------------------


def execute(run: Run, dev: instance.Instance, cases: list[Case], started: float) -> None:
    """The wrk cases' rounds, leaving the extra cases the time they may take."""
    budget = run.args.budget - sum(scale.RESERVED[name] for name in run.args.extras)
    for case in cases:
        warm_up(run, case, dev)
    for number in range(run.args.rounds):
        order = cases[number % len(cases) :] + cases[: number % len(cases)]
        for case in order:
            if time.monotonic() - started + run.args.seconds > budget:
                run.notes.append(f"stopped after {number} full rounds: --budget reached")
                return
            measured_round(run, case, dev)


def prepare(run: Run, dev: instance.Instance, stack: contextlib.ExitStack) -> list[Case]:
    """Start the servers and probe every exchange case; the cases that can be measured.

    The ``curp`` probe always runs: its answer is what the bare baseline returns."""
    catalogue_cases = scenarios.cases(dev.subjects, run.args.connections)
    start_servers(run, dev, stack)
    http = stack.enter_context(
        httpx.Client(verify=ssl.create_default_context(cafile=str(run.ca)), timeout=30)
    )
    answer = probe(run, catalogue_cases["curp"], http)
    if answer is None:
        raise servers.ServerError(f"the gateway does not answer a CURP exchange: {run.notes}")
    if "bare" in run.args.cases:
        start_bare(run, answer, dev, stack)
    usable = []
    for name in run.args.cases:
        case = catalogue_cases[name]
        if case.server not in run.servers:
            continue  # its server could not be set up; a note says why
        if case.template is None or name == "curp" or probe(run, case, http) is not None:
            usable.append(case)
    return usable


def extras(run: Run, dev: instance.Instance) -> scale.Extras:
    """The extra cases (``scale``) the run was asked for, measured after the wrk rounds."""
    catalogue_cases = scenarios.cases(dev.subjects, run.args.connections)
    curp, flooder = catalogue_cases["curp"].template, catalogue_cases["refused-grant"].template
    assert curp is not None and flooder is not None
    found = scale.Extras(
        work=run.work,
        dev=dev,
        signer=run.signer,
        ca=run.ca,
        pg_url=run.args.pg_url,
        seconds=min(run.args.seconds, 2.0),
        rounds=run.args.rounds,
        connections=run.args.connections,
        curp=curp,
        flooder=flooder,
    )
    scale.execute(found, run.args.extras)
    return found


def compared(summaries: dict[str, stats.Summary]) -> list[str]:
    """``workers`` against one worker (``postgres``), the issue's target beside it; and beside
    it what a second process gains on this machine with no gateway work (``bare-2w`` against
    ``bare``, pinned alike): the two CPUs also run wrk and PostgreSQL."""
    out = []
    two, one = summaries.get("workers"), summaries.get("postgres")
    if two is not None and one is not None and one.rps:
        out.append(
            f"workers: 2 workers {two.rps:.0f} exchanges/s vs 1 worker {one.rps:.0f}/s on "
            f"PostgreSQL: {two.rps / one.rps:.2f}× (target ≥ 1.7){_cpu(two, one, 'exchange')}"
        )
    two, one = summaries.get("bare-2w"), summaries.get("bare")
    if two is not None and one is not None and one.rps:
        out.append(
            f"bare-2w: bare Starlette, 2 workers {two.rps:.0f} req/s vs 1 worker {one.rps:.0f}/s: "
            f"{two.rps / one.rps:.2f}× (what a second process gains on this machine)"
            f"{_cpu(two, one, 'request')}"
        )
    return out


def _cpu(two: stats.Summary, one: stats.Summary, unit: str) -> str:
    if not two.cpu_us or not one.cpu_us:
        return ""
    return f"; CPU per {unit} {two.cpu_us:.0f} µs vs {one.cpu_us:.0f} µs"


def splits(rounds: dict[str, list[stats.Round]]) -> list[str]:
    """For each case of several workers: wrk's connections per worker, round by round."""
    return [
        f"{name}: wrk's connections per worker, halfway through each round: "
        + ", ".join("/".join(map(str, r.split)) for r in measured if r.split)
        for name, measured in rounds.items()
        if any(r.split for r in measured)
    ]


def _single_pg(summaries: dict[str, stats.Summary]) -> dict[str, float] | None:
    one = summaries.get("postgres")
    return {"rps": one.rps, "cpu_us": one.cpu_us or 0.0} if one else None


def document(run: Run, cases: list[Case], summaries: dict[str, stats.Summary]) -> dict[str, Any]:
    return {
        "command": reproduce(),
        "machine": run.machine,
        "options": {k: str(v) for k, v in vars(run.args).items()},
        "cases": {
            case.name: {
                "title": case.title,
                "connections": case.connections,
                "summary": summaries[case.name].to_json(),
                "rounds": [vars(r) for r in run.rounds.get(case.name, [])],
            }
            for case in cases
            if case.name in summaries
        },
        "extras": run.extra.figures if run.extra else {},
        "notes": run.notes,
    }


def reproduce() -> str:
    return "PYTHONPATH=. .venv/bin/python -m loadtests.bench " + shlex.join(sys.argv[1:])


def print_report(run: Run, cases: list[Case], seconds: float) -> dict[str, stats.Summary]:
    summaries = {n: stats.summarise(r) for n, r in run.rounds.items() if r}
    machine = run.machine
    load = ", ".join(f"{x:.2f}" for x in machine["loadavg"])
    print(
        f"\nEnlace bench: {machine['cpu']}, {machine['nproc']} CPUs, load average at start "
        f"{load}; server on CPU {servers.SERVER_CPU}, wrk on CPU {servers.HELPER_CPU}; "
        f"{run.args.rounds} rounds × {run.args.seconds:g} s, medians; HTTPS; shared machine"
    )
    print(report.table(cases, summaries))
    for line in (
        report.added_latency(summaries),
        report.half_load(summaries),
        "errors: other statuses than expected + socket errors; * = a pool ran dry in a round",
        "batch: mean ledger entries per commit; (a) bare Starlette, (b) RENAPO's service direct",
        *compared(summaries),
        *splits(run.rounds),
        *(scale.lines(run.extra, _single_pg(summaries)) if run.extra else []),
        *run.notes,
        f"setup took {run.setup_seconds:.0f} s, pre-signing {run.signing_seconds:.0f} s, "
        f"the whole run {seconds:.0f} s",
        f"reproduce: {reproduce()}",
    ):
        if line:
            print(line)
    return summaries


def _map_case(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``map`` case (the subject map's fold per entry), after the servers stopped."""
    if not args.map:
        return None
    folds = mapfold.run(mapfold.ENTRIES, mapfold.SUBJECTS, args.pg_url)
    print(mapfold.table(folds, mapfold.ENTRIES, mapfold.SUBJECTS))
    return folds


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    check_tools()
    machine, ocsp_port = report.machine(), free_port()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="enlace-bench-"))
    try:
        dev = instance.create(
            work, citizens=args.citizens, ocsp_url=f"http://127.0.0.1:{ocsp_port}/"
        )
        run = Run(args, work, Signer(dev.pki_dir), dev.pki_dir, ocsp_port, machine)
        with contextlib.ExitStack() as stack:
            stack.callback(run.signer.close)
            cases = prepare(run, dev, stack)
            run.setup_seconds = time.monotonic() - started
            execute(run, dev, cases, started)
            if args.extras:
                run.extra = extras(run, dev)
        summaries = print_report(run, cases, time.monotonic() - started)
        folds = _map_case(args)
        if args.json:
            doc = document(run, cases, summaries)
            if folds is not None:
                doc["map"] = mapfold.document(folds)
            report.write_json(args.json, doc)
        failed = run.unanswered or any(s.errors for s in summaries.values())
        return 1 if failed or (run.extra and run.extra.failed) else 0
    except (servers.ServerError, wrk.WrkError, subprocess.SubprocessError) as exc:
        print(f"bench failed: {exc}\n(logs in {work})", file=sys.stderr)
        args.keep = True
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
