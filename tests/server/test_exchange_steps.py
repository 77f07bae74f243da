"""The exchange's steps as plain functions over plain data, without an HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from starlette.requests import Request
from starlette.responses import Response

from gateway.kernel.errors import CitizenError, EnlaceError
from gateway.kernel.ledger import record as ledger_record
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.kernel.protocol.headers import HeaderMap
from gateway.server import responses
from gateway.server.exchange import parse, record, sign
from gateway.server.exchange.context import Exchange, Inbound
from gateway.server.ledger_api import LedgerApiError

CURP = "RUTA030715MOCZPNA2"
PROTOCOL_HEADERS = {
    h.CLIENT: "MX/GOB/SEP/becas",
    h.ID: "x-1",
    h.USER_ID: "ana",
    h.ISSUE: "folio-7",
    h.SUBJECT: CURP,
    h.PURPOSE: "becas.elegibilidad",
    h.LEGAL_BASIS: "lgdnna.art3",
    # Present and well formed; whether they verify is authenticate's business.
    h.CONTENT_DIGEST: signing.content_digest(b""),
    h.SIGNATURE_INPUT: 'enlace=("@method");created=1;keyid="k";nonce="abcdefghij"',
    h.SIGNATURE: "enlace=:AAAA:",
}


def _digest(body: bytes) -> str:
    return ledger_record.body_digest(b"k" * 32, body)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _inbound(headers: dict[str, str], *body: bytes, query_string: str = "") -> Inbound:
    return Inbound(
        method="POST",
        scheme="https",
        raw_path="/r1/MX/GOB/RENAPO/curp/consulta-curp/v1",
        query_string=query_string,
        headers=HeaderMap(headers.items()),
        query={},
        body=_chunks(*body),
    )


def _exchange() -> Exchange:
    return Exchange(received_at="2026-01-01T00:00:00Z", method="POST", request_hash="hash")


async def _call(handler: responses.Handler, request: Request) -> Response:
    return await handler(request)


def _code(error: pytest.ExceptionInfo[EnlaceError]) -> str:
    return error.value.code


def test_read_bounds_headers_and_body() -> None:
    ex = _exchange()
    asyncio.run(parse.read(_inbound({}, b"ab", b"c"), ex, max_body=3))
    assert ex.request_body == b"abc"
    with pytest.raises(EnlaceError) as too_long:
        asyncio.run(parse.read(_inbound({}, b"ab", b"cd"), _exchange(), max_body=3))
    assert _code(too_long) == "Client.BodyTooLarge"
    declared = _inbound({"content-length": "4"}, b"")
    with pytest.raises(EnlaceError) as too_long:
        asyncio.run(parse.read(declared, _exchange(), max_body=3))
    assert _code(too_long) == "Client.BodyTooLarge"
    huge = _inbound({"x-filler": "a" * parse.MAX_HEADERS_TOTAL})
    with pytest.raises(EnlaceError) as too_big:
        asyncio.run(parse.read(huge, _exchange(), max_body=3))
    assert _code(too_big) == "Client.BadRequest"


async def _stalled() -> AsyncIterator[bytes]:
    yield b"a"
    await asyncio.sleep(3600)  # the rest never comes
    yield b"b"


@pytest.mark.parametrize(
    "declared",
    [{"content-length": "2"}, {"transfer-encoding": "chunked"}],
    ids=["length", "chunked"],
)
def test_a_body_that_may_follow_is_read_under_the_time_out(declared: dict[str, str]) -> None:
    inbound = _inbound(declared)
    inbound = Inbound(**{**inbound.__dict__, "body": _stalled()})
    with pytest.raises(EnlaceError) as late:
        asyncio.run(parse.read(inbound, _exchange(), max_body=10, timeout=0.05))
    assert _code(late) == "Client.BadRequest"
    assert "did not arrive" in late.value.message


def test_target_uri_is_what_the_client_signed() -> None:
    inbound = _inbound({"host": "gw.example:8443"}, query_string="a=1")
    assert parse.target_uri(inbound, None) == (
        "https://gw.example:8443/r1/MX/GOB/RENAPO/curp/consulta-curp/v1?a=1"
    )
    assert parse.target_uri(inbound, "https://enlace.example") == (
        "https://enlace.example/r1/MX/GOB/RENAPO/curp/consulta-curp/v1?a=1"
    )


def test_parse_notes_each_value_once_sane() -> None:
    ex = _exchange()
    parsed = parse.parse(
        _inbound(PROTOCOL_HEADERS), ex, public_hosts=(), pseudonym=lambda curp: f"p:{curp}"
    )
    assert (str(parsed.client), parsed.subject) == ("MX/GOB/SEP/becas", CURP)
    assert (ex.exchange_id, ex.client, ex.service) == (
        "x-1",
        "MX/GOB/SEP/becas",
        "MX/GOB/RENAPO/curp/consulta-curp/v1",
    )
    assert ex.subjects == {f"p:{CURP}"}
    unknown = parse.read_headers(
        HeaderMap({**PROTOCOL_HEADERS, h.SUBJECT: "unknown"}.items()), _exchange()
    )
    assert unknown[1] is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({h.USER_ID: " "}, "Client.MissingHeader"),
        ({h.ID: "no spaces allowed"}, "Client.InvalidHeader"),
        ({h.CLIENT: "MX/GOB/SEP"}, "Client.InvalidIdentifier"),
        ({h.ISSUE: "x" * (parse.MAX_HEADER + 1)}, "Client.InvalidHeader"),
        ({h.SUBJECT: "RUTA030715MOCZPNA3"}, "Client.InvalidSubject"),
    ],
)
def test_read_headers_refuses(change: dict[str, str], code: str) -> None:
    ex = _exchange()
    with pytest.raises(EnlaceError) as refused:
        parse.read_headers(HeaderMap({**PROTOCOL_HEADERS, **change}.items()), ex)
    assert _code(refused) == code


def test_a_repeated_header_is_refused() -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in PROTOCOL_HEADERS.items()]
    raw.append((h.USER_ID.lower().encode(), b"mallory"))
    with pytest.raises(EnlaceError) as refused:
        parse.read_headers(HeaderMap.from_raw(raw), _exchange())
    assert _code(refused) == "Client.InvalidHeader"


def test_parse_refuses_an_unexpected_host_before_the_path() -> None:
    inbound = _inbound({**PROTOCOL_HEADERS, "host": "evil.example"})
    with pytest.raises(EnlaceError) as refused:
        parse.parse(inbound, _exchange(), public_hosts=("gw.example",), pseudonym=str)
    assert _code(refused) == "Client.BadRequest"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "allowed"),
        ("Source.NotFound", "not_found"),
        ("Client.Replay", "refused"),
        ("Source.InvalidQuery", "failed"),
        ("Server.SourceTimeout", "failed"),
    ],
)
def test_outcome(error: str | None, outcome: str) -> None:
    assert record.outcome(error) == outcome


def test_an_unverified_request_is_recorded_without_its_subjects() -> None:
    ex = _exchange()
    ex.request_body, ex.subjects = b"{}", {"p:subject"}
    unverified = record.entry(
        ex, "x-1", status=401, error="Client.InvalidSignature", response=b"no", digest=_digest
    )
    assert unverified["subjects"] == []
    assert (unverified["request_size"], unverified["response_size"]) == (2, 2)
    assert unverified["outcome"] == "refused"
    ex.client_verified = True
    allowed = record.entry(ex, "x-1", status=200, error=None, response=b"", digest=_digest)
    assert allowed["subjects"] == ["p:subject"]


def test_only_the_gateways_own_errors_are_named_in_x_road_error() -> None:
    assert sign.error_header("Client.Replay") == {h.ERROR: "Client.Replay"}
    assert sign.error_header("Source.NotFound") == {}
    assert sign.error_header(None) == {}
    ex = _exchange()
    assert h.SERVICE not in sign.headers_for(ex, "x-1")
    ex.service = "MX/GOB/RENAPO/curp/consulta-curp/v1"
    assert sign.headers_for(ex, "x-1")[h.SERVICE] == ex.service


@pytest.mark.parametrize(
    "error",
    [
        EnlaceError("Client.UnknownService", "nope"),
        CitizenError("citizen.bad_request", "nope"),
        LedgerApiError("Ledger.BeyondTree", "nope"),
    ],
)
def test_every_error_family_maps_to_http_the_same_way(error: responses.SafeError) -> None:
    answer = responses.error_response(error, {"X-Extra": "1"}, more=[1])
    assert answer.status_code == error.status
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-extra"] == "1"
    assert json.loads(bytes(answer.body)) == {
        "error": {"code": error.code, "message": "nope", "more": [1]}
    }


def test_answering_turns_only_the_named_errors_into_responses() -> None:
    @responses.answering(responses.error_response, LedgerApiError)
    async def endpoint(_request: Request) -> Response:
        """Documented."""
        raise LedgerApiError("Ledger.NoCheckpoint", "none yet")

    assert (endpoint.__name__, endpoint.__doc__) == ("endpoint", "Documented.")
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    answer = asyncio.run(_call(endpoint, request))
    assert answer.status_code == 404

    @responses.answering(responses.error_response, LedgerApiError)
    async def broken(_request: Request) -> Response:
        raise KeyError("not ours")

    with pytest.raises(KeyError):
        asyncio.run(_call(broken, request))
