"""The gateway's operational endpoints: trust anchor, liveness, health and metrics.

* ``GET /.well-known/enlace/trust``: the gateway's signing certificate and checkpoint key;
* ``GET /livez``: alive, with no database round trip (load balancers, benchmark baseline);
* ``GET /healthz``: the database answers, the registry is fresh and the ledger's history
  extends its last signed head, else 503 saying which (and, for the ledger, why);
* ``GET /metrics``: Prometheus text.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter
from prometheus_client import generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.kernel import pki
from gateway.server.state import Gateway


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter()

    @routes.get("/.well-known/enlace/trust")
    async def trust() -> JSONResponse:
        """The gateway's signing certificate; clients check it against the instance CA."""
        return JSONResponse(
            {
                "instance": gateway.settings.instance,
                "gateway_signing_keyid": gateway.signer_keyid,
                "gateway_signing_certificate": pki.cert_pem(gateway.signer.cert),
                "ledger_checkpoint_vkey": gateway.checkpoint_signer.verifier().to_vkey(),
            }
        )

    @routes.get("/livez")
    async def live() -> Response:
        """Liveness only, no database round trip: for load balancers and as benchmark baseline."""
        return Response(b'{"status":"live"}', media_type="application/json")

    @routes.get("/healthz")
    async def health() -> JSONResponse:
        def check() -> None:
            with gateway.db.read.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        # ``signer``: this process holds the checkpoint signer role (docs/ledger.md §4).
        signer = {"signer": gateway.election.signer}
        if gateway.guard.reason is not None:
            return JSONResponse(
                signer
                | {
                    "status": "unhealthy",
                    "ledger": "corrupt",
                    "code": "Server.LedgerCorrupt",
                    "reason": gateway.guard.reason,
                },
                status_code=503,
            )
        try:
            await asyncio.to_thread(check)
        except Exception:
            return JSONResponse(
                signer | {"status": "unhealthy", "database": "down"}, status_code=503
            )
        if gateway.registry_stale():
            return JSONResponse(
                signer | {"status": "unhealthy", "registry": "stale"}, status_code=503
            )
        return JSONResponse(signer | {"status": "ok", "registry_version": gateway.snapshot.version})

    @routes.get("/metrics")
    async def metrics(_request: Request) -> Response:
        return Response(
            generate_latest(gateway.metrics.registry), media_type="text/plain; version=0.0.4"
        )

    return routes
