"""The witness's HTTP service: ``POST <prefix>/add-checkpoint`` (C2SP tlog-witness), on aiohttp.

``Witness`` owns the per-origin serialisation the protocol demands — checking ``old`` against the
latest cosigned head and recording the new head happen under one lock per origin, and the head is
durably recorded (``state.WitnessDir.record``) *before* the cosignature is answered — so two
concurrent requests can never roll the witness back. ``make_app`` maps its answers to HTTP and
``serve`` runs it, over HTTPS when given a certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from gateway.kernel.ledger.witnessing import (
    MAX_REQUEST_SIZE,
    SIZE_CONTENT_TYPE,
    Refusal,
    SizeConflict,
    WitnessedHead,
    check_add_checkpoint,
    parse_add_checkpoint,
    size_body,
)
from gateway.witness.logs import TrustedLogs
from gateway.witness.state import WitnessDir

__all__ = ["READ_TIMEOUT", "Witness", "make_app", "serve"]

log = logging.getLogger("enlace.witness")

#: Seconds a client has to send its whole request body.
READ_TIMEOUT = 30.0


class Witness:
    """A witness's decisions over its state directory, serialised per origin."""

    def __init__(
        self, store: WitnessDir, logs: TrustedLogs, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._key = store.key()
        self._logs = logs
        self._clock = clock
        self._heads: dict[str, WitnessedHead] = store.heads()
        # Locks exist only for configured origins, so unknown ones cannot grow this map.
        self._locks = {origin: asyncio.Lock() for origin in logs}

    @property
    def name(self) -> str:
        return self._key.name

    async def add_checkpoint(self, body: bytes) -> bytes:
        """The cosignature line for an ``add-checkpoint`` body, else ``Refusal``."""
        request = parse_add_checkpoint(body)
        origin = request.checkpoint.origin
        async with self._locks.get(origin, contextlib.nullcontext()):
            latest = self._heads.get(origin)
            head = check_add_checkpoint(request, self._logs.get(origin, ()), latest)
            line = self._key.cosign(request, int(self._clock()))
            if head != latest:
                await asyncio.to_thread(self._store.record, origin, head, request.note + line)
                self._heads[origin] = head
        log.info(
            "cosigned checkpoint",
            extra={"origin": origin, "old": request.old_size, "size": head.size},
        )
        return line


def make_app(witness: Witness, prefix: str = "") -> web.Application:
    """The aiohttp application answering ``POST <prefix>/add-checkpoint``."""
    app = web.Application(client_max_size=MAX_REQUEST_SIZE)

    async def add_checkpoint(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                body = await request.read()
        except TimeoutError:
            return web.Response(status=408, text="request body not received in time\n")
        try:
            line = await witness.add_checkpoint(body)
        except SizeConflict as exc:
            conflict = size_body(exc.size)
            return web.Response(status=409, body=conflict, content_type=SIZE_CONTENT_TYPE)
        except Refusal as exc:
            log.info("refused checkpoint", extra={"status": exc.status, "reason": str(exc)})
            return web.Response(status=exc.status, text=f"{exc}\n")
        return web.Response(body=line, content_type="text/plain", charset="utf-8")

    app.router.add_post(f"{prefix.rstrip('/')}/add-checkpoint", add_checkpoint)
    return app


def serve(
    witness: Witness,
    host: str,
    port: int,
    *,
    prefix: str = "",
    tls: tuple[Path, Path] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; ``tls`` is (certificate chain, private key) for HTTPS."""
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    web.run_app(
        make_app(witness, prefix),
        host=host,
        port=port,
        ssl_context=context,
        print=log.info,
        access_log=None,
    )
