"""Pieces shared by Enlace's outgoing aiohttp clients (gateway → source, SAT → OCSP responder).

Owns reading a response body with a hard size limit: aiohttp has none on the client side, and a
peer must not be able to make a gateway buffer an unbounded answer.
"""

from __future__ import annotations

import aiohttp


class BodyTooLarge(Exception):
    """The peer declared or sent more than the limit."""


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it exceeds ``limit`` bytes."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"declared {declared} bytes, limit {limit}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_any():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
