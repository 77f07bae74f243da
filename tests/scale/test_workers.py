"""``enlace serve --workers N``'s supervisor over real processes: each worker listens on a
socket of its own (``SO_REUSEPORT``) and accepts connections, a killed worker is replaced,
SIGTERM stops them all, a killed supervisor's workers stop too, and a worker that cannot start
stops the supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator

import httpx

from gateway.devtools import bootstrap
from loadtests.bench import procstat, sockets
from tests.scale.conftest import ROOT, Served, environment, gone, serving, tls, wait_for

#: Connections opened at once: the kernel's hash would leave a worker 5 or fewer of them
#: about once in 10⁸ runs.
CONNECTIONS = 48


def _port(served: Served) -> int:
    return int(served.url.rsplit(":", 1)[1])


def _listening(served: Served) -> list[int]:
    """The supervisor's processes that listen on the port: its workers."""
    return list(sockets.workers(served.process.pid, _port(served)))


def _workers(served: Served, count: int, gone: int | None = None) -> list[int]:
    """The workers, once ``count`` of them listen (none of them ``gone``)."""

    def ready() -> list[int] | None:
        pids = _listening(served)
        return pids if len(pids) == count and gone not in pids else None

    return wait_for(f"{count} workers listening", ready)


@contextlib.contextmanager
def _connections(served: Served, context: ssl.SSLContext) -> Iterator[None]:
    """``CONNECTIONS`` TLS connections, each handshaken (so a worker has accepted it)."""
    with contextlib.ExitStack() as stack:
        for _ in range(CONNECTIONS):
            raw = socket.create_connection(("127.0.0.1", _port(served)), timeout=30)
            stack.enter_context(context.wrap_socket(raw, server_hostname="127.0.0.1"))
        yield


def test_each_worker_listens_on_its_own_socket_and_accepts_connections(pg_dev, tmp_path) -> None:
    with serving(pg_dev, tmp_path / "serve.log", "--workers", "2") as served:
        workers = _workers(served, 2)
        with _connections(served, tls(pg_dev)):
            held = sockets.held(workers, _port(served))
    one, two = (h.listening for h in held.values())
    assert len(one) == len(two) == 1 and one != two  # a socket each, not one shared
    accepted = [h.connected for h in held.values()]
    assert sum(accepted) == CONNECTIONS
    assert min(accepted) > 5, accepted  # spread by the kernel, not left to whoever wakes


def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(pg_dev, tmp_path) -> None:
    log = tmp_path / "serve.log"
    with serving(pg_dev, log, "--workers", "2") as served:
        first = _workers(served, 2)
        victim = first[0]
        os.kill(victim, signal.SIGKILL)
        now = _workers(served, 2, gone=victim)
        assert first[1] in now  # the other one served on
        with httpx.Client(verify=tls(pg_dev), timeout=30) as http:
            answered = {served.health(http)["status"] for _ in range(6)}
        assert answered == {"ok"}
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=120) == 0
    assert not any(procstat.read_stat(pid) for pid in now)  # none left behind
    assert "a worker died: replaced" in log.read_text()


def test_workers_stop_when_the_supervisor_is_killed_outright(pg_dev, tmp_path) -> None:
    with serving(pg_dev, tmp_path / "serve.log", "--workers", "2") as served:
        workers = _workers(served, 2)
        served.kill()  # SIGKILL: it cannot stop them itself
        try:
            wait_for("the workers gone", lambda: all(gone(pid) for pid in workers))
        finally:  # a failure must not leave two gateways serving
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_a_worker_that_cannot_bind_stops_the_supervisor(pg_dev: bootstrap.DevInstance) -> None:
    with socket.socket() as taken:  # a listener outside the port's SO_REUSEPORT group
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port", str(port)],
            env=environment(pg_dev),
            capture_output=True,
            timeout=120,
            cwd=ROOT,
        )
    assert done.returncode == 3  # uvicorn's start-up failure, not a restart loop
    assert "worker cannot bind its socket" in done.stderr.decode()
