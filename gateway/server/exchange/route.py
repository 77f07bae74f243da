"""The exchange's HTTP adapter: ``/r1/{path}`` from a Starlette request to a signed response.

A plain Starlette endpoint returning pre-serialised bytes (a pydantic response model would
halve throughput, see performance.md). It only translates: the request into a
``context.Inbound``, the pipeline's ``sign.Signed`` into a response.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.server.exchange import pipeline
from gateway.server.exchange.context import Inbound
from gateway.server.responses import Handler
from gateway.server.state import Gateway


def inbound(request: Request) -> Inbound:
    """The request as the pipeline reads it; the body is streamed, not yet read."""
    scope = request.scope
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    return Inbound(
        method=request.method,
        scheme=scope["scheme"],
        raw_path=raw_path.decode("latin-1"),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        path=request.path_params["path"],
        headers=request.headers,
        query=dict(request.query_params),
        body=request.stream(),
    )


def endpoint(gw: Gateway) -> Handler:
    """The ``/r1/{path}`` endpoint of ``gw``."""

    async def exchange(request: Request) -> Response:
        signed = await pipeline.handle(gw, inbound(request))
        return Response(content=signed.body, status_code=signed.status, headers=signed.headers)

    return exchange
