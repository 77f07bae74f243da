"""The subprocesses of a run: started pinned to a CPU, awaited until they answer, stopped.

The measured servers (the gateway, the baselines) run on ``SERVER_CPU``; the helpers (a remote
source, the OCSP responder) share ``HELPER_CPU`` with wrk, so that CPU 1 holds only the server
being measured. Output goes to log files in the run's directory, for when a server fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.server.run import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVER_CPU, HELPER_CPU = "1", "0"
_START_TIMEOUT = 60.0


class ServerError(RuntimeError):
    """A server did not start, or exited."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    metrics: httpx.Client | None = field(default=None, repr=False)
    workers: int = 1  # processes serving its port (each has its own /metrics)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def authority(self) -> str:
        return self.url.split("://", 1)[1]


def start(
    name: str,
    argv: list[str],
    *,
    cpu: str,
    port: int,
    work: Path,
    env: dict[str, str] | None = None,
) -> Server:
    """Run ``argv`` (a Python module's arguments) under ``taskset -c CPU``; log to a file."""
    log = work / f"{name}.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", cpu, sys.executable, *argv],
            env=environment,
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name, process, f"https://127.0.0.1:{port}", log)


def wait_tcp(server: Server, timeout: float = _START_TIMEOUT) -> None:
    """Wait until the server accepts connections (for servers that demand a client cert)."""
    host, port = server.authority.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.5):
            return
        _check_alive(server, deadline)


def wait_http(server: Server, path: str, ca: Path, timeout: float = _START_TIMEOUT) -> None:
    """Wait until ``GET path`` answers (any status) over TLS checked against ``ca``."""
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            httpx.get(server.url + path, verify=context, timeout=2)
            return
        _check_alive(server, deadline)


def _check_alive(server: Server, deadline: float) -> None:
    if server.process.poll() is not None:
        tail = server.log.read_text(errors="replace")[-2000:]
        raise ServerError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
    if time.monotonic() > deadline:
        raise ServerError(f"{server.name} did not start; see {server.log}")
    time.sleep(0.2)


def stop(server: Server) -> None:
    """Terminate (SIGTERM, then SIGKILL after 20 s) the server we started."""
    if server.metrics is not None:
        server.metrics.close()
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


#: The bench measures the exchange path, not the limiter: its one client sends everything (as a
#: bulk client an operator raised with `enlace client limit` would), and every refused request,
#: signed or not, is ledgered one by one (no aggregate flood entries).
UNLIMITED = {
    "ENLACE_CLIENT_RATE": "1000000",
    "ENLACE_CLIENT_BURST": "1000000",
    "ENLACE_CLIENT_CONCURRENCY": "100000",
    "ENLACE_UNSIGNED_PER_MINUTE": "100000000",
    "ENLACE_UNSIGNED_BURST": "1000000",
}


#: Every CPU (wrk's included): for several gateway processes; the figure to read is then CPU
#: per exchange.
ALL_CPUS = ",".join(str(n) for n in range(os.cpu_count() or 2))


def gateway(
    name: str,
    *,
    database_url: str,
    pki_dir: Path,
    work: Path,
    workers: int = 1,
    limited: bool = False,
    cpu: str | None = None,
) -> Server:
    """``enlace serve`` over HTTPS on a free port, pinned to the server CPU (with several
    workers, ``ALL_CPUS``); ``limited``: with the default client limits, not ``UNLIMITED``."""
    port = free_port()
    env = {"ENLACE_DATABASE_URL": database_url, "ENLACE_PKI_DIR": str(pki_dir)}
    if not limited:
        env.update(UNLIMITED)
    argv = ["-m", "gateway", "serve", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    pinned = cpu or (ALL_CPUS if workers > 1 else SERVER_CPU)
    server = start(name, argv, cpu=pinned, port=port, work=work, env=env)
    server.workers = workers
    return server


def serve_has_workers() -> bool:
    """Whether ``enlace serve`` takes ``--workers`` (not yet: the scale-out issue)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        timeout=60,
    ).stdout
    return "--workers" in help_text
