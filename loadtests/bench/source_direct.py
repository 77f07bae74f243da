"""Baseline (b): RENAPO's own HTTPS service (``trusted_sources.server``), called directly.

The same ``SourceServer`` that ``enlace source run renapo`` serves, with one difference: wrk
cannot present a client certificate, so TLS here does not ask for one and the gateway-only
check (``peer_member``) is answered as if the gateway's certificate had been shown. That check
is a cached look-up per request; everything else (wire decoding, the adapter, signing the
evidence, aiohttp and TLS) is what the gateway's remote calls cost the source.

    python -m loadtests.bench.source_direct PKI_DIR DATASET PORT
"""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

from aiohttp import web

from gateway.kernel import pki
from gateway.kernel.ids import MemberId
from services.apps import catalogue
from trusted_sources import server
from trusted_sources.adapters import adapter_factories


def main(argv: list[str]) -> None:
    pki_dir, dataset, port = argv
    folder = pki.PkiDir(Path(pki_dir))
    provider = catalogue.RENAPO
    gateway = MemberId(provider.member.instance, "ENLACE", "gateway")
    source = server.SourceServer(
        adapter_factories()["renapo"]({"dataset": dataset}),
        folder.load_pair(folder.member(provider.member)),
        provider=provider,
        gateway=gateway,
    )

    def as_gateway(request: web.Request) -> MemberId | None:
        return gateway  # wrk shows no certificate: see the module docstring

    server.peer_member = as_gateway
    cert, key = folder.member(provider.member, "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    server.run(source.app(), "127.0.0.1", int(port), context)


if __name__ == "__main__":
    main(sys.argv[1:])
