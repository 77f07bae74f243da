"""Several gateway processes: ``--workers N`` on PostgreSQL, SQLite's one-process refusals, and
replay protection shared between gateways and kept across a restart (real ``enlace serve``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel.protocol import headers as h
from gateway.storage.db import ledger_entries, replay_claims
from services.sdk import EnlaceClient
from tests.e2e.helpers import Call, error_code
from tests.scale.conftest import ROOT, environment, serving, start, tls, wait_for
from tests.scale.test_election_and_claims import REDIS_URL

#: Both gateways behind one public name (as behind a proxy): the signed target URI is its.
PUBLIC = "https://enlace.example"
BEHIND = {"ENLACE_PUBLIC_URL": PUBLIC}


def _send(http: httpx.Client, url: str, call: Call) -> httpx.Response:
    """``call`` (signed for ``PUBLIC``) sent to the gateway at ``url``."""
    return http.request(call.method, f"{url}/r1/{call.service}", headers=call.headers)


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")


def _subject(people) -> dict[str, str]:  # noqa: ANN001
    return {h.SUBJECT: next(p for p in people if p.estatus_curp == "AN").curp}


def _checkpoint_size(http: httpx.Client, url: str) -> int:
    lines = http.get(f"{url}/v1/ledger/checkpoint").text.split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else -1


def _call(client: EnlaceClient, people, n: int):  # noqa: ANN001, ANN202
    person = people[n % len(people)]
    return client.call(
        str(bootstrap.CURP_SERVICE),
        subject=person.curp,
        purpose=bootstrap.BECAS_PURPOSE,
        legal_basis=bootstrap.BECAS_LEGAL_BASIS,
        user_id="MX-SEP-000123",
        issue=f"BECA-SCALE-{n}",
    )


def test_two_workers_serve_exchanges_on_postgresql(pg_dev, people, tmp_path: Path) -> None:
    with serving(pg_dev, tmp_path / "serve.log", "--workers", "2") as served:
        with EnlaceClient.from_pki(served.url, str(bootstrap.BECAS), pg_dev.settings.pki_dir) as c:
            indexes = [_call(c, people, n).ledger_index for n in range(20)]
        with httpx.Client(verify=tls(pg_dev), timeout=30) as http:
            wait_for(
                "a checkpoint covering every exchange",
                lambda: _checkpoint_size(http, served.url) > max(indexes),
            )
    assert len(set(indexes)) == 20
    log = (tmp_path / "serve.log").read_text()
    assert log.count("Application startup complete") == 2


def test_sqlite_refuses_workers(dev: bootstrap.DevInstance) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port", "1"],
        env=environment(dev),
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "db.single_process" in done.stderr.decode()


def test_sqlite_refuses_a_second_gateway_process(dev: bootstrap.DevInstance, tmp_path) -> None:
    with serving(dev, tmp_path / "first.log"):
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--port", "1"],
            env=environment(dev),
            capture_output=True,
            timeout=120,
            cwd=ROOT,
        )
    assert done.returncode != 0
    assert "db.in_use" in done.stderr.decode()
    # Once the first has gone, the database is free again.
    with (
        serving(dev, tmp_path / "again.log") as again,
        httpx.Client(verify=tls(dev), timeout=30) as http,
    ):
        assert again.health(http)["signer"] is True  # SQLite's one process always signs


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_a_request_accepted_by_one_gateway_is_refused_by_another(
    pg_dev, sep, people, tmp_path, store: str
) -> None:
    log = tmp_path / "serve.log"
    env = dict(BEHIND)
    if store == "redis":
        _require_redis()
        env["ENLACE_REDIS_URL"] = REDIS_URL
    with (
        serving(pg_dev, log, **env) as a,
        serving(pg_dev, log, **env) as b,
        httpx.Client(verify=tls(pg_dev), timeout=30) as http,
    ):
        first = Call(PUBLIC, sep, headers=_subject(people)).sign()
        accepted = _send(http, a.url, first)
        assert accepted.status_code == 200, accepted.text
        replayed = _send(http, b.url, first)  # the same signed bytes, to the other one
        assert replayed.status_code == 409
        assert error_code(replayed) == "Client.Replay"
    with pg_dev.database.read.connect() as conn:
        claims = conn.execute(sa.select(sa.func.count()).select_from(replay_claims)).scalar()
        assert claims == (0 if store == "redis" else 2)  # the nonce and the X-Road-Id
        outcomes = conn.execute(
            sa.select(ledger_entries.c.outcome).where(
                ledger_entries.c.exchange_id == first.headers["X-Road-Id"]
            )
        ).scalars()
        assert sorted(outcomes) == ["allowed", "refused"]


def test_a_request_replayed_after_a_restart_is_refused(pg_dev, sep, people, tmp_path) -> None:
    log = tmp_path / "serve.log"
    first = start(pg_dev, log, **BEHIND)
    try:
        with httpx.Client(verify=tls(pg_dev), timeout=30) as http:
            call = Call(PUBLIC, sep, headers=_subject(people)).sign()
            assert _send(http, first.url, call).status_code == 200
    finally:
        first.kill()  # no goodbye: whatever it kept in memory is gone
    with (
        serving(pg_dev, log, **BEHIND) as again,
        httpx.Client(verify=tls(pg_dev), timeout=30) as http,
    ):
        replayed = _send(http, again.url, call)
    assert replayed.status_code == 409
    assert error_code(replayed) == "Client.Replay"
