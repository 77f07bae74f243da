"""The gateway's HTTP application: its state (``state.Gateway``), its routes, its lifecycle.

Only composes. ``Dispatcher`` is the ASGI application the server runs: ``/r1/…`` goes straight
to the exchange (``exchange.route``, a bare ASGI handler: no framework, no middleware on the
hot path); everything else — the ledger's proofs (``ledger_api``), the service descriptions
(``schema_api``), the citizen view (``citizen_api``), the operational endpoints
(``status_api``) and the lifespan that starts and stops the gateway — to the FastAPI app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from gateway.kernel.settings import Settings
from gateway.server import citizen_api, ledger_api, schema_api, status_api
from gateway.server.exchange import route as exchange_route
from gateway.server.exchange.route import Receive, Scope, Send
from gateway.server.state import Gateway
from gateway.storage.db import Database

EXCHANGE_PREFIX = "/r1/"


class Dispatcher:
    """The gateway's ASGI application: exchanges to their lean handler, the rest to FastAPI."""

    def __init__(self, gateway: Gateway, app: FastAPI) -> None:
        self.gateway = gateway
        self.app = app
        self._exchange = exchange_route.application(gateway)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(EXCHANGE_PREFIX):
            await self._exchange(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(settings: Settings, db: Database | None = None) -> Dispatcher:
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
    app.include_router(ledger_api.router(gateway))
    app.include_router(schema_api.router(gateway))
    citizen_api.install(app, gateway)
    app.include_router(status_api.router(gateway))
    return Dispatcher(gateway, app)
