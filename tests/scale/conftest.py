"""Fixtures of the scale tests: a dev instance on a fresh PostgreSQL database, and real
``enlace serve`` processes on loopback ports over it."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.devtools import bootstrap
from gateway.kernel.settings import Settings
from gateway.server.run import free_port
from loadtests.bench import procstat

ROOT = Path(__file__).resolve().parents[2]
#: Start-up and take-over deadlines: generous, a loaded machine is slow; nothing depends on them.
START_DEADLINE = 120.0


@pytest.fixture
def pg_dev(postgres_url: str, tmp_path: Path) -> Iterator[bootstrap.DevInstance]:
    """A bootstrapped dev instance whose database is a fresh PostgreSQL database."""
    settings = Settings(database_url=postgres_url, pki_dir=tmp_path / "certs")
    instance = bootstrap.create(settings, citizens=300)
    try:
        yield instance
    finally:
        instance.database.dispose()


def tls(dev: bootstrap.DevInstance) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dev.pki.ca_cert))


@dataclass
class Served:
    """One running ``enlace serve`` process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def health(self, http: httpx.Client) -> dict:
        return http.get(f"{self.url}/healthz").json()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def environment(dev: bootstrap.DevInstance, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ENLACE_DATABASE_URL": dev.settings.database_url,
        "ENLACE_PKI_DIR": str(dev.settings.pki_dir),
        "ENLACE_GRACEFUL_SHUTDOWN": "3",
        **extra,
    }


def start(dev: bootstrap.DevInstance, log: Path, *args: str, **env: str) -> Served:
    """Start ``enlace serve ARGS`` on a free port and wait until its /healthz answers."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), *args]
    process = subprocess.Popen(
        command, env=environment(dev, **env), stdout=subprocess.DEVNULL, stderr=log.open("ab")
    )
    served = Served(process, f"https://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_DEADLINE
    with httpx.Client(verify=tls(dev), timeout=5) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if http.get(f"{served.url}/healthz").status_code == 200:
                    return served
            if process.poll() is not None or time.monotonic() > deadline:
                served.kill()
                raise AssertionError(f"enlace serve did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)


@contextlib.contextmanager
def serving(dev: bootstrap.DevInstance, log: Path, *args: str, **env: str) -> Iterator[Served]:
    served = start(dev, log, *args, **env)
    try:
        yield served
    finally:
        served.stop()


def wait_for(what: str, predicate, deadline: float = START_DEADLINE, every: float = 0.1):  # noqa: ANN001, ANN201
    """Poll ``predicate`` until it returns something true; its value (AssertionError past the
    deadline)."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < end, f"{what}: not within {deadline} s"
        time.sleep(every)


def gone(pid: int) -> bool:
    """``pid`` has exited: no longer in /proc, or a zombie (PID 1 here may never reap it)."""
    stat = procstat.read_stat(pid)
    return stat is None or stat.state == "Z"
