"""How the gateway reaches trusted sources and gets signed evidence back.

``trusted_sources.local.LocalSource`` runs an adapter in process and signs its answers with the
source's own key (loaded from the PKI directory): the evidence is the source's, not the
gateway's. A source
registered with a URL is a ``gateway.server.remote.RemoteSource``: the same adapter runs as the
source's own HTTPS service (``trusted_sources.server``, which signs through ``LocalSource``), and
the gateway verifies the evidence it returns. Which one is used is a matter of registration.
"""

from __future__ import annotations

from gateway.kernel import pki
from gateway.kernel.sources import Source, SourceConfigError
from gateway.server.remote import DEFAULT_CONNECTIONS, RemoteSource
from gateway.storage.registry import SourceEntry
from trusted_sources.adapters import adapter_factories
from trusted_sources.local import LocalSource


def build_source(entry: SourceEntry, pki_dir: pki.PkiDir, *, timeout: float) -> Source:
    """The source a registry entry describes; ``timeout`` bounds a remote source's answer."""
    if entry.adapter is None:
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
