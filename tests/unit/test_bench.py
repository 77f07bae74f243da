"""The pure parts of ``make bench``: /proc parsing, wrk output, medians and ratios, metrics."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from loadtests.bench import mapfold, metrics, procstat, report, run, scale, sockets, stats, wrk
from loadtests.bench.pool import Signed, corrupt
from loadtests.bench.scenarios import post

# proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
#          utime stime cutime cstime ...
STAT = "4242 (python -m (x)) S 4200 4242 4242 0 -1 4194560 100 0 0 0 350 120 7 3 20 0 5 0"


def test_parse_stat_reads_times_after_a_comm_with_spaces_and_parentheses() -> None:
    stat = procstat.parse_stat(STAT)
    assert (stat.pid, stat.state, stat.ppid) == (4242, "S", 4200)
    assert (stat.utime, stat.stime, stat.cutime, stat.cstime) == (350, 120, 7, 3)
    assert stat.ticks == 480


def _stat(pid: int, ppid: int, utime: int) -> str:
    return f"{pid} (p) S {ppid} 0 0 0 -1 0 0 0 0 0 {utime} 0 0 0 20 0 1 0"


def test_tree_cpu_counts_the_root_and_all_its_descendants_only(tmp_path: Path) -> None:
    for pid, ppid, utime in ((10, 1, 100), (11, 10, 50), (12, 11, 25), (20, 1, 999)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(_stat(pid, ppid, utime))
    (tmp_path / "self").mkdir()  # not a process directory
    assert procstat.tree_cpu_seconds(10, tmp_path) == pytest.approx(175 / procstat.CLOCK_TICKS)
    assert procstat.tree_cpu_seconds(12, tmp_path) == pytest.approx(25 / procstat.CLOCK_TICKS)
    assert procstat.tree_cpu_seconds(99, tmp_path) == 0


# /proc/net/tcp: two listeners on port 8443 (0x20FB), two connections accepted on it, one
# client-side socket to it, and a listener on another port.
TCP = """  sl  local_address rem_address   st tx_queue rx_queue ... uid timeout inode
   0: 0100007F:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  0 101 1 0
   1: 0100007F:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  0 102 1 0
   2: 0100007F:20FB 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000  0 201 1 0
   3: 0100007F:20FB 0100007F:9C41 01 00000000:00000000 00:00000000 00000000  1000  0 202 1 0
   4: 0100007F:9C40 0100007F:20FB 01 00000000:00000000 00:00000000 00000000  1000  0 301 1 0
   5: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  0 401 1 0
"""


def test_the_sockets_of_a_port_are_counted_per_process_from_proc(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(TCP)
    owned = {10: (101, 201, 202, 401), 11: (102,), 12: (301,)}  # 12: the client
    for pid, inodes in owned.items():
        fd = tmp_path / str(pid) / "fd"
        fd.mkdir(parents=True)
        (fd / "0").symlink_to("/dev/null")  # not a socket
        for n, inode in enumerate(inodes, start=3):
            (fd / str(n)).symlink_to(f"socket:[{inode}]")
    held = sockets.held([10, 11, 12, 13], 8443, tmp_path)  # 13 has gone
    assert held[10] == sockets.Held(listening=frozenset({101}), connected=2)
    assert held[11] == sockets.Held(listening=frozenset({102}), connected=0)
    assert held[12] == held[13] == sockets.Held()
    for pid, ppid in ((9, 1), (10, 9), (11, 9), (12, 1)):  # 9 supervises 10 and 11
        (tmp_path / str(pid)).mkdir(exist_ok=True)
        (tmp_path / str(pid) / "stat").write_text(_stat(pid, ppid, 0))
    assert sorted(sockets.workers(9, 8443, tmp_path)) == [10, 11]
    assert sockets.spread(9, 8443, tmp_path) == (2, 0)


WRK_OUTPUT = """Running 3s test @ https://127.0.0.1:8443
  1 threads and 50 connections
  Latency Distribution
     50%  143.78ms
  640 requests in 3.00s, 5.21MB read
Requests/sec:    213.10
BENCH requests 640
BENCH duration_us 3003421
BENCH socket_errors 2
BENCH p50_us 143780
BENCH p95_us 198120
BENCH p99_us 224470
BENCH dry false
BENCH sent 690
BENCH status 200 630
BENCH status 401 8
"""


def test_wrk_output_is_read_from_the_bench_lines() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.requests == 640
    assert result.rps == pytest.approx(640 / 3.003421)
    assert (result.p50, result.p95, result.p99) == (143.78, 198.12, 224.47)
    assert not result.dry
    assert result.statuses == {200: 630, 401: 8}
    assert result.unexpected(200) == 8 + 2
    assert result.unexpected(401) == 630 + 2


def test_wrk_output_without_a_result_is_an_error() -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_a_dry_pool_is_reported() -> None:
    assert wrk.parse(WRK_OUTPUT.replace("dry false", "dry true")).dry


def test_the_pool_file_separates_requests_with_nul_and_refuses_one_inside(tmp_path: Path) -> None:
    path = wrk.write_pool(
        [b"GET / HTTP/1.1\r\n\r\n", b"POST /x HTTP/1.1\r\n\r\n{}"], tmp_path / "p"
    )
    assert path.read_bytes().split(b"\0") == [
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST /x HTTP/1.1\r\n\r\n{}",
    ]
    with pytest.raises(ValueError):
        wrk.write_pool([b"a\0b"], tmp_path / "q")


def test_the_wrk_command_pins_one_thread_and_bounds_the_time(tmp_path: Path) -> None:
    cmd = wrk.command("https://h:1", tmp_path / "p", seconds=3, connections=50, cycle=False)
    assert cmd[:4] == ["taskset", "-c", "0", "wrk"]
    assert "-t1" in cmd and "-c50" in cmd and "-d3s" in cmd
    assert cmd[-2:] == [str(tmp_path / "p"), "once"]


def test_a_paced_wrk_command_passes_the_mean_wait_to_the_script(tmp_path: Path) -> None:
    cmd = wrk.command(
        "https://h:1", tmp_path / "p", seconds=3, connections=50, cycle=False, delay_ms=71.4286
    )
    assert cmd[-3:] == [str(tmp_path / "p"), "once", "71.429"]


def test_pacing_offers_the_share_and_corrects_a_shortfall_within_bounds() -> None:
    assert stats.paced_delay_ms(50, 500.0) == 100.0  # 50 connections, one request per 100 ms
    assert stats.paced_delay_ms(50, 0.0) == 1000.0  # nothing to pace against: a slow trickle
    assert stats.pace_correction(1.0, 500.0, 400.0) == 0.8  # fell short: wait less
    assert stats.pace_correction(1.0, 500.0, 100.0) == 0.5  # one bad round moves it by half
    assert stats.pace_correction(0.8, 500.0, 2000.0) == pytest.approx(1.2)


def test_the_half_load_case_brings_the_case_it_is_a_share_of() -> None:
    args = run.options(["--cases", "curp-half"])
    assert args.cases.index("curp") < args.cases.index("curp-half")  # warmed up before it


def test_the_half_load_line_gives_the_share_reached_and_the_p99_beside_its_target() -> None:
    full = stats.summarise([_round(1000.0, 600.0)])
    half = stats.summarise([stats.Round(480.0, 2.0, 6.0, 17.5, 100, 0, 700.0, None, False)])
    line = report.half_load({"curp": full, "curp-half": half})
    assert line == (
        "half load: 480 exchanges/s (0.48 of curp's 1000/s), p99 17.50 ms (target ≤ 20 ms)"
    )
    assert report.half_load({"curp": full}) is None
    held = dataclasses.replace(half, locked=12.34)
    assert report.half_load({"curp": full, "curp-half": held}) == (
        line + "; each checkpoint held the ledger 12.3 ms"
    )


def _round(rps: float, cpu: float | None, errors: int = 0, dry: bool = False) -> stats.Round:
    return stats.Round(rps, 1.0, 2.0, 3.0, 100, errors, cpu, None, dry)


def test_summary_takes_medians_sums_errors_and_flags_a_dry_round() -> None:
    summary = stats.summarise(
        [_round(100, 900), _round(300, 1100, errors=1), _round(200, None, dry=True)]
    )
    assert summary.rps == 200
    assert summary.cpu_us == 1000  # rounds without a CPU figure are left out
    assert summary.batch is None
    assert summary.errors == 1
    assert summary.dry


def test_ratios() -> None:
    assert stats.cpu_ratio(75.0, 3000.0) == pytest.approx(0.025)
    assert stats.cpu_ratio(None, 3000.0) is None
    assert stats.cpu_ratio(75.0, None) is None
    assert stats.rate_ratio(250.0, 12500.0) == pytest.approx(0.02)
    assert stats.rate_ratio(250.0, 0.0) is None
    assert stats.cpu_per_request(0.5, 1000) == pytest.approx(500.0)
    assert stats.cpu_per_request(0.5, 0) is None


METRICS = """# HELP enlace_exchanges_total Exchanges by outcome
# TYPE enlace_exchanges_total counter
enlace_exchanges_total{outcome="allowed"} 120.0
enlace_exchanges_total{outcome="denied"} 30.0
enlace_ledger_batch_entries_bucket{le="1.0"} 20.0
enlace_ledger_batch_entries_count 60.0
enlace_ledger_batch_entries_sum 150.0
enlace_checkpoint_seconds_count{phase="fold"} 4.0
enlace_checkpoint_seconds_sum{phase="fold"} 0.4
enlace_checkpoint_seconds_count{phase="locked"} 4.0
enlace_checkpoint_seconds_sum{phase="locked"} 0.06
"""


def test_gateway_metrics_give_exchanges_and_the_mean_batch_between_readings() -> None:
    before = metrics.parse("")
    after = metrics.parse(METRICS)
    delta = after - before
    assert delta.exchanges == 150
    assert delta.mean_batch == pytest.approx(2.5)
    assert delta.mean_locked_ms == pytest.approx(15.0)  # the locked phase's, not the fold's
    assert (after - after).mean_batch is None
    assert (after - after).mean_locked_ms is None


def test_a_corrupted_signature_stays_well_formed_but_differs() -> None:
    value = base64.b64encode(bytes(range(64))).decode()
    headers = {"Signature": f"enlace=:{value}:"}
    corrupt(headers)
    label, _, corrupted = headers["Signature"].partition("=:")
    raw = base64.b64decode(corrupted.rstrip(":"))
    assert label == "enlace" and len(raw) == 64
    assert raw[0] == 0xFF and raw[1:] == bytes(range(1, 64))


def test_raw_requests_carry_host_and_the_body_length() -> None:
    signed = Signed("POST", "/r1/x", {"Content-Type": "application/json"}, b'{"a":1}')
    assert signed.raw("127.0.0.1:8443") == (
        b"POST /r1/x HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nContent-Type: application/json\r\n"
        b'Content-Length: 7\r\n\r\n{"a":1}'
    )
    assert post("/v1/call", "h:1", b"{}").endswith(b"Content-Length: 2\r\n\r\n{}")


def test_the_extra_cases_are_chosen_with_what_they_are_compared_against() -> None:
    args = run.options(["--cases", "workers,flood,takeover"])
    assert args.extras == ["flood", "takeover"]
    assert "postgres" in args.cases and "workers" in args.cases
    assert {"flood", "takeover"}.isdisjoint(args.cases)  # not wrk cases
    assert run.options([]).extras == []  # the default stays within 3 minutes


def test_the_workers_line_gives_the_ratio_to_one_worker() -> None:
    def summary(rps: float, cpu: float) -> stats.Summary:
        return stats.Summary(3, rps, 1.0, 2.0, 3.0, 0, cpu, None, False)

    [line] = run.compared({"workers": summary(170.0, 900.0), "postgres": summary(100.0, 1000.0)})
    assert "1.70×" in line and "900 µs vs 1000 µs" in line
    assert run.compared({"postgres": summary(100.0, 1000.0)}) == []
    gateway, bare = run.compared(
        {
            "workers": summary(170.0, 900.0),
            "postgres": summary(100.0, 1000.0),
            "bare-2w": summary(6000.0, 130.0),
            "bare": summary(4000.0, 100.0),
        }
    )
    assert gateway == line
    assert bare.startswith("bare-2w:") and "1.50×" in bare and "130 µs vs 100 µs" in bare


def test_the_workers_cases_bring_their_baselines_and_print_the_split() -> None:
    args = run.options(["--cases", "workers"])
    assert {"postgres", "bare", "bare-2w", "workers"} <= set(args.cases)
    rounds = {
        "workers": [_round(1, 1), stats.Round(1, 1, 1, 1, 1, 0, 1.0, None, False, (26, 24))],
        "bare": [_round(1, 1)],
    }
    assert run.splits(rounds) == [
        "workers: wrk's connections per worker, halfway through each round: 26/24"
    ]


def test_the_extra_cases_lines_state_the_targets_and_what_was_not_measured(
    tmp_path: Path,
) -> None:
    found = scale.Extras(
        tmp_path,
        None,
        None,
        tmp_path,
        "",
        2.0,
        3,
        50,
        None,
        None,  # type: ignore[arg-type]
    )
    found.figures["flood"] = {
        "alone": {"rps": 100.0, "p50": 5.0, "p99": 10.0},
        "flooded": {"rps": 50.0, "p50": 8.0, "p99": 15.0},
        "flooder": {"rps": 900.0, "answered_429": 1200, "statuses": {429: 1200}},
        "p99_ratio": 1.5,
        "good_client_errors": 0,
    }
    found.figures["takeover"] = {"signer_after_s": 1.25, "newer_checkpoint_after_s": None}
    found.notes.append("gateways2: not measured, why")
    lines = scale.lines(found, None)
    assert "p99 ratio 1.50 (target ≤ 2)" in lines[0] and "1200 × 429" in lines[0]
    assert "signer after 1.2 s" in lines[1] and "never (within 60 s)" in lines[1]
    assert lines[2] == "gateways2: not measured, why"


def test_the_map_case_folds_every_entry_once(tmp_path):
    """``map``: each fold covers exactly the entries appended since the previous one."""
    first, steady = mapfold.measure(f"sqlite:///{tmp_path / 'map.db'}", 300, 40)
    assert (first.entries, steady.entries) == (300, 30)
    assert 0 < first.keys <= 40 and steady.keys <= 40 - first.keys
    assert first.cpu_us > 0 and steady.wall_us > 0
    assert "| sqlite | steady | 30 |" in mapfold.table({"sqlite": (first, steady)}, 300, 40)
