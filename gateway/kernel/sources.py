"""The trusted-source interfaces: what an adapter answers, and what the gateway gets back.

An adapter answers operations of one trusted source (RENAPO, Registro Civil, SAT) with plain
data; it knows nothing about HTTP, signatures or the ledger. Whoever runs the adapter, the
gateway in process (``trusted_sources.local``) or a source's own HTTPS service
(``trusted_sources.server``), signs its answers as evidence with the source's key: a ``Source``
gives the gateway a ``SignedAnswer``, whether it runs in process or remote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.kernel.ids import ServiceId


@dataclass(frozen=True)
class SourceRequest:
    operation: str
    method: str
    subject: str | None
    subpath: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class SourceAnswer:
    data: Any
    #: CURPs of every citizen whose data the answer carries (for the ledger's pseudonyms).
    subjects: tuple[str, ...] = ()


class SourceFailure(Exception):
    """The source refuses the query; ``code`` is ``Source.NotFound`` or ``Source.InvalidQuery``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class Adapter(Protocol):
    operations: frozenset[str]

    async def call(self, request: SourceRequest) -> SourceAnswer: ...


AdapterFactory = Callable[[Mapping[str, Any]], Adapter]


@dataclass(frozen=True)
class SignedAnswer:
    token: str
    subjects: tuple[str, ...]
    #: Key id of the certificate that signed the evidence (checked against the registry).
    signer: str


class Source(Protocol):
    async def answer(
        self, service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
    ) -> SignedAnswer: ...

    async def aclose(self) -> None:
        """Release connections (sessions to a remote source or to an OCSP responder)."""


class SourceConfigError(Exception):
    """A registered source cannot be set up (unknown adapter, bad options, missing keys)."""
