"""The plain data an exchange's steps pass along: the request as received, what is known so far.

None of them refers to a web framework's request: any HTTP layer that can say what was sent
can build an ``Inbound`` (its headers a ``HeaderMap``, the header list read once, lower-cased),
and every step is a function of these values and the gateway's state.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field

from gateway.kernel.ids import ClientId, MetaTarget, ServiceTarget
from gateway.kernel.protocol.headers import HeaderMap
from gateway.kernel.schemas import Contract
from gateway.storage.registry import ServiceEntry


@dataclass(frozen=True)
class Inbound:
    """An exchange request as it arrived, its body not yet read."""

    method: str
    scheme: str
    #: The path as sent (percent-encoding intact) and the query string, both decoded as latin-1.
    raw_path: str
    query_string: str
    headers: HeaderMap
    #: The query parameters, the last value of a repeated one.
    query: Mapping[str, str]
    body: AsyncIterable[bytes]
    #: The client's address: the TCP peer's, or a trusted proxy's X-Forwarded-For, if known.
    peer: str | None = None


@dataclass
class Exchange:
    """What is known about an exchange so far; becomes its ledger record."""

    received_at: str
    method: str
    request_hash: str
    request_body: bytes = b""
    exchange_id: str | None = None
    client: str | None = None
    client_verified: bool = False
    service: str | None = None
    user_id: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    issue: str | None = None
    subjects: set[str] = field(default_factory=set)
    hidden_until: str | None = None
    #: The client whose in-flight count this exchange holds, once admitted.
    admitted: str | None = None
    #: The ``Retry-After`` of a verified client's over-limit refusal, held before it is sent.
    throttled: int = 0


@dataclass(frozen=True)
class Parsed:
    """The request's target and protocol headers, well formed but not yet authenticated."""

    target: ServiceTarget
    client: ClientId
    #: The data subject's CURP, or None for ``Enlace-Subject: unknown``.
    subject: str | None


@dataclass(frozen=True)
class MetaParsed:
    """A metaservice request, well formed but not yet authenticated; it has no data subject."""

    target: MetaTarget
    client: ClientId


@dataclass(frozen=True)
class Authorised:
    """The registered service the client may use for this request, and its contract."""

    service: ServiceEntry
    contract: Contract
