"""The pure parts of ``loadtests/pipeline_profile.py``: the ASGI scope, callgrind's totals."""

from __future__ import annotations

import pytest

from gateway.kernel.protocol.headers import HeaderMap
from gateway.server.exchange.route import inbound
from loadtests.bench.pool import Signed
from loadtests.pipeline_profile import AUTHORITY, instructions, scope


async def _never() -> dict[str, object]:
    raise AssertionError("the body is not read here")


def test_the_scope_is_what_the_exchange_route_reads() -> None:
    signed = Signed("GET", "/r1/MX/GOB/RENAPO/curp/consulta-curp/v1", {"X-Road-Id": "a-1"}, b"")
    request = inbound(scope(signed), _never)
    assert (request.method, request.scheme, request.raw_path) == ("GET", "https", signed.path)
    assert request.headers == HeaderMap([("host", AUTHORITY), ("x-road-id", "a-1")])
    assert request.peer == "127.0.0.1"


def test_the_instruction_count_is_read_from_a_callgrind_dump() -> None:
    dump = b"version: 1\ncmd: python\nevents: Ir\nsummary: 123456789\ntotals: 123456789\n"
    assert instructions(dump) == 123456789
    with pytest.raises(ValueError, match="callgrind"):
        instructions(b"events: Ir\n")
