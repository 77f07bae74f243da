"""N worker processes on one port, each accepting on a listening socket of its own.

``enlace serve --workers N`` (and the bench's bare baseline with two workers) runs this
supervisor. Each worker is a spawned process running one ``uvicorn.Server`` (uvicorn does the
HTTP and TLS) on a socket it binds itself with ``SO_REUSEPORT``: the kernel then gives each new
connection to one of the listening sockets by a hash of its addresses, so the connections
spread evenly over the workers. uvicorn's own supervisor shares one socket between all the
workers instead, and whichever worker wakes first accepts: the bench's 50 connections were
split 12 vs 38. A worker joins the port's group when its server listens, after its start-up,
so no connection is given to a worker that is not ready; one that dies leaves the group with
its socket (connections it had accepted but not served are reset), and new connections go to
the others until its replacement listens.

The supervisor restarts a worker that dies, stops them all (SIGTERM, each server's graceful
shutdown) on SIGTERM or SIGINT, and stops them all with status 3 when one fails to start
(the port is taken, the application cannot be built): that would fail again on every restart,
as uvicorn's supervisor also reasons. A supervisor killed outright (SIGKILL, the OOM killer)
cannot stop its workers: each asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), so none is left serving. Linux only (``SO_REUSEPORT``'s balancing).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.context import SpawnProcess
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("enlace.workers")

_spawn = multiprocessing.get_context("spawn")

#: prctl(2)'s option: the signal the caller gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` in the port's ``SO_REUSEPORT`` group (not yet
    listening: it joins the group's balancing when the server listens)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def die_with(parent: int) -> None:
    """Have the kernel send this process SIGTERM when its parent, ``parent``, dies (Linux; a
    no-op elsewhere); exit now if it already has."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before prctl: no signal will come
        sys.exit(0)


def _worker(config: uvicorn.Config, supervisor: int) -> None:  # pragma: no cover - in the child
    """One worker: its own socket, one uvicorn server on it until SIGTERM or SIGINT (or the
    supervisor's death)."""
    die_with(supervisor)
    config.configure_logging()  # a spawned process starts with none
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        log.error("worker cannot bind its socket", extra={"port": config.port, "error": str(exc)})
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Runs ``workers`` processes of ``config`` (whose ``app`` is an import string, since each
    worker imports it) until SIGTERM or SIGINT; ``run`` returns the exit status."""

    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self._config = config
        self._workers = workers
        self._processes: list[SpawnProcess] = []
        self._stop = threading.Event()
        self._signal: str | None = None
        self._status = 0

    def _spawn(self) -> SpawnProcess:
        # The death signal follows the thread that started the worker: always the main one here.
        process = _spawn.Process(
            target=_worker, args=(self._config, os.getpid()), name="enlace-worker"
        )
        process.start()
        return process

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        self._signal = signal.Signals(signum).name  # logged by ``run``: no I/O in a handler
        self._stop.set()

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signalled)
        self._processes = [self._spawn() for _ in range(self._workers)]
        log.info(
            "workers started",
            extra={"port": self._config.port, "pids": [p.pid for p in self._processes]},
        )
        while not self._stop.wait(0.5):
            self._replace_dead()
        log.info("stopping the workers", extra={"signal": self._signal})
        for process in self._processes:
            process.terminate()  # SIGTERM: each server finishes what it serves, then exits
        for process in self._processes:
            process.join()
        return self._status

    def _replace_dead(self) -> None:
        for number, process in enumerate(self._processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("a worker failed to start: stopping", extra={"pid": process.pid})
                self._status = STARTUP_FAILURE
                self._stop.set()
                return
            self._processes[number] = self._spawn()
            log.warning(
                "a worker died: replaced",
                extra={
                    "pid": process.pid,
                    "exit": process.exitcode,
                    "replacement": self._processes[number].pid,
                },
            )
