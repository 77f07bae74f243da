"""Step 1 of an exchange: read the request and parse what it names, before any key is looked at.

Before anything else the request's ``X-Road-Id`` is noted when it is usable (``exchange_id``),
so that even the earliest refusal answers with the consumer's own id. Then, in this order: all
headers at most ``MAX_HEADERS_TOTAL`` bytes (``Client.BadRequest``), the body within
``Settings.max_body`` (``Client.BodyTooLarge``); then, once the registry is known fresh, the
method (GET or POST, ``Client.MethodNotAllowed``), the Host (``Client.BadRequest``), the path as
sent, never percent-decoded (``Client.InvalidIdentifier``), and each required protocol and
signature header, present exactly once and well formed (``Client.MissingHeader``,
``Client.InvalidHeader``, ``Client.InvalidIdentifier``, ``Client.InvalidSubject``). Each value is
noted in the exchange as soon as it is known sane, so that a refusal is ledgered with it.

``X-Road-UserId`` and ``X-Road-Issue`` are the agency's free text, ledgered verbatim: each must
hold no CURP, RFC or e-mail address (``Client.PersonalDataInField``) and match ``FREE_TEXT``
(``Client.InvalidHeader``). Both are checked here, before the signature, because every request
is ledgered, signed or not: a value must be known clean before it is noted at all.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Collection
from typing import Any

from gateway.kernel import acl, curp, personal_data
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import (
    ClientId,
    InvalidIdentifier,
    MetaTarget,
    parse_meta_target,
    parse_target,
)
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.kernel.protocol.headers import HeaderMap
from gateway.server.exchange import metaservices
from gateway.server.exchange.context import Exchange, Inbound, MetaParsed, Parsed
from gateway.server.requests import read_limited

MAX_HEADER = 256
#: All request headers together; far above what the protocol needs, far below a stall.
MAX_HEADERS_TOTAL = 32 * 1024
#: The methods of the protocol (docs/protocol.md §2); a service may allow fewer.
METHODS = frozenset({"GET", "POST"})
_ONCE = tuple((name, name.lower()) for name in (*h.REQUIRED_REQUEST, *h.SIGNATURE_HEADERS))
_PREFIX = "/r1/"
#: ``X-Road-UserId`` and ``X-Road-Issue`` (docs/protocol.md §2): a staff or case number, which
#: never starts a spreadsheet formula.
FREE_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}", re.ASCII)


def exchange_id(headers: HeaderMap) -> str | None:
    """The request's ``X-Road-Id`` if it is usable (sent once, well formed), else None."""
    value = headers.get("x-road-id")
    if value is None or "x-road-id" in headers.repeated:
        return None
    value = value.strip()
    return value if acl.CODE.fullmatch(value) else None


def check_sizes(headers: HeaderMap) -> None:
    """Bound what reaches the parsers: the HTTP server itself does not limit header size."""
    if headers.size > MAX_HEADERS_TOTAL:
        raise EnlaceError("Client.BadRequest", f"headers exceed {MAX_HEADERS_TOTAL} bytes")


async def read(
    inbound: Inbound, ex: Exchange, *, max_body: int, timeout: float | None = None
) -> None:
    """Check the header size, then read the body (bounded in size and, given ``timeout``, in
    seconds: a body trickled in must not hold the exchange open) into the exchange."""
    check_sizes(inbound.headers)
    declared = inbound.headers.get("content-length")
    if declared in (None, "0") and "transfer-encoding" not in inbound.headers:
        # No body can follow (RFC 9112 §6.3): the server has it complete, nothing to time out.
        ex.request_body = await read_limited(declared, inbound.body, max_body)
        return
    try:
        async with asyncio.timeout(timeout):
            ex.request_body = await read_limited(declared, inbound.body, max_body)
    except TimeoutError:
        raise EnlaceError(
            "Client.BadRequest", f"the body did not arrive within {timeout:g} s"
        ) from None


def base_url(inbound: Inbound, public_url: str | None) -> str:
    """The gateway's URL as the client reached it: the configured public URL when the gateway
    sits behind a TLS-terminating proxy, else the scheme served and the Host header."""
    return public_url or f"{inbound.scheme}://{inbound.headers.get('host', '')}"


def target_uri(inbound: Inbound, public_url: str | None) -> str:
    """The URI the client signed, from ``base_url``."""
    uri = f"{base_url(inbound, public_url)}{inbound.raw_path}"
    return uri + ("?" + inbound.query_string if inbound.query_string else "")


def parse(
    inbound: Inbound,
    ex: Exchange,
    *,
    public_hosts: Collection[str],
    pseudonym: Callable[[str], str],
) -> Parsed | MetaParsed:
    """The method, the Host, the service path and the protocol headers, in this order."""
    if inbound.method not in METHODS:
        raise EnlaceError("Client.MethodNotAllowed", "use GET or POST")
    if public_hosts and inbound.headers.get("host") not in public_hosts:
        raise EnlaceError("Client.BadRequest", "unexpected Host")
    try:
        path = service_path(inbound.raw_path)
        target = parse_meta_target(path) or parse_target(path)
    except InvalidIdentifier as exc:
        raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
    ex.service = str(target.service)
    client, subject = read_headers(inbound.headers, ex)
    if isinstance(target, MetaTarget):
        return metaservices.parsed(inbound.method, target, client, subject)
    if subject is not None:
        ex.subjects.add(pseudonym(subject))
    return Parsed(target, client, subject)


def service_path(raw_path: str) -> str:
    """What follows ``/r1/`` in the path as sent. It is never percent-decoded: no identifier
    needs it (docs/protocol.md §1), so an encoded character is refused by the identifier
    rules rather than read as another path."""
    if not raw_path.startswith(_PREFIX):
        raise InvalidIdentifier("request path must start with /r1/")
    return raw_path[len(_PREFIX) :]


def _printable(name: str, value: str) -> str:
    if len(value) > MAX_HEADER or not value.isascii() or not value.isprintable():
        raise EnlaceError(
            "Client.InvalidHeader",
            f"{name} must be at most {MAX_HEADER} printable ASCII characters",
        )
    return value


def _free_text(name: str, value: str) -> str:
    """A staff or case number, refused when it holds a personal identifier; the message names
    the kind found, never the value."""
    found = personal_data.find(_printable(name, value))
    if found is not None:
        raise EnlaceError(
            "Client.PersonalDataInField",
            f"{name} contains what looks like a {found}; send a staff or case number only",
        )
    if not FREE_TEXT.fullmatch(value):
        raise EnlaceError(
            "Client.InvalidHeader",
            f"{name} must be 1-128 of A-Z a-z 0-9 . _ : / # -, starting with a letter or digit",
        )
    return value


def _check_present_once(headers: HeaderMap) -> None:
    for name, key in _ONCE:
        if not headers.get(key, "").strip():
            raise EnlaceError("Client.MissingHeader", f"{name} is required")
        # A repeated header could be read one way by the signature and another by us.
        if key in headers.repeated:
            raise EnlaceError("Client.InvalidHeader", f"{name} must appear exactly once")


def read_headers(headers: HeaderMap, ex: Exchange) -> tuple[ClientId, str | None]:
    """Validate the protocol headers, noting each value in the exchange once it is sane; the
    client and the subject's CURP (None for ``unknown``, checked once the service is known)."""
    _check_present_once(headers)
    xid = exchange_id(headers)
    if xid is None:
        raise EnlaceError("Client.InvalidHeader", "X-Road-Id must be 1-128 of A-Z a-z 0-9 . _ : -")
    ex.exchange_id = xid
    try:
        client = ClientId.parse(headers["x-road-client"].strip())
    except InvalidIdentifier as exc:
        raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
    ex.client = str(client)
    ex.user_id = _free_text(h.USER_ID, headers["x-road-userid"].strip())
    ex.issue = _free_text(h.ISSUE, headers["x-road-issue"].strip())
    ex.purpose = acl.check_code("purpose", headers["enlace-purpose"].strip())
    ex.legal_basis = acl.check_code("legal basis", headers["enlace-legal-basis"].strip())
    if not signing.well_formed_digest(headers["content-digest"].strip()):
        raise EnlaceError("Client.InvalidHeader", "Content-Digest must be sha-256=:BASE64:")
    subject = headers["enlace-subject"]
    if subject == h.UNKNOWN_SUBJECT:
        return client, None
    try:
        return client, curp.validate(subject).value
    except curp.InvalidCurp as exc:
        raise EnlaceError("Client.InvalidSubject", f"{exc.code}: {exc}") from exc


def json_body(body: bytes, content_type: str | None) -> Any:
    """The body as JSON (None when empty), else ``Client.InvalidBody``; a body sent as anything
    but ``application/json`` (parameters aside) is ``Client.InvalidHeader``."""
    if not body:
        return None
    if (content_type or "").partition(";")[0].strip().lower() != "application/json":
        raise EnlaceError("Client.InvalidHeader", "a body must be sent as application/json")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnlaceError("Client.InvalidBody", "body is not JSON") from exc
