"""Shared fixtures: databases (SQLite and the real PostgreSQL), a dev instance, a live gateway."""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.devtools.population import generate
from gateway.kernel import pki
from gateway.kernel.settings import Settings
from gateway.server.run import running
from gateway.storage import db as dbm
from trusted_sources.records import Person

PG_ADMIN_URL = os.environ.get(
    "ENLACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CITIZENS = 300


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the machine's real server, dropped afterwards."""
    if os.environ.get("ENLACE_TEST_SKIP_PG") == "1":
        pytest.skip("ENLACE_TEST_SKIP_PG=1: PostgreSQL tests explicitly disabled")
    admin = _pg_admin()
    name = f"enlace_t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}); start it or "
            "set ENLACE_TEST_SKIP_PG=1 to skip these tests on purpose"
        )
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database(database_url: str) -> Iterator[dbm.Database]:
    """An upgraded, empty database: SQLite and PostgreSQL in turn."""
    opened = dbm.open_database(database_url)
    dbm.upgrade(opened)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'enlace.db'}", pki_dir=tmp_path / "certs")


@pytest.fixture
def dev(settings: Settings) -> Iterator[bootstrap.DevInstance]:
    """A bootstrapped development instance (PKI, registry, RENAPO with synthetic citizens)."""
    instance = bootstrap.create(settings, citizens=CITIZENS)
    try:
        yield instance
    finally:
        instance.database.dispose()


@pytest.fixture
def gateway_url(dev: bootstrap.DevInstance) -> Iterator[str]:
    """A real gateway over HTTPS on a loopback port."""
    with running(dev.settings) as url:
        yield url


@pytest.fixture(scope="session")
def people() -> list[Person]:
    return list(generate(CITIZENS, seed=0))


@pytest.fixture
def http(dev: bootstrap.DevInstance) -> Iterator[httpx.Client]:
    """An HTTPS client trusting the instance CA (generous time-out: a loaded machine is slow)."""
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with httpx.Client(verify=context, timeout=30) as client:
        yield client


@pytest.fixture
def sep(dev: bootstrap.DevInstance) -> pki.KeyPair:
    """The scholarship office's (MX/GOB/SEP) signing key pair."""
    return dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))
