"""Two gateways on one PostgreSQL under load: the checkpoint signer is SIGKILLed, the other takes
the role over, no acknowledged exchange is lost and ``enlace ledger verify`` passes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.storage.db import ledger_entries
from services.sdk import EnlaceClient
from tests.scale.conftest import ROOT, environment, start, tls, wait_for
from tests.scale.test_processes import _call, _checkpoint_size

#: Limits out of the way (one client drives the load) and frequent checkpoints.
LOADED = {
    "ENLACE_CLIENT_RATE": "100000",
    "ENLACE_CLIENT_BURST": "100000",
    "ENLACE_CLIENT_CONCURRENCY": "1000",
    "ENLACE_CHECKPOINT_INTERVAL": "0.5",
}
THREADS = 6


class Load:
    """Threads calling through the SDK, each to one gateway, moving to another when its own
    stops answering; every acknowledged exchange (a verified 200 with its receipt) is kept."""

    def __init__(self, dev: bootstrap.DevInstance, people, urls: list[str]) -> None:  # noqa: ANN001
        self._dev, self._people, self._urls = dev, people, urls
        self.acknowledged: list[tuple[str, int]] = []
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(THREADS)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, n: int) -> None:
        target, calls = n % len(self._urls), 0
        while not self._stop.is_set():
            url = self._urls[target]
            with EnlaceClient.from_pki(url, str(bootstrap.BECAS), self._dev.settings.pki_dir) as c:
                while not self._stop.is_set():
                    calls += 1
                    try:
                        result = _call(c, self._people, n * 100_000 + calls)
                    except Exception:  # a gateway killed under us: not acknowledged
                        with self._lock:
                            self.failures += 1
                        target = (target + 1) % len(self._urls)
                        break
                    with self._lock:
                        self.acknowledged.append((result.exchange_id, result.ledger_index))

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)


def _signer(http: httpx.Client, url: str) -> bool:
    try:
        return bool(http.get(url + "/healthz").json().get("signer"))
    except httpx.TransportError:
        return False


def test_the_other_gateway_takes_over_signing_and_nothing_acknowledged_is_lost(
    pg_dev, people, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    first = start(pg_dev, log, **LOADED)
    http = httpx.Client(verify=tls(pg_dev), timeout=30)
    wait_for("the first gateway signs", lambda: _signer(http, first.url))
    second = start(pg_dev, log, **LOADED)
    try:
        assert not _signer(http, second.url)  # one signer at a time
        with Load(pg_dev, people, [first.url, second.url]) as load:
            wait_for("exchanges under load", lambda: load.count() >= 60, every=0.05)
            before = load.count()
            first.kill()  # SIGKILL: no release, no last checkpoint
            killed = time.monotonic()
            wait_for("the other gateway signs", lambda: _signer(http, second.url), every=0.05)
            took_over = time.monotonic() - killed
            wait_for("exchanges go on", lambda: load.count() >= before + 60, every=0.05)
        newest = max(index for _, index in load.acknowledged)
        wait_for(
            "a checkpoint by the new signer covering every acknowledged exchange",
            lambda: _checkpoint_size(http, second.url) > newest,
        )
        covered = time.monotonic() - killed
        print(
            f"\ntake-over: signer role {took_over:.2f} s after SIGKILL, checkpoint covering "
            f"all {len(load.acknowledged)} acknowledged exchanges at {covered:.2f} s "
            f"({load.failures} calls failed with the killed gateway)"
        )
    finally:
        second.stop()
        first.kill()
        http.close()
    with pg_dev.database.read.connect() as conn:
        stored = dict(
            conn.execute(
                sa.select(ledger_entries.c.exchange_id, ledger_entries.c.idx).where(
                    ledger_entries.c.outcome == "allowed"
                )
            ).all()
        )
    assert len(load.acknowledged) == len(set(load.acknowledged))
    missing = [ack for ack in load.acknowledged if stored.get(ack[0]) != ack[1]]
    assert missing == []
    verified = subprocess.run(
        [sys.executable, "-m", "gateway", "ledger", "verify"],
        env=environment(pg_dev),
        capture_output=True,
        timeout=300,
        cwd=ROOT,
    )
    assert verified.returncode == 0, verified.stdout.decode() + verified.stderr.decode()
