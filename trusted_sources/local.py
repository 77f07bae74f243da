"""An adapter run in process, its answers signed as evidence with the source's own key.

The evidence is the source's, not the gateway's: the key is the provider member's (loaded from
the PKI directory). The gateway uses it for sources registered with an adapter, and a source's
own HTTPS service (``trusted_sources.server``) signs through it too.
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
        self.signer = signer

    async def answer(
        self, service: ServiceId, request: SourceRequest, *, exchange_id: str, client: str
    ) -> SignedAnswer:
        result = await self.adapter.call(request)
        token = evidence.issue(
            service, result.data, self.signer, exchange_id=exchange_id, client=client
        )
        return SignedAnswer(token, result.subjects, pki.keyid(self.signer.cert))

    async def aclose(self) -> None:
        if isinstance(self.adapter, _Closeable):
            await self.adapter.aclose()
