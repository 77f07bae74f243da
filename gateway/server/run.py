"""Running the gateway with uvicorn: in the foreground (``enlace serve``, its logs as JSON
lines, ``logs.py``), as N worker processes (``enlace serve --workers N``), or in a thread.

Workers are ``workers.Supervisor``'s: N spawned processes, each with its own ``SO_REUSEPORT``
socket on the port (the kernel spreads the connections evenly), each building its gateway from
the environment (``app_from_env``: the settings travel as ``ENLACE_*`` variables, which
``serve`` sets from its options); it restarts one that dies and stops them all on SIGTERM.
Each worker is a whole gateway (its ledger writer, its limits, its replay filter); they
share one PostgreSQL (docs/operations.md, "Several processes"). SQLite refuses it.

The server's own limits: connections and requests at once (``limit_concurrency``), the idle
keep-alive time, the header size (h11's only), the header deadline and the cap per address
(``guard.py``), and how long an exit waits for requests in flight (``timeout_graceful_shutdown``:
past it they are cancelled and the gateway stops, idle keep-alive clients or not). Forwarding
headers are believed from the trusted proxies alone (``ENLACE_TRUSTED_PROXIES``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from gateway.kernel import pki
from gateway.kernel.settings import Settings
from gateway.server import logs
from gateway.server.app import Dispatcher, create_app
from gateway.server.guard import GuardedProtocol, guarded_protocol
from gateway.server.workers import Supervisor
from gateway.storage.db import Database


def _options(settings: Settings, *, tls: bool) -> dict[str, Any]:
    """uvicorn's settings for the gateway, but the application and the protocol."""
    ssl: dict[str, Any] = {}
    if tls:
        cert, key = pki.PkiDir(settings.pki_dir).gateway("tls")
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    return {
        "access_log": False,  # access logs would carry request paths; we log our own events
        "timeout_keep_alive": settings.keep_alive,
        # h11's limit only: the default httptools parser has none, exchange/parse.py
        # bounds headers.
        "h11_max_incomplete_event_size": 16 * 1024,
        "timeout_graceful_shutdown": settings.graceful_shutdown,
        # X-Forwarded-For/-Proto only from the configured proxies (uvicorn would otherwise
        # believe any loopback peer): they become the request's client address and scheme.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
        **ssl,
    }


def uvicorn_config(
    settings: Settings,
    host: str,
    port: int,
    *,
    tls: bool,
    db: Database | None = None,
    **kwargs: Any,
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, db),
        host=host,
        port=port,
        log_level=kwargs.pop("log_level", "warning"),
        limit_concurrency=kwargs.pop("limit_concurrency", settings.max_concurrency),
        http=guarded_protocol(settings),
        **_options(settings, tls=tls),
        **kwargs,
    )


def app_from_env() -> Dispatcher:
    """A worker's application: its settings from the environment, its logs as JSON lines."""
    logs.configure()
    return create_app(Settings.from_env())


@functools.cache
def _env_protocol() -> type[GuardedProtocol]:
    return guarded_protocol(Settings.from_env())


def protocol_from_env(*args: Any, **kwargs: Any) -> GuardedProtocol:
    """A worker's connection protocol (one per-address count per worker process)."""
    return _env_protocol()(*args, **kwargs)


def serve(settings: Settings, host: str, port: int, *, tls: bool, workers: int = 1) -> None:
    """Serve in the foreground until stopped, logging JSON lines to stderr; with ``workers``
    above 1, as that many workers on the port (the settings must be PostgreSQL's)."""
    logs.configure()
    if workers <= 1:
        # log_config=None: uvicorn keeps its hands off logging, its records go through ours.
        config = uvicorn_config(settings, host, port, tls=tls, log_level="info", log_config=None)
        uvicorn.Server(config).run()
        return
    # The workers read their settings from the environment: the options must be there too.
    os.environ["ENLACE_DATABASE_URL"] = settings.database_url
    os.environ["ENLACE_PKI_DIR"] = str(settings.pki_dir)
    config = uvicorn.Config(
        "gateway.server.run:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        log_config=None,
        limit_concurrency=settings.max_concurrency,
        http="gateway.server.run:protocol_from_env",
        **_options(settings, tls=tls),
    )
    status = Supervisor(config, workers).run()
    if status:
        raise SystemExit(status)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(
    settings: Settings, *, host: str = "127.0.0.1", port: int | None = None, tls: bool = True
) -> Iterator[str]:
    """Serve in a background thread; yield the base URL; stop cleanly on exit."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn_config(settings, host, port, tls=tls))
    thread = threading.Thread(target=server.run, name="enlace-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # start-up takes a second; a loaded machine is slower
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
