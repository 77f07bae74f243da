"""Reading what a client sent, within bounds: the helpers every route shares.

The HTTP server does not bound a request body; each route reads it through ``read_body`` with
its own limit, which refuses as soon as the declared or the received size exceeds it, before
the rest is buffered.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from starlette.requests import Request

from gateway.kernel.errors import EnlaceError


async def read_limited(declared: str | None, chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The body streamed as ``chunks`` (``declared``: its Content-Length, if any), refusing
    (``Client.BodyTooLarge``) as soon as it exceeds ``limit`` bytes."""
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise EnlaceError("Client.BodyTooLarge", f"body exceeds {limit} bytes")
    parts, total = [], 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise EnlaceError("Client.BodyTooLarge", f"body exceeds {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (``Client.BodyTooLarge``) as soon as it exceeds ``limit``."""
    return await read_limited(request.headers.get("content-length"), request.stream(), limit)


def query_lists(request: Request) -> dict[str, list[str]]:
    """Every query parameter with all the values it was given, in order."""
    query = request.query_params
    return {name: query.getlist(name) for name in query}
