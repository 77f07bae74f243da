"""The gateway's HTTP application: its state (``state.Gateway``), its routes, its lifecycle.

Only composes: the exchange (``exchange.route``), the ledger's proofs (``ledger_api``), the
service descriptions (``schema_api``), the citizen view (``citizen_api``) and the operational
endpoints (``status_api``). FastAPI serves the small JSON endpoints; the exchange route is a
plain Starlette endpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from gateway.kernel.settings import Settings
from gateway.server import citizen_api, ledger_api, schema_api, status_api
from gateway.server.exchange import route as exchange_route
from gateway.server.state import Gateway
from gateway.storage.db import Database


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    gateway = Gateway(settings, db)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="Enlace gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    app.add_route("/r1/{path:path}", exchange_route.endpoint(gateway), methods=["GET", "POST"])
    app.include_router(ledger_api.router(gateway))
    app.include_router(schema_api.router(gateway))
    citizen_api.install(app, gateway)
    app.include_router(status_api.router(gateway))
    return app
