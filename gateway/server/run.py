"""Running the gateway with uvicorn: in the foreground (``enlace serve``, its logs as JSON
lines, ``logs.py``) or in a thread.

The server's own limits: connections and requests at once (``limit_concurrency``), the idle
keep-alive time, the header size (h11's only), the header deadline and the cap per address
(``guard.py``), and how long an exit waits for requests in flight (``timeout_graceful_shutdown``:
past it they are cancelled and the gateway stops, idle keep-alive clients or not).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from gateway.kernel import pki
from gateway.kernel.settings import Settings
from gateway.server import logs
from gateway.server.app import create_app
from gateway.server.guard import guarded_protocol
from gateway.storage.db import Database


def uvicorn_config(
    settings: Settings,
    host: str,
    port: int,
    *,
    tls: bool,
    db: Database | None = None,
    **kwargs: Any,
) -> uvicorn.Config:
    ssl: dict[str, Any] = {}
    if tls:
        cert, key = pki.PkiDir(settings.pki_dir).gateway("tls")
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    return uvicorn.Config(
        create_app(settings, db),
        host=host,
        port=port,
        log_level=kwargs.pop("log_level", "warning"),
        access_log=False,  # access logs would carry request paths; we log our own events
        # The TCP peer is the client: forwarding headers are never believed (nor parsed).
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive,
        limit_concurrency=kwargs.pop("limit_concurrency", settings.max_concurrency),
        # h11's limit only: the default httptools parser has none, exchange/parse.py
        # bounds headers.
        h11_max_incomplete_event_size=16 * 1024,
        http=guarded_protocol(settings),
        timeout_graceful_shutdown=settings.graceful_shutdown,
        **ssl,
        **kwargs,
    )


def serve(settings: Settings, host: str, port: int, *, tls: bool) -> None:
    """Serve in the foreground until stopped, logging JSON lines to stderr."""
    logs.configure()
    # log_config=None: uvicorn keeps its hands off logging, its records go through ours.
    config = uvicorn_config(settings, host, port, tls=tls, log_level="info", log_config=None)
    uvicorn.Server(config).run()


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
