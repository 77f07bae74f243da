"""Step 1 of an exchange: read the request and parse what it names, before any key is looked at.

In this order: all headers at most ``MAX_HEADERS_TOTAL`` bytes (``Client.BadRequest``), the body
within ``Settings.max_body`` (``Client.BodyTooLarge``); then, once the registry is known fresh,
the Host (``Client.BadRequest``), the path (``Client.InvalidIdentifier``) and each required
protocol header, present exactly once and well formed (``Client.MissingHeader``,
``Client.InvalidHeader``, ``Client.InvalidIdentifier``, ``Client.InvalidSubject``). Each value is
noted in the exchange as soon as it is known sane, so that a refusal is ledgered with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from starlette.datastructures import Headers

from gateway.kernel import acl, curp
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import ClientId, InvalidIdentifier, parse_target
from gateway.kernel.protocol import headers as h
from gateway.server.exchange.context import Exchange, Inbound, Parsed
from gateway.server.requests import read_limited

MAX_HEADER = 256
#: All request headers together; far above what the protocol needs, far below a stall.
MAX_HEADERS_TOTAL = 32 * 1024


def check_sizes(headers: Headers) -> None:
    """Bound what reaches the parsers: the HTTP server itself does not limit header size."""
    total = sum(len(k) + len(v) for k, v in headers.raw)
    if total > MAX_HEADERS_TOTAL:
        raise EnlaceError("Client.BadRequest", f"headers exceed {MAX_HEADERS_TOTAL} bytes")


async def read(inbound: Inbound, ex: Exchange, *, max_body: int) -> None:
    """Check the header size, then read the body (bounded) into the exchange."""
    check_sizes(inbound.headers)
    declared = inbound.headers.get("content-length")
    ex.request_body = await read_limited(declared, inbound.body, max_body)


def target_uri(inbound: Inbound, public_url: str | None) -> str:
    """The URI the client signed: from the configured public URL when the gateway sits behind a
    TLS-terminating proxy, else from the scheme served and the Host header."""
    base = public_url or f"{inbound.scheme}://{inbound.headers.get('host', '')}"
    uri = f"{base}{inbound.raw_path}"
    return uri + ("?" + inbound.query_string if inbound.query_string else "")


def parse(
    inbound: Inbound,
    ex: Exchange,
    *,
    public_hosts: Collection[str],
    pseudonym: Callable[[str], str],
) -> Parsed:
    """The Host, the service path and the protocol headers, in this order."""
    if public_hosts and inbound.headers.get("host") not in public_hosts:
        raise EnlaceError("Client.BadRequest", "unexpected Host")
    try:
        target = parse_target(inbound.path)
    except InvalidIdentifier as exc:
        raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
    ex.service = str(target.service)
    client, subject = read_headers(inbound.headers, ex)
    if subject is not None:
        ex.subjects.add(pseudonym(subject))
    return Parsed(target, client, subject)


def _printable(name: str, value: str) -> str:
    if len(value) > MAX_HEADER or not value.isascii() or not value.isprintable():
        raise EnlaceError(
            "Client.InvalidHeader",
            f"{name} must be at most {MAX_HEADER} printable ASCII characters",
        )
    return value


def _check_present_once(headers: Headers) -> None:
    for name in h.REQUIRED_REQUEST:
        if not headers.get(name, "").strip():
            raise EnlaceError("Client.MissingHeader", f"{name} is required")
        # A repeated header could be read one way by the signature and another by us.
        if len(headers.getlist(name)) != 1:
            raise EnlaceError("Client.InvalidHeader", f"{name} must appear exactly once")


def read_headers(headers: Headers, ex: Exchange) -> tuple[ClientId, str | None]:
    """Validate the protocol headers, noting each value in the exchange once it is sane; the
    client and the subject's CURP (None for ``unknown``, checked once the service is known)."""
    _check_present_once(headers)
    xid = headers[h.ID].strip()
    if not acl.CODE.fullmatch(xid):
        raise EnlaceError("Client.InvalidHeader", "X-Road-Id must be 1-128 of A-Z a-z 0-9 . _ : -")
    ex.exchange_id = xid
    try:
        client = ClientId.parse(headers[h.CLIENT].strip())
    except InvalidIdentifier as exc:
        raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
    ex.client = str(client)
    ex.user_id = _printable(h.USER_ID, headers[h.USER_ID].strip())
    ex.issue = _printable(h.ISSUE, headers[h.ISSUE].strip())
    ex.purpose = acl.check_code("purpose", headers[h.PURPOSE].strip())
    ex.legal_basis = acl.check_code("legal basis", headers[h.LEGAL_BASIS].strip())
    if headers[h.SUBJECT] == h.UNKNOWN_SUBJECT:
        return client, None
    try:
        return client, curp.validate(headers[h.SUBJECT]).value
    except curp.InvalidCurp as exc:
        raise EnlaceError("Client.InvalidSubject", f"{exc.code}: {exc}") from exc


def json_body(body: bytes) -> Any:
    """The body as JSON (None when empty), else ``Client.InvalidBody``."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnlaceError("Client.InvalidBody", "body is not JSON") from exc
