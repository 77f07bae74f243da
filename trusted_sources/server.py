"""A trusted source as its own HTTPS service, reachable only by the gateway, over mutual TLS.

Owns the source side of the gateway ↔ source wire protocol
(``gateway.kernel.protocol.source_wire``):
an aiohttp application that requires a client certificate issued by the instance CA, admits only
the certificate whose SAN names the gateway member (``urn:enlace:member:INST:ENLACE:gateway``),
runs the adapter and signs the answer as evidence with the source's own key, exactly as the
gateway does in process (``trusted_sources.local.LocalSource``: same code, so both modes agree).

aiohttp rather than uvicorn: the source must see the client certificate of each request, which
aiohttp exposes (``request.transport``) and uvicorn's ASGI scope does not.

Also owns running such an aiohttp application: in the foreground (``enlace source run``) or in
a background thread (tests, demos), the latter also used for the SAT OCSP responder.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web
from cryptography import x509

from gateway.kernel import pki
from gateway.kernel.ids import ClientId, MemberId
from gateway.kernel.protocol import source_wire as wire
from gateway.kernel.sources import Adapter, SourceFailure
from trusted_sources.local import LocalSource

log = logging.getLogger("enlace.source")

#: Largest call accepted: the gateway's own body limit (1 MiB by default) plus the envelope.
MAX_CALL = 2 * 1024 * 1024
_START_TIMEOUT = 20.0


def server_ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS for a source service: its own certificate; clients must present one from ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(cert), str(key))
    return context


@functools.lru_cache(maxsize=64)
def _member_of_der(der: bytes) -> MemberId | None:
    return pki.member_of(x509.load_der_x509_certificate(der))


def peer_member(request: web.Request) -> MemberId | None:
    """The member named by the client certificate the TLS layer already verified."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return _member_of_der(der) if der else None


class SourceServer:
    """The ``/v1/call`` endpoint for one adapter, signing as the provider member."""

    def __init__(
        self, adapter: Adapter, signer: pki.KeyPair, *, provider: ClientId, gateway: MemberId
    ) -> None:
        self.adapter = adapter
        self.source = LocalSource(adapter, signer)
        self.provider = provider
        self.gateway = gateway

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_CALL)
        app.router.add_post(wire.CALL_PATH, self.call)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, _app: web.Application) -> None:
        await self.source.aclose()

    async def call(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        member = peer_member(request)
        if member != self.gateway:
            log.warning("refused a peer that is not the gateway", extra={"peer": str(member)})
            return self._error("Source.Forbidden", "only the gateway may call this source")
        try:
            call = wire.decode_call(await request.read())
        except wire.WireError as exc:
            return self._error("Source.BadRequest", str(exc))
        except web.HTTPRequestEntityTooLarge:
            return self._error("Source.BadRequest", f"call exceeds {MAX_CALL} bytes")
        if call.service.provider != self.provider:
            return self._error("Source.InvalidQuery", f"{call.service} is not served here")
        outcome = "answered"
        try:
            answer = await self.source.answer(
                call.service, call.request, exchange_id=call.exchange_id, client=call.client
            )
        except SourceFailure as exc:
            outcome = exc.code
            return self._error(exc.code, exc.message)
        except Exception:  # a bug must still give the gateway a clean, typed answer
            outcome = "Source.InternalError"
            log.exception("adapter failed")
            return self._error("Source.InternalError", "the source failed")
        finally:
            log.info(
                "call",
                extra={
                    "operation": call.request.operation,
                    "outcome": outcome,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return web.Response(
            body=wire.encode_reply(answer.token, answer.subjects), content_type="application/json"
        )

    @staticmethod
    def _error(code: str, message: str) -> web.Response:
        status, body = wire.encode_error(code, message)
        return web.Response(status=status, body=body, content_type="application/json")


# --- running aiohttp applications ------------------------------------------------------------


def run(app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
    """Serve in the foreground until interrupted."""
    web.run_app(app, host=host, port=port, ssl_context=ssl_context, access_log=None, print=None)


@contextlib.contextmanager
def running(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve in a background thread with its own event loop; yield the base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()
    failure: list[BaseException] = []

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name=f"enlace-serve-{port}", daemon=True)
    thread.start()
    if not ready.wait(_START_TIMEOUT) or failure:
        raise RuntimeError(f"could not serve on {host}:{port}") from (
            failure[0] if failure else None
        )
    try:
        yield f"{'https' if ssl_context else 'http'}://{host}:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_START_TIMEOUT)
