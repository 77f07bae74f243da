"""The "call" of a metaservice exchange: X-Road's service metadata, answered from the registry.

A metaservice request is an exchange like any other (docs/protocol.md §8): parsed, authenticated
(signature, certificate, replay) and, once answered, ledgered and signed by the pipeline. Only
its last steps differ: instead of asking a trusted source, the gateway answers from its registry
snapshot, in X-Road's REST shapes (PR-MREST), with no evidence JWS — the gateway's own response
signature is the proof. It has no data subject (``Enlace-Subject: unknown``) and is GET only.

Who may ask what, after the caller is verified, registered (``Client.UnknownClient``) and within
its rate and concurrency limits (``Client.RateLimited``, counted as for any exchange:
``authorise.admit``):

    listClients      any client: the instance's members and subsystems
    listMethods      any client: every service of the provider
    allowedMethods   any client: the provider's services the caller holds a grant for
    getOpenAPI       any client, for any registered service: like the public
                     ``/v1/services/{id}/openapi.json``, a schema is needed before a grant
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.kernel import schemas
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import (
    ClientId,
    InvalidIdentifier,
    MemberId,
    MetaTarget,
    ServiceId,
)
from gateway.server.exchange.context import MetaParsed
from gateway.storage.registry import ServiceEntry, Snapshot

SERVICE_CODE = "serviceCode"


def parsed(method: str, target: MetaTarget, client: ClientId, subject: str | None) -> MetaParsed:
    """A metaservice request once its headers are read: GET, and no data subject."""
    if method != "GET":
        raise EnlaceError("Client.MethodNotAllowed", "metaservices answer GET only")
    if subject is not None:
        raise EnlaceError(
            "Client.InvalidSubject", "a metaservice has no data subject: send unknown"
        )
    return MetaParsed(target, client)


def answer(
    snapshot: Snapshot,
    contracts: schemas.Catalogue,
    request: MetaParsed,
    query: Mapping[str, str],
    *,
    server: str,
) -> dict[str, Any]:
    """The metaservice's answer for a verified, admitted client, from ``snapshot``."""
    client, target = str(request.client), request.target
    if target.provider is None:
        return list_clients(snapshot, target.instance)
    provider = target.provider
    if str(provider) not in snapshot.subsystems:
        raise EnlaceError("Client.UnknownService", f"provider {provider} is not registered")
    services = [s for s in snapshot.services.values() if s.service.provider == provider]
    if target.name == "listMethods":
        return service_list(s.service for s in services)
    if target.name == "allowedMethods":
        return service_list(
            s.service for s in services if (client, str(s.service)) in snapshot.grants
        )
    return get_openapi(snapshot, contracts, provider, query, server=server)


def _client_id(member: MemberId, subsystem: str | None) -> dict[str, str]:
    identifier = {
        "object_type": "SUBSYSTEM" if subsystem else "MEMBER",
        "xroad_instance": member.instance,
        "member_class": member.member_class,
        "member_code": member.code,
    }
    return identifier | ({"subsystem_code": subsystem} if subsystem else {})


def list_clients(snapshot: Snapshot, instance: str) -> dict[str, Any]:
    """X-Road's ``listClients``: each member of ``instance``, then each of its subsystems."""
    entries: list[tuple[MemberId, str | None]] = []
    entries += [(MemberId.parse(m), None) for m in snapshot.members]
    entries += [(c.member, c.subsystem) for c in map(ClientId.parse, snapshot.subsystems)]
    members = [
        {"id": _client_id(member, subsystem), "name": snapshot.members.get(str(member), "")}
        for member, subsystem in sorted(entries, key=lambda e: (e[0], e[1] or ""))
        if member.instance == instance
    ]
    return {"member": members}


def service_list(services: Iterable[ServiceId]) -> dict[str, Any]:
    """X-Road's ``listMethods`` and ``allowedMethods`` answer: REST services, sorted."""
    listed = []
    for service in sorted(services, key=str):
        identifier = _client_id(service.provider.member, service.provider.subsystem)
        identifier |= {"object_type": "SERVICE", "service_code": service.code}
        if service.version:
            identifier["service_version"] = service.version
        listed.append(identifier | {"service_type": "REST"})
    return {"service": listed}


def get_openapi(
    snapshot: Snapshot,
    contracts: schemas.Catalogue,
    provider: ClientId,
    query: Mapping[str, str],
    *,
    server: str,
) -> dict[str, Any]:
    """X-Road's ``getOpenAPI?serviceCode=CODE[/VERSION]``: the service's OpenAPI 3.1 document."""
    code = query.get(SERVICE_CODE)
    if not code:
        raise EnlaceError("Client.BadRequest", f"getOpenAPI needs ?{SERVICE_CODE}=CODE[/VERSION]")
    try:
        service_id = str(ServiceId.parse(f"{provider}/{code}"))
    except InvalidIdentifier as exc:
        raise EnlaceError("Client.InvalidIdentifier", str(exc)) from exc
    service: ServiceEntry | None = snapshot.services.get(service_id)
    contract = contracts.get(service.operation) if service else None
    if service is None or contract is None:
        raise EnlaceError("Client.UnknownService", f"{service_id} is not registered")
    return schemas.openapi(
        contract,
        service=service_id,
        description=service.description,
        methods=service.methods,
        server=server,
    )
