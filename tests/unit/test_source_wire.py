"""The gateway ↔ source wire protocol: both ends agree, and each refuses what it must."""

from __future__ import annotations

import json

import pytest

from gateway.devtools.population import generate
from gateway.kernel.ids import ServiceId
from gateway.kernel.protocol import source_wire as wire
from gateway.kernel.sources import SourceFailure, SourceRequest

SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
CURP = next(generate(1)).curp


def call(**changes: object) -> bytes:
    message = json.loads(
        wire.encode_call(
            SERVICE,
            SourceRequest("consulta-curp", "GET", CURP, "a/b", {"x": "1"}, {"k": [1, 2]}),
            exchange_id="ex-1",
            client="MX/GOB/SEP/becas",
        )
    )
    message.update(changes)
    return json.dumps(message).encode()


def test_call_round_trip():
    decoded = wire.decode_call(call())
    assert decoded.service == SERVICE and decoded.exchange_id == "ex-1"
    assert decoded.client == "MX/GOB/SEP/becas"
    assert decoded.request == SourceRequest(
        "consulta-curp", "GET", CURP, "a/b", {"x": "1"}, {"k": [1, 2]}
    )
    assert wire.decode_call(call(subject=None)).request.subject is None


@pytest.mark.parametrize(
    "bad",
    [
        {"service": "MX/GOB/../x/y"},
        {"client": "nobody"},
        {"method": "DELETE"},
        {"subject": 7},
        {"query": {"x": 1}},
        {"query": {str(i): "v" for i in range(wire.MAX_QUERY_ITEMS + 1)}},
        {"operation": None},
        {"exchange_id": "x" * 401},
    ],
)
def test_bad_calls_are_refused(bad):
    with pytest.raises(wire.WireError):
        wire.decode_call(call(**bad))
    with pytest.raises(wire.WireError):
        wire.decode_call(b"[1, 2]")


def test_reply_round_trip_and_subjects_are_curps():
    reply = wire.decode_reply(200, wire.encode_reply("a.b.c", (CURP,)))
    assert (reply.token, reply.subjects) == ("a.b.c", (CURP,))
    for subjects in (["not-a-curp"], [7], [CURP] * (wire.MAX_SUBJECTS + 1)):
        body = json.dumps({"evidence": "a.b.c", "subjects": subjects}).encode()
        with pytest.raises(wire.WireError):
            wire.decode_reply(200, body)


def test_only_source_refusals_are_forwarded():
    status, body = wire.encode_error("Source.NotFound", "no such CURP")
    with pytest.raises(SourceFailure) as caught:
        wire.decode_reply(status, body)
    assert (status, caught.value.code, caught.value.message) == (
        404,
        "Source.NotFound",
        "no such CURP",
    )
    for code in ("Source.Forbidden", "Source.BadRequest", "Server.Whatever"):
        status, body = wire.encode_error(code, "m")
        with pytest.raises(wire.WireError):
            wire.decode_reply(status, body)
    # A code the protocol does not know is sent as an internal error, never as itself.
    assert json.loads(wire.encode_error("Server.Whatever", "m")[1])["error"]["code"] == (
        "Source.InternalError"
    )
    with pytest.raises(wire.WireError):
        wire.decode_reply(502, b"<html>bad gateway</html>")
