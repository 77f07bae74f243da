"""How the gateway reaches trusted sources and gets signed evidence back.

``LocalSource`` runs an adapter in process and signs its answers with the source's own key
(loaded from the PKI directory): the evidence is the source's, not the gateway's. A source
registered with a URL is a ``gateway.remote.RemoteSource``: the same adapter runs as the
source's own HTTPS service (``trusted_sources.server``, which signs through ``LocalSource``), and
the gateway verifies the evidence it returns. Which one is used is a matter of registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gateway import pki
from gateway.ids import ServiceId
from gateway.protocol import evidence
from gateway.registry import SourceEntry
from trusted_sources.base import Adapter, SourceRequest, adapter_factories


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


class SourceConfigError(Exception):
    pass


def build_source(entry: SourceEntry, pki_dir: pki.PkiDir, *, timeout: float) -> Source:
    """The source a registry entry describes; ``timeout`` bounds a remote source's answer."""
    if entry.adapter is None:
        from gateway.remote import DEFAULT_CONNECTIONS, RemoteSource

        return RemoteSource(
            entry,
            ca=pki.load_cert(pki_dir.ca_cert),
            client_cert=pki_dir.gateway("tls"),
            timeout=timeout,
            connections=int(entry.options.get("connections", DEFAULT_CONNECTIONS)),
        )
    factories = adapter_factories()
    if entry.adapter not in factories:
        raise SourceConfigError(f"source {entry.code}: unknown adapter {entry.adapter}")
    signer = pki_dir.load_pair(pki_dir.member(entry.provider.member))
    return LocalSource(factories[entry.adapter](entry.options), signer)
