"""An adapter run in process, its answers signed as evidence with the source's own key.

The evidence is the source's, not the gateway's: the key is the provider member's (loaded from
the PKI directory). The gateway uses it for sources registered with an adapter, and a source's
own HTTPS service (``trusted_sources.server``) signs through it too. The protected header and
the key id are built once, when the source is (``evidence.EvidenceSigner``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gateway.kernel import pki
from gateway.kernel.ids import ServiceId
from gateway.kernel.protocol import evidence
from gateway.kernel.sources import Adapter, SignedAnswer, SourceRequest


@runtime_checkable
class _Closeable(Protocol):
    async def aclose(self) -> None: ...


class LocalSource:
    def __init__(self, adapter: Adapter, signer: pki.KeyPair) -> None:
        self.adapter = adapter
        self._evidence = evidence.EvidenceSigner(signer)

    async def answer(
        self, service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
    ) -> SignedAnswer:
        result = await self.adapter.call(request)
        token = self._evidence.issue(service, result.data, exchange_id=exchange_id, client=client)
        return SignedAnswer(token, result.subjects, self._evidence.keyid)

    async def aclose(self) -> None:
        if isinstance(self.adapter, _Closeable):
            await self.adapter.aclose()
