"""The trusted-source adapter interface.

An adapter answers operations of one trusted source (RENAPO, Registro Civil, SAT) with plain
data; it knows nothing about HTTP, signatures or the ledger. Whoever runs the adapter, the
gateway in process or a source's own HTTPS service, signs its answers as evidence with the
source's key (``gateway.sources``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


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


def adapter_factories() -> dict[str, AdapterFactory]:
    """Adapters that can run in process, by the name a source is registered with."""
    from trusted_sources import registro_civil, renapo
    from trusted_sources.sat import service as sat

    return {
        "renapo": renapo.RenapoAdapter.from_options,
        "registro-civil": registro_civil.RegistroCivilAdapter.from_options,
        "sat": sat.SatAdapter.from_options,
    }
