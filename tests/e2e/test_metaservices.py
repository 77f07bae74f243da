"""X-Road's metaservices over real HTTPS through the SDK: each answers, signed and ledgered like
any exchange, refuses what any exchange refuses; allowedMethods shows only the caller's grants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.devtools import bootstrap
from gateway.kernel.ids import InvalidIdentifier, ServiceId
from gateway.kernel.protocol import headers as h
from gateway.server.run import running
from gateway.storage import registry
from services.sdk import EnlaceClient, MetaResult, NotFound
from services.sdk.errors import GatewayError
from tests.e2e.helpers import Call, error_code, ledger_entry

RENAPO = str(bootstrap.RENAPO)


@pytest.fixture
def url(dev: bootstrap.DevInstance) -> Iterator[str]:
    """A gateway where SRE's passport office holds one grant of RENAPO's two services."""
    registry.grant(
        dev.database,
        bootstrap.PASAPORTES,
        bootstrap.CURP_SERVICE,
        [bootstrap.BECAS_PURPOSE],
        [bootstrap.BECAS_LEGAL_BASIS],
    )
    with running(dev.settings) as base:
        yield base


def _client(dev: bootstrap.DevInstance, url: str, client: object) -> EnlaceClient:
    return EnlaceClient.from_pki(url, str(client), dev.pki.root)


def _ledgered(dev: bootstrap.DevInstance, result: MetaResult, service: str, client: str) -> None:
    """The answer's ledger entry: allowed, verified, no data subject, the receipt's index."""
    assert result.receipt.index == result.ledger_index
    entry = ledger_entry(dev.database, result.ledger_index)
    assert entry["kind"] == "exchange" and entry["outcome"] == "allowed"
    assert entry["service"] == service and entry["client"] == client
    assert entry["client_verified"] is True and entry["subjects"] == []
    assert entry["exchange_id"] == result.exchange_id


def _codes(result: MetaResult) -> list[str]:
    return [s["service_code"] for s in result.data["service"]]


def test_list_clients_names_every_member_and_subsystem(dev, url):
    with _client(dev, url, bootstrap.BECAS) as sdk:
        result = sdk.list_clients()
    ids = [m["id"] for m in result.data["member"]]
    assert {
        "object_type": "SUBSYSTEM",
        "xroad_instance": "MX",
        "member_class": "GOB",
        "member_code": "RENAPO",
        "subsystem_code": "curp",
    } in ids
    renapo = next(
        m
        for m in result.data["member"]
        if m["id"]["object_type"] == "MEMBER" and m["id"]["member_code"] == "RENAPO"
    )
    assert renapo["name"] == "Registro Nacional de Población"
    assert "evidence" not in result.data
    _ledgered(dev, result, "MX/listClients", str(bootstrap.BECAS))


def test_list_methods_and_allowed_methods(dev, url):
    with _client(dev, url, bootstrap.PASAPORTES) as sdk:
        listed = sdk.list_methods(RENAPO)
        allowed = sdk.allowed_methods(RENAPO)
    assert _codes(listed) == ["consulta-curp", "consulta-datos"]
    assert listed.data["service"][0] == {
        "object_type": "SERVICE",
        "xroad_instance": "MX",
        "member_class": "GOB",
        "member_code": "RENAPO",
        "subsystem_code": "curp",
        "service_code": "consulta-curp",
        "service_version": "v1",
        "service_type": "REST",
    }
    # Only what this client is granted: one of the two.
    assert _codes(allowed) == ["consulta-curp"]
    _ledgered(dev, listed, f"{RENAPO}/listMethods", str(bootstrap.PASAPORTES))
    _ledgered(dev, allowed, f"{RENAPO}/allowedMethods", str(bootstrap.PASAPORTES))
    with _client(dev, url, bootstrap.PERMISOS) as sdk:
        assert _codes(sdk.allowed_methods(RENAPO)) == []


def test_get_openapi_describes_a_registered_service(dev, url):
    with _client(dev, url, bootstrap.PERMISOS) as sdk:
        result = sdk.get_openapi(str(bootstrap.DATOS_SERVICE))
        assert result.data["openapi"] == "3.1.0"
        assert result.data["info"]["title"] == str(bootstrap.DATOS_SERVICE)
        assert result.data["servers"] == [{"url": f"{url}/r1"}]
        _ledgered(dev, result, f"{RENAPO}/getOpenAPI", str(bootstrap.PERMISOS))
        with pytest.raises(NotFound) as missing:
            sdk.get_openapi(f"{RENAPO}/no-such-service")
    assert missing.value.code == "Client.UnknownService"


def test_unknown_provider_and_bad_service_code(dev, url, http):
    sep = dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))
    with _client(dev, url, bootstrap.BECAS) as sdk, pytest.raises(NotFound) as unknown:
        sdk.list_methods("MX/GOB/RENAPO/nadie")
    assert unknown.value.code == "Client.UnknownService"
    call = Call(url, sep, service=f"{RENAPO}/getOpenAPI", headers={h.SUBJECT: h.UNKNOWN_SUBJECT})
    response = call.sign().send(http)
    assert (response.status_code, error_code(response)) == (400, "Client.BadRequest")


def test_unsigned_replayed_and_subject_calls_are_refused_and_ledgered(dev, url, http):
    sep = dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))
    service = f"{RENAPO}/listMethods"
    unsigned = Call(url, sep, service=service, headers={h.SUBJECT: h.UNKNOWN_SUBJECT})
    response = unsigned.send(http)
    assert (response.status_code, error_code(response)) == (400, "Client.MissingHeader")
    assert ledger_entry(dev.database, int(response.headers[h.LEDGER_INDEX]))["service"] == service

    signed = Call(url, sep, service=service, headers={h.SUBJECT: h.UNKNOWN_SUBJECT}).sign()
    assert signed.send(http).status_code == 200
    replayed = signed.send(http)
    assert (replayed.status_code, error_code(replayed)) == (409, "Client.Replay")
    entry = ledger_entry(dev.database, int(replayed.headers[h.LEDGER_INDEX]))
    assert (entry["service"], entry["outcome"]) == (service, "refused")

    subject = Call(url, sep, service=service, headers={h.SUBJECT: "RUTA030715MOCZPNA3"}).sign()
    response = subject.send(http)
    assert (response.status_code, error_code(response)) == (400, "Client.InvalidSubject")
    post = Call(url, sep, service=service, method="POST", headers={h.SUBJECT: h.UNKNOWN_SUBJECT})
    response = post.sign().send(http)
    assert (response.status_code, error_code(response)) == (405, "Client.MethodNotAllowed")


def test_sdk_refuses_an_unverifiable_or_refused_answer(dev, url):
    other = dev.pki.load_pair(dev.pki.member(bootstrap.PASAPORTES.member))
    with (
        EnlaceClient(
            url,
            str(bootstrap.BECAS),
            signer=other,
            ca_cert=dev.pki.load_ca().cert,
            ca_file=dev.pki.ca_cert,
        ) as sdk,
        pytest.raises(GatewayError) as refused,
    ):
        sdk.list_clients()
    assert refused.value.code == "Client.ClientMismatch"
    with _client(dev, url, "MX/GOB/SEP/sinregistro") as sdk, pytest.raises(GatewayError) as absent:
        sdk.list_clients()
    assert absent.value.code == "Client.UnknownClient"


def test_metaservice_names_are_reserved():
    with pytest.raises(InvalidIdentifier, match="reserved"):
        ServiceId.parse(f"{RENAPO}/listMethods")
