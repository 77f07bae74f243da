"""docs/nginx/enlace.conf in front of two real `enlace serve` processes (each its own SQLite
file): signed exchanges through it with the SDK, its limits, its optional mutual TLS, and the
gateways' per-address accounting seeing the client's address, not nginx's.

nginx runs from the Debian package (.ci/test-deps.sh installs it); without it the tests skip.
The client connects from 127.0.0.2 and nginx to the gateways from 127.0.0.3 (``proxy_bind``),
the one address the gateways trust (``ENLACE_TRUSTED_PROXIES``), so each address tells who saw
whom.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.devtools.population import seeded_dataset
from gateway.kernel import pki
from gateway.kernel.settings import Settings
from gateway.server.run import free_port
from gateway.storage import db as dbm
from gateway.storage.db import ledger_entries
from services.sdk import EnlaceClient
from tests.conftest import CITIZENS
from tests.e2e.test_layers import _wait_until_serving
from tests.proxy import nginx
from trusted_sources.records import Person

CLIENT, PROXY = "127.0.0.2", "127.0.0.3"
#: A rate so slow that no token comes back during a test: the unsigned budget is exact.
STILL = "0.000001"
#: Generous bounds for a loaded machine; each names the property it bounds.
BOUND = 60.0


@dataclass(frozen=True)
class Front:
    url: str  # nginx's
    gateways: list[str]  # the gateways' own URLs
    databases: list[dbm.Database]
    pki: Path  # the PKI the SDK uses (the gateways' copies share its keys)
    ca: Path


@pytest.fixture
def nginx_binary() -> str:
    found = nginx.binary()
    if found is None:
        pytest.skip("nginx is not installed (Debian package `nginx`; `make test-deps`)")
    return found


def _second_instance(dev: bootstrap.DevInstance, root: Path) -> bootstrap.DevInstance:
    """Another gateway's instance: a copy of the PKI (each ledger keeps its checkpoint state
    there), its own SQLite file, the same registry and population."""
    shutil.copytree(dev.settings.pki_dir, root / "certs")
    pki.PkiDir(root / "certs").checkpoint_last.unlink(missing_ok=True)  # another ledger's
    settings = Settings(database_url=f"sqlite:///{root / 'enlace.db'}", pki_dir=root / "certs")
    dataset = seeded_dataset(bootstrap.datasets_dir(dev.settings), CITIZENS)
    return bootstrap.create(settings, dataset=dataset)


def _serve(instance: bootstrap.DevInstance, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "ENLACE_DATABASE_URL": instance.settings.database_url,
        "ENLACE_PKI_DIR": str(instance.settings.pki_dir),
        "ENLACE_TRUSTED_PROXIES": PROXY,
        "ENLACE_UNSIGNED_PER_MINUTE": STILL,
        "ENLACE_UNSIGNED_BURST": "1",
        "ENLACE_UNSIGNED_FLOOD_INTERVAL": "1",  # aggregate entries while the test looks
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"https://127.0.0.1:{port}"


@pytest.fixture
def front(
    request: pytest.FixtureRequest, nginx_binary: str, dev: bootstrap.DevInstance, tmp_path: Path
) -> Iterator[Front]:
    """Two gateways behind nginx; ``indirect`` parameter True: with mutual TLS for agencies."""
    mutual = bool(getattr(request, "param", False))
    instances = [dev, _second_instance(dev, tmp_path / "b")]
    started = [_serve(i, tmp_path / f"gateway-{n}.log") for n, i in enumerate(instances)]
    try:
        for process, url in started:
            _wait_until_serving(url, dev.pki.ca_cert, process)
        cert, key = dev.pki.gateway("tls")
        site = nginx.Site(
            port=free_port(),
            gateways=[url.split("://", 1)[1] for _, url in started],
            cert=cert,
            key=key,
            ca=dev.pki.ca_cert,
            gateway_name="localhost",
            header_timeout="1s",
            proxy_bind=PROXY,
            agencies_ca=dev.pki.ca_cert if mutual else None,
        )
        with nginx.running(nginx_binary, site, tmp_path / "nginx") as url:
            yield Front(
                url,
                [u for _, u in started],
                [i.database for i in instances],
                dev.pki.root,
                dev.pki.ca_cert,
            )
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=BOUND)
        instances[1].database.dispose()


def _entries(database: dbm.Database, kind: str) -> list[dict[str, object]]:
    with database.read.connect() as conn:
        bodies = conn.execute(
            sa.select(ledger_entries.c.body).where(ledger_entries.c.kind == kind)
        ).scalars()
        return [json.loads(body) for body in bodies]


def _from_client(front: Front) -> httpx.HTTPTransport:
    return httpx.HTTPTransport(
        verify=ssl.create_default_context(cafile=str(front.ca)), local_address=CLIENT
    )


def test_signed_exchanges_pass_through_nginx_to_both_gateways(
    front: Front, people: list[Person]
) -> None:
    citizens = [p for p in people if p.estatus_curp == "AN"][:4]
    with EnlaceClient.from_pki(
        front.url, str(bootstrap.BECAS), front.pki, transport=_from_client(front)
    ) as client:
        for citizen in citizens:
            # The SDK signed nginx's URL; the gateway rebuilt it from the Host nginx kept.
            result = client.call(
                str(bootstrap.CURP_SERVICE),
                subject=citizen.curp,
                purpose=bootstrap.BECAS_PURPOSE,
                legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                user_id="MX-SEP-000123",
                issue="BECA-2026-7",
            )
            assert result.data["curp"] == citizen.curp
    allowed = [
        [e for e in _entries(db, "exchange") if e["outcome"] == "allowed"] for db in front.databases
    ]
    # Round robin over the two upstreams (the SDK's other requests shift the split).
    assert all(allowed) and sum(len(a) for a in allowed) == len(citizens)


def _floods(front: Front) -> dict[str, int]:
    counts: dict[str, int] = {}
    for database in front.databases:
        for flood in _entries(database, "flood"):
            address = str(flood["address"])
            counts[address] = counts.get(address, 0) + int(str(flood["count"]))
    return counts


def test_the_gateways_count_the_clients_address_not_nginxs(front: Front) -> None:
    sent = 8
    with httpx.Client(transport=_from_client(front), timeout=30) as http:
        statuses = [
            http.get(
                f"{front.url}/r1/{bootstrap.CURP_SERVICE}",
                headers={"X-Forwarded-For": "198.51.100.7"},  # nginx replaces it
            ).status_code
            for _ in range(sent)
        ]
    # One ledgered one by one per gateway (burst 1), the rest counted.
    assert statuses.count(400) == len(front.gateways)
    suppressed = statuses.count(429)
    assert suppressed == sent - len(front.gateways)
    # Each gateway records its count in an aggregate entry within a second or so.
    _wait_for(lambda: sum(_floods(front).values()) >= suppressed)
    assert _floods(front) == {CLIENT: suppressed}


def _wait_for(condition: Callable[[], bool]) -> None:
    limit = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < limit, "the condition never held"
        time.sleep(0.2)


async def _cut_after_partial_header(port: int, context: ssl.SSLContext) -> bytes:
    """What a client gets that sends half a header and then nothing: read until closed."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, local_addr=(CLIENT, 0)
    )
    writer.write(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), BOUND)
    except (ConnectionError, ssl.SSLError):
        return b""
    finally:
        writer.close()


def test_nginx_refuses_an_oversize_body_and_cuts_a_slow_header(front: Front) -> None:
    before = [len(_entries(db, "exchange")) for db in front.databases]
    body = b"{" + b" " * (1024 * 1024) + b"}"  # just over client_max_body_size (1m)
    with httpx.Client(transport=_from_client(front), timeout=30) as http:
        answer = http.post(
            f"{front.url}/r1/{bootstrap.CURP_SERVICE}",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413
    assert answer.headers["server"].startswith("nginx")  # nginx's answer, not a gateway's
    context = ssl.create_default_context(cafile=str(front.ca))
    port = int(front.url.rsplit(":", 1)[1])
    got = asyncio.run(_cut_after_partial_header(port, context))
    assert b"200 OK" not in got  # closed (nginx logs a 408), never served
    # Neither reached a gateway: nothing recorded.
    assert [len(_entries(db, "exchange")) for db in front.databases] == before


@pytest.mark.parametrize("front", [True], indirect=True, ids=["mutual-tls"])
def test_with_mutual_tls_only_a_certified_agency_gets_through(
    front: Front, dev: bootstrap.DevInstance, people: list[Person]
) -> None:
    context = ssl.create_default_context(cafile=str(front.ca))
    with httpx.Client(verify=context, timeout=30) as http:
        bare = http.get(f"{front.url}/livez")
    assert bare.status_code == 400 and bare.headers["server"].startswith("nginx")
    # An agency's TLS certificate from the instance CA (nginx checks the chain; the gateway
    # then checks the request signature, SEP's, as always).
    cert, key = dev.pki.member(bootstrap.RENAPO.member, "tls")
    context.load_cert_chain(str(cert), str(key))
    transport = httpx.HTTPTransport(verify=context, local_address=CLIENT)
    citizen = next(p for p in people if p.estatus_curp == "AN")
    with EnlaceClient.from_pki(
        front.url, str(bootstrap.BECAS), front.pki, transport=transport
    ) as client:
        result = client.call(
            str(bootstrap.CURP_SERVICE),
            subject=citizen.curp,
            purpose=bootstrap.BECAS_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000123",
            issue="BECA-2026-7",
        )
    assert result.data["curp"] == citizen.curp
