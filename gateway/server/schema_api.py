"""The public service description endpoint; the signed ``getOpenAPI`` metaservice is
``exchange/metaservices.py``.

``GET /v1/services/{service-id}/openapi.json`` answers an OpenAPI 3.1 document for one
registered service, built from its operation's JSON Schemas (``gateway.kernel.schemas``): the signed
request (headers, query, body) and the evidence it returns. It is public and unsigned, like the
rest of the service catalogue: it holds no personal data, and a consumer needs it before it is
granted anything. An unknown service is ``404`` with ``Client.UnknownService``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway.kernel import schemas
from gateway.kernel.errors import EnlaceError
from gateway.server import responses
from gateway.server.state import Gateway


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter()

    @routes.get("/v1/services/{service_id:path}/openapi.json")
    async def service_openapi(service_id: str, request: Request) -> Response:
        service = gateway.snapshot.services.get(service_id)
        contract = gateway.contracts.get(service.operation) if service else None
        if service is None or contract is None:
            error = EnlaceError("Client.UnknownService", f"{service_id[:400]} is not registered")
            return responses.error_response(error)
        document = schemas.openapi(
            contract,
            service=service_id,
            description=service.description,
            methods=service.methods,
            server=str(request.base_url),
        )
        return responses.json_response(document)

    return routes
