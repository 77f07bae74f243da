"""The exchange's HTTP adapter: ``/r1/…`` as a bare ASGI application, any method.

No web framework and no middleware stand between the server and the pipeline: the ASGI scope
becomes a ``context.Inbound`` (the header list read once into a ``HeaderMap``, the body streamed
from ``receive``), and the pipeline's ``sign.Signed`` — pre-serialised bytes — is sent as it is.
Every method reaches the pipeline, so that a ``DELETE`` is refused like any other request:
signed and ledgered (``Client.MethodNotAllowed``), never a framework's unsigned 405.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol.headers import HeaderMap
from gateway.server.exchange import pipeline
from gateway.server.exchange.context import Inbound
from gateway.server.state import Gateway

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The client's doing, refused as such: under the unsigned budget, never a 500.
            raise EnlaceError(
                "Client.BadRequest", "the client went away before its body was complete"
            )
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def inbound(scope: Scope, receive: Receive) -> Inbound:
    """The request as the pipeline reads it; the body is streamed, not yet read."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query_string = scope.get("query_string", b"").decode("latin-1")
    return Inbound(
        method=scope["method"],
        scheme=scope["scheme"],
        raw_path=raw_path.decode("latin-1"),
        query_string=query_string,
        headers=HeaderMap.from_raw(scope["headers"]),
        # The last value of a repeated parameter, as the schema check and the source see it.
        query=dict(parse_qsl(query_string, keep_blank_values=True)) if query_string else {},
        body=_body(receive),
        peer=(scope.get("client") or (None,))[0],
    )


#: Response header names as sent: a handful of names, encoded once each.
_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    encoded = _NAMES.get(name)
    if encoded is None:
        encoded = name.lower().encode("latin-1")
        if len(_NAMES) < 64:  # the gateway's own names; never grows with what clients send
            _NAMES[name] = encoded
    return encoded


def application(gw: Gateway) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application answering every ``/r1/`` request of ``gw``."""

    async def exchange(scope: Scope, receive: Receive, send: Send) -> None:
        signed = await pipeline.handle(gw, inbound(scope, receive))
        headers = [(_name(k), v.encode("latin-1")) for k, v in signed.headers.items()]
        headers.append((b"content-length", str(len(signed.body)).encode()))
        await send({"type": "http.response.start", "status": signed.status, "headers": headers})
        await send({"type": "http.response.body", "body": signed.body})

    return exchange
