"""Citizen fixtures: a SAT dev PKI with e.firma credentials, a live OCSP responder, a gateway
configured for e.firma login, and a login helper that signs challenges as the browser does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from gateway.devtools import sat_ca as devca
from gateway.devtools import sat_pki as devpki
from gateway.devtools.ocsp_responder import Responder
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.settings import Settings
from gateway.server.run import free_port
from tests.citizen.helpers import ARCO, HELP, PRIVACY_URL, Efirma, files
from tests.conftest import CITIZENS


@pytest.fixture(scope="session")
def sat(tmp_path_factory: pytest.TempPathFactory) -> devpki.SatDevPki:
    """The SAT dev PKI for the test population: valid, revoked and expired e.firma, a CSD and a
    persona moral (distinct 2048-bit keys from a pool, CA keys included, for speed)."""
    root = tmp_path_factory.mktemp("sat") / "sat"
    return devpki.create(
        root, citizens=CITIZENS, seed=0, count=6, revoked=1, expired=1, pool=devca.KeyPool(11)
    )


@pytest.fixture(scope="session")
def valid_efirmas(sat: devpki.SatDevPki) -> list[Efirma]:
    """Two different citizens' valid e.firma."""
    valid = ("efirma", "fisica", "valid")
    chosen = [c for c in sat.credentials() if (c.kind, c.persona, c.state) == valid]
    return [files(sat, c) for c in chosen[:2]]


@pytest.fixture(scope="session")
def foreign_efirma(valid_efirmas: list[Efirma]) -> Efirma:
    """An e.firma shaped exactly like SAT's, for a real citizen, from a CA nobody trusts."""
    pool = devca.KeyPool(4)
    now = datetime.now(UTC)
    ca = devca.create_dev_ca(
        not_before=now - timedelta(days=365),
        root_key=pool.take(),
        ca_key=pool.take(),
        ocsp_key=pool.take(),
    )
    holder = efirma.parse_certificate(valid_efirmas[0].cer)
    issued = devca.issue_efirma(
        ca,
        rfc=holder.rfc,
        curp=valid_efirmas[0].curp,
        name=holder.name,
        email=holder.email or "x@example.mx",
        serial20="30001000000599999999",
        not_before=now - timedelta(days=30),
        not_after=now + timedelta(days=365),
        key=pool.take(),
    )
    return Efirma(
        issued.certificate.public_bytes(serialization.Encoding.DER),
        devca.export_key_sat(issued.key, devpki.PASSWORD.encode()),
        devpki.PASSWORD,
        valid_efirmas[0].curp,
    )


@pytest.fixture(scope="session")
def ocsp_url(sat: devpki.SatDevPki) -> Iterator[str]:
    """The SAT dev OCSP responder, answering from the PKI's status file, on a loopback port."""
    responder = Responder.from_directory(sat.ca_dir, sat.status_file)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(responder.app())
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="ocsp-responder", daemon=True)
    thread.start()
    assert started.wait(10), "OCSP responder did not start"
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def settings(tmp_path: Path, sat: devpki.SatDevPki, ocsp_url: str) -> Settings:
    """The root conftest's settings, plus e.firma login against the SAT dev PKI and the
    instance's contacts for the citizen page."""
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'enlace.db'}",
        pki_dir=tmp_path / "certs",
        citizen_sat_trust_dir=sat.trust_dir,
        citizen_ocsp_url=ocsp_url,
        checkpoint_interval=0.2,
        citizen_help_contact=HELP,
        citizen_arco_contact=ARCO,
        citizen_privacy_url=PRIVACY_URL,
        citizen_operator="Agencia de Transformación Digital (instancia de pruebas)",
    )


from tests.citizen.chromium import browser, browser_home  # noqa: E402, F401  (fixtures)
