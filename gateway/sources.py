"""How the gateway reaches trusted sources and gets signed evidence back.

``LocalSource`` runs an adapter in process and signs its answers with the source's own key
(loaded from the PKI directory): the evidence is the source's, not the gateway's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway import pki
from gateway.ids import ServiceId
from gateway.protocol import evidence
from gateway.registry import SourceEntry
from trusted_sources.base import Adapter, SourceRequest, adapter_factories


@dataclass(frozen=True)
class SignedAnswer:
    token: str
    subjects: tuple[str, ...]


class Source(Protocol):
    async def answer(
        self, service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
    ) -> SignedAnswer: ...


class LocalSource:
    def __init__(self, adapter: Adapter, signer: pki.KeyPair) -> None:
        self.adapter = adapter
        self.signer = signer

    async def answer(
        self, service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
    ) -> SignedAnswer:
        result = await self.adapter.call(request)
        token = evidence.issue(
            service, result.data, self.signer, exchange_id=exchange_id, client=client
        )
        return SignedAnswer(token, result.subjects)


class SourceConfigError(Exception):
    pass


def build_source(entry: SourceEntry, pki_dir: pki.PkiDir) -> Source:
    if entry.adapter is None:
        raise SourceConfigError(f"source {entry.code}: remote sources are not supported yet")
    factories = adapter_factories()
    if entry.adapter not in factories:
        raise SourceConfigError(f"source {entry.code}: unknown adapter {entry.adapter}")
    signer = pki_dir.load_pair(pki_dir.member(entry.provider.member))
    return LocalSource(factories[entry.adapter](entry.options), signer)
