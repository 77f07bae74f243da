"""Remote trusted sources over real mutual TLS, through the real gateway.

A source runs as its own HTTPS service (``trusted_sources.server``, or ``enlace source run`` in a
subprocess); the gateway reaches it with the certificate registered for it. Every way that hop
can fail must end as a clean, ledgered gateway error.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web

from gateway.devtools import bootstrap, devca, population
from gateway.kernel import pki
from gateway.kernel.ids import MemberId, ServiceId
from gateway.kernel.protocol import evidence
from gateway.kernel.protocol import source_wire as wire
from gateway.kernel.sources import SourceAnswer, SourceRequest
from gateway.server.run import free_port, running
from gateway.storage import registry
from services.sdk import EnlaceClient, GatewayError, Result
from tests.conftest import CITIZENS
from tests.e2e.helpers import ledger_entry
from tests.sources.conftest import enlace_serving
from trusted_sources.renapo import RenapoAdapter
from trusted_sources.server import SourceServer, server_ssl_context
from trusted_sources.server import running as serving

RENAPO = bootstrap.RENAPO
HOSTS = ["localhost", "127.0.0.1"]


def renapo_adapter() -> RenapoAdapter:
    return RenapoAdapter(population.synthetic(CITIZENS))


def gateway_member(dev: bootstrap.DevInstance) -> MemberId:
    return MemberId(dev.settings.instance, "ENLACE", "gateway")


@contextlib.contextmanager
def source(
    dev: bootstrap.DevInstance,
    adapter: Any = None,
    *,
    app: web.Application | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """A RENAPO source service over mutual TLS (its adapter, or a raw ``app``)."""
    cert, key = tls or dev.pki.member(RENAPO.member, "tls")
    if app is None:
        signer = dev.pki.load_pair(dev.pki.member(RENAPO.member))
        server = SourceServer(adapter, signer, provider=RENAPO, gateway=gateway_member(dev))
        app = server.app()
    context = server_ssl_context(cert, key, dev.pki.ca_cert)
    with serving(app, "127.0.0.1", free_port(), context) as url:
        yield url


def register_remote(
    dev: bootstrap.DevInstance, code: str, url: str, cert: Path | None = None
) -> ServiceId:
    """Register a remote RENAPO source with its TLS certificate, a service, and BECAS's grant."""
    pem = (cert or dev.pki.member(RENAPO.member, "tls")[0]).read_text()
    registry.register_source(dev.database, code, RENAPO, url=url, tls_cert_pem=pem)
    service = ServiceId.parse(f"{RENAPO}/{code}/v1")
    registry.add_service(dev.database, service, code, "consulta-curp")
    registry.grant(
        dev.database,
        bootstrap.BECAS,
        service,
        [bootstrap.BECAS_PURPOSE],
        [bootstrap.BECAS_LEGAL_BASIS],
    )
    return service


def lookup(gateway_url: str, dev: bootstrap.DevInstance, service: ServiceId, curp: str) -> Result:
    with EnlaceClient.from_pki(gateway_url, str(bootstrap.BECAS), dev.pki.root) as client:
        return client.call(
            str(service),
            subject=curp,
            purpose=bootstrap.BECAS_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000123",
            issue="BECA-2026-9",
        )


def refused(gateway_url: str, dev, service: ServiceId, curp: str) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        lookup(gateway_url, dev, service, curp)
    entry = ledger_entry(dev.database, caught.value.ledger_index)
    assert entry["error"] == caught.value.code and entry["outcome"] != "allowed"
    return caught.value


def other_tls_cert(dev: bootstrap.DevInstance, member: MemberId, folder: Path) -> tuple[Path, Path]:
    """Another TLS certificate for ``member``, from the same instance CA."""
    pair = devca.issue_tls_cert(dev.pki.load_ca(), str(member), HOSTS, member=member)
    paths = (folder / f"{member.code}-tls.pem", folder / f"{member.code}-tls.key")
    devca.write_pair(pair, *paths)
    return paths


class Counting:
    """An adapter wrapper that counts the calls it receives; with ``hold``, each call waits
    until the test sets it (for a minute at most), so only a time-out ends the wait."""

    operations = frozenset({"consulta-curp"})

    def __init__(self, inner: RenapoAdapter, hold: threading.Event | None = None) -> None:
        self.inner, self.hold, self.calls = inner, hold, 0

    async def call(self, request: SourceRequest) -> SourceAnswer:
        self.calls += 1
        for _ in range(6000 if self.hold else 0):
            if self.hold and self.hold.is_set():
                break
            await asyncio.sleep(0.01)
        return await self.inner.call(request)


def active(people):
    return next(p for p in people if p.estatus_curp == "AN")


# --- the happy path -------------------------------------------------------------------------


def test_remote_source_answers_like_the_in_process_one(dev, people):
    """`enlace source run renapo` in its own process, registered by URL and certificate."""
    port = free_port()
    run = ["source", "run", "renapo", "--provider", str(RENAPO), "--port", str(port)]
    run += ["--option", f"citizens={CITIZENS}", "--pki-dir", str(dev.pki.root)]
    with enlace_serving(port, *run):
        remote = register_remote(dev, "renapo-remote", f"https://127.0.0.1:{port}")
        citizen = active(people)
        with running(dev.settings) as url:
            local = lookup(url, dev, bootstrap.CURP_SERVICE, citizen.curp)
            answer = lookup(url, dev, remote, citizen.curp)
            unknown = refused(url, dev, remote, "XEXX010101HNEXXXA4")

    assert answer.data == local.data and answer.data["curp"] == citizen.curp
    # Signed by RENAPO itself in both modes, for this exchange and this consumer.
    assert pki.keyid(answer.evidence.signer) == pki.keyid(local.evidence.signer)
    proof = evidence.verify(answer.evidence.token, dev.pki.load_ca().cert)
    assert proof.claims["iss"] == str(remote) and proof.claims["exchange_id"] == answer.exchange_id
    assert (
        ledger_entry(dev.database, answer.ledger_index)["subjects"]
        == ledger_entry(dev.database, local.ledger_index)["subjects"]
    )
    # The source's own refusals come through as they are.
    assert (unknown.code, unknown.status) == ("Source.NotFound", 404)


def test_a_revoked_signing_certificate_is_refused_after_it_was_cached(dev, people):
    """The source's evidence chain is verified once per certificate; revocation is checked at
    every answer all the same."""
    citizen = active(people)
    signing = dev.pki.load_pair(dev.pki.member(RENAPO.member)).cert
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with (
        source(dev, renapo_adapter()) as source_url,
        httpx.Client(verify=context, timeout=10) as http,
    ):
        service = register_remote(dev, "renapo-remote", source_url)
        with running(dev.settings) as url:
            assert lookup(url, dev, service, citizen.curp).data["curp"] == citizen.curp
            registry.revoke_certificate(dev.database, pki.keyid(signing), "key compromise")
            with dev.database.read.connect() as conn:
                version = registry.version(conn)
            deadline = time.monotonic() + 10
            while http.get(f"{url}/healthz").json()["registry_version"] < version:
                assert time.monotonic() < deadline, "gateway did not reload the registry"
                time.sleep(0.1)
            error = refused(url, dev, service, citizen.curp)
    assert (error.code, error.status) == ("Server.SourceError", 502)
    assert "signing key is not valid" in error.message


def test_gateway_tls_certificate_names_the_gateway(dev):
    cert = pki.load_cert(dev.pki.gateway("tls")[0])
    assert pki.member_of(cert) == gateway_member(dev)


# --- the hop failing ------------------------------------------------------------------------


def test_source_presenting_another_certificate_is_refused(dev, people, tmp_path):
    """Same member, same CA, but not the registered certificate: no request is ever sent.

    Server.SourceUnavailable (not SourceError): the TLS handshake fails, so the registered
    source was never reached and nothing it said was judged.
    """
    counting = Counting(renapo_adapter())
    impostor = other_tls_cert(dev, RENAPO.member, tmp_path)
    with source(dev, counting, tls=impostor) as source_url:
        service = register_remote(dev, "renapo-remote", source_url)
        with running(dev.settings) as url:
            error = refused(url, dev, service, active(people).curp)
    assert (error.code, error.status) == ("Server.SourceUnavailable", 502)
    assert "certificate other than the one registered" in error.message
    assert counting.calls == 0


def test_source_down(dev, people):
    service = register_remote(dev, "renapo-remote", f"https://127.0.0.1:{free_port()}")
    with running(dev.settings) as url:
        error = refused(url, dev, service, active(people).curp)
    assert (error.code, error.status) == ("Server.SourceUnavailable", 502)


def test_slow_source_times_out(dev, people):
    settings = dev.settings.model_copy(update={"source_timeout": 0.5})
    released = threading.Event()
    with source(dev, Counting(renapo_adapter(), hold=released)) as source_url:
        service = register_remote(dev, "renapo-remote", source_url)
        with running(settings) as url:
            error = refused(url, dev, service, active(people).curp)
            released.set()
    assert (error.code, error.status) == ("Server.SourceTimeout", 504)


def _garbage_app(dev: bootstrap.DevInstance, behaviour: str) -> web.Application:
    renapo_signer = dev.pki.load_pair(dev.pki.member(RENAPO.member))
    becas_signer = dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))

    async def handle(request: web.Request) -> web.Response:
        call = wire.decode_call(await request.read())
        data = {"curp": call.request.subject}

        def reply(token: str, subjects: list[str]) -> web.Response:
            return web.json_response({"evidence": token, "subjects": subjects})

        if behaviour == "not JSON":
            return web.Response(text="<html>hello</html>")
        if behaviour == "too large":
            return web.Response(body=b"x" * (5 * 1024 * 1024))
        if behaviour == "no evidence":
            return web.json_response({"subjects": []})
        if behaviour == "unexpected error code":
            return web.json_response({"error": {"code": "Source.InternalError"}}, status=500)
        if behaviour == "evidence for another exchange":
            token = evidence.issue(
                call.service, data, renapo_signer, exchange_id="an-old-one", client=call.client
            )
            return reply(token, [])
        if behaviour == "evidence for another service":
            token = evidence.issue(
                bootstrap.CURP_SERVICE,
                data,
                renapo_signer,
                exchange_id=call.exchange_id,
                client=call.client,
            )
            return reply(token, [])
        if behaviour == "evidence signed by another member":
            token = evidence.issue(
                call.service, data, becas_signer, exchange_id=call.exchange_id, client=call.client
            )
            return reply(token, [])
        assert behaviour == "a subject that is not a CURP"
        token = evidence.issue(
            call.service, data, renapo_signer, exchange_id=call.exchange_id, client=call.client
        )
        return reply(token, ["not-a-curp"])

    app = web.Application()
    app.router.add_post(wire.CALL_PATH, handle)
    return app


@pytest.mark.parametrize(
    "behaviour",
    [
        "not JSON",
        "too large",
        "no evidence",
        "unexpected error code",
        "evidence for another exchange",
        "evidence for another service",
        "evidence signed by another member",
        "a subject that is not a CURP",
    ],
)
def test_source_answering_garbage(dev, people, behaviour):
    with source(dev, app=_garbage_app(dev, behaviour)) as source_url:
        service = register_remote(dev, "renapo-remote", source_url)
        with running(dev.settings) as url:
            error = refused(url, dev, service, active(people).curp)
    assert (error.code, error.status) == ("Server.SourceError", 502), error.message


# --- the source's side of mutual TLS ----------------------------------------------------------


def _raw_call(port: int, context: ssl.SSLContext) -> bytes:
    """Whatever a source sends back to a hand-made call, b"" if it drops the connection."""
    request = b"POST /v1/call HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    with (
        contextlib.suppress(ssl.SSLError, ConnectionResetError, BrokenPipeError),
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        return tls.recv(1024)
    return b""


def test_source_refuses_a_client_without_certificate(dev):
    without = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with_gateway = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with_gateway.load_cert_chain(*(str(p) for p in dev.pki.gateway("tls")))
    with source(dev, renapo_adapter()) as source_url:
        port = int(source_url.rsplit(":", 1)[1])
        # TLS 1.3: the client's handshake "completes", then the source aborts the connection.
        assert _raw_call(port, without) == b""
        # The same bytes with the gateway's certificate reach the application.
        assert _raw_call(port, with_gateway).startswith(b"HTTP/1.1 400")


def test_source_refuses_another_member_of_the_same_ca(dev, tmp_path):
    cert, key = other_tls_cert(dev, bootstrap.BECAS.member, tmp_path)
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    context.load_cert_chain(str(cert), str(key))
    counting = Counting(renapo_adapter())

    async def call(url: str) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url + wire.CALL_PATH, data=b"{}", ssl=context) as response,
        ):
            return response.status, await response.json()

    with source(dev, counting) as source_url:
        status, body = asyncio.run(call(source_url))
    assert (status, body["error"]["code"]) == (403, "Source.Forbidden")
    assert counting.calls == 0


# --- registration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cert", "code"),
    [
        ("http://127.0.0.1:9443", "renapo", "registry.bad_source"),
        ("https://127.0.0.1:9443", None, "registry.bad_source"),
        ("https://127.0.0.1:9443", "becas", "registry.bad_certificate"),
    ],
)
def test_remote_registration_needs_https_and_the_providers_certificate(dev, url, cert, code):
    members = {"renapo": RENAPO.member, "becas": bootstrap.BECAS.member}
    pem = None
    if cert is not None:
        devca.ensure_member(dev.pki, members[cert], tls_hosts=HOSTS)
        pem = dev.pki.member(members[cert], "tls")[0].read_text()
    with pytest.raises(registry.RegistryError) as caught:
        registry.register_source(dev.database, "remote", RENAPO, url=url, tls_cert_pem=pem)
    assert caught.value.code == code
