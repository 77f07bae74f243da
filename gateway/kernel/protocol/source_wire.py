"""The gateway ↔ trusted source wire protocol (JSON over mutual TLS), both directions.

Owns the shapes and their validation, so that the gateway's ``RemoteSource`` and a source's
HTTPS service (``trusted_sources.server``) cannot drift apart. docs/protocol.md, section
"Gateway ↔ trusted source", is the specification.

    POST {source url}/v1/call            Content-Type: application/json
    {"service": ..., "operation": ..., "method": "GET"|"POST", "subject": CURP|null,
     "subpath": "", "query": {name: value}, "body": <JSON>|null,
     "exchange_id": ..., "client": ...}

    200  {"evidence": <compact JWS, gateway.kernel.protocol.evidence>, "subjects": [CURP, ...]}
    4xx  {"error": {"code": "Source.NotFound" | "Source.InvalidQuery", "message": ...}}
    4xx/5xx with any other ``Source.*`` code: the service could not answer (``Source.Forbidden``,
         ``Source.BadRequest``, ``Source.InternalError``); the gateway reports Server.SourceError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.kernel import canonical_json, curp
from gateway.kernel.errors import http_status
from gateway.kernel.ids import ClientId, InvalidIdentifier, ServiceId
from gateway.kernel.sources import SourceFailure, SourceRequest

CALL_PATH = "/v1/call"
#: Codes a source may answer that the gateway passes on to the consumer as they are.
FORWARDED = {code: http_status(code) for code in ("Source.NotFound", "Source.InvalidQuery")}
#: Codes a source service uses when it cannot answer at all.
FAILED = {
    code: http_status(code)
    for code in ("Source.BadRequest", "Source.Forbidden", "Source.InternalError")
}
MAX_MESSAGE = 500
MAX_SUBJECTS = 1000
MAX_QUERY_ITEMS = 50
_STRING_LIMIT = 400


class WireError(Exception):
    """A message does not follow the wire protocol."""


@dataclass(frozen=True)
class Call:
    service: ServiceId
    request: SourceRequest
    exchange_id: str
    client: str


@dataclass(frozen=True)
class Reply:
    token: str
    subjects: tuple[str, ...]


def _dumps(value: Any) -> bytes:
    return canonical_json.compact(value)


def encode_call(
    service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
) -> bytes:
    return _dumps(
        {
            "service": str(service),
            "operation": request.operation,
            "method": request.method,
            "subject": request.subject,
            "subpath": request.subpath,
            "query": dict(request.query),
            "body": request.body,
            "exchange_id": exchange_id,
            "client": client,
        }
    )


def decode_call(raw: bytes) -> Call:
    """The source side: parse and check a call; ``WireError`` says what is wrong."""
    message = _object(raw)
    try:
        service = ServiceId.parse(_string(message, "service"))
        client = str(ClientId.parse(_string(message, "client")))
    except InvalidIdentifier as exc:
        raise WireError(str(exc)) from exc
    method = _string(message, "method")
    if method not in ("GET", "POST"):
        raise WireError("method must be GET or POST")
    subject = message.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise WireError("subject must be a string or null")
    query = message.get("query", {})
    if (
        not isinstance(query, dict)
        or len(query) > MAX_QUERY_ITEMS
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
    ):
        raise WireError(f"query must map at most {MAX_QUERY_ITEMS} names to strings")
    request = SourceRequest(
        operation=_string(message, "operation"),
        method=method,
        subject=subject,
        subpath=_string(message, "subpath", required=False),
        query=query,
        body=message.get("body"),
    )
    return Call(service, request, _string(message, "exchange_id"), client)


def encode_reply(token: str, subjects: tuple[str, ...]) -> bytes:
    return _dumps({"evidence": token, "subjects": list(subjects)})


def encode_error(code: str, message: str) -> tuple[int, bytes]:
    """HTTP status and body of an error answer (an unknown code becomes Source.InternalError)."""
    status = FORWARDED.get(code) or FAILED.get(code)
    if status is None:
        code, status = "Source.InternalError", FAILED["Source.InternalError"]
    return status, _dumps({"error": {"code": code, "message": message[:MAX_MESSAGE]}})


def decode_reply(status: int, raw: bytes) -> Reply:
    """The gateway side: a ``Reply``, a ``SourceFailure`` to forward, or ``WireError``.

    Decoded by ``orjson``: a reply holds a compact JWS (ASCII), CURPs and an error's text, and
    what ``orjson`` refuses and ``json`` takes (integers past 64 bits, lone surrogates, NaN) has
    no place in any of them."""
    message = _object(raw, orjson.loads)
    if status != 200:
        error = message.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        text = error.get("message") if isinstance(error, dict) else None
        if code in FORWARDED and isinstance(text, str):
            raise SourceFailure(code, text[:MAX_MESSAGE])
        shown = code if isinstance(code, str) and len(code) <= 64 else "no error code"
        raise WireError(f"source answered HTTP {status} ({shown})")
    token, subjects = message.get("evidence"), message.get("subjects")
    if not isinstance(token, str) or not isinstance(subjects, list):
        raise WireError("answer needs evidence (string) and subjects (list)")
    if len(subjects) > MAX_SUBJECTS:
        raise WireError(f"more than {MAX_SUBJECTS} subjects")
    try:
        checked = tuple(curp.validate(s).value for s in subjects if isinstance(s, str))
    except curp.InvalidCurp as exc:
        raise WireError("a subject is not a valid CURP") from exc
    if len(checked) != len(subjects):
        raise WireError("subjects must be CURP strings")
    return Reply(token, checked)


def _object(raw: bytes, loads: Callable[[bytes], Any] = json.loads) -> dict[str, Any]:
    try:
        message = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError("not JSON") from exc
    if not isinstance(message, dict):
        raise WireError("not a JSON object")
    return message


def _string(message: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = message.get(name, None if required else "")
    if not isinstance(value, str) or len(value) > _STRING_LIMIT:
        raise WireError(f"{name} must be a string of at most {_STRING_LIMIT} characters")
    return value
