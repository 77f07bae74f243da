"""Failing closed: the log key signs no receipt, checkpoint or published head over a history that
does not extend the last signed head (gateway.storage.ledger.guard; docs/ledger.md §8)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel import pki
from gateway.kernel.ledger import checkpoint
from gateway.kernel.settings import Settings
from gateway.storage.db import Database, ledger_checkpoints
from gateway.storage.ledger import driver, publisher, sequencer
from gateway.storage.ledger.errors import LedgerCorrupt
from gateway.storage.ledger.guard import HistoryGuard
from services.sdk import EnlaceClient, ServiceUnavailable
from tests.ledger.helpers import (
    checkpoint_key,
    exchange,
    fill,
    rewrite_consistently,
    truncate_consistently,
)


def _guarded_append(database: Database, guard: HistoryGuard, n: int) -> sequencer.Appended:
    with database.write.begin() as conn:
        return sequencer.append(conn, [exchange(n)], guard)[0]


@pytest.fixture
def guarded(database: Database, tmp_path: Path) -> tuple[Database, HistoryGuard]:
    """A ledger of 25 entries (24 and the map head closing the checkpoint), signed and kept,
    and a gateway's guard over it."""
    folder = tmp_path / "pki"
    signer, _ = checkpoint_key(folder)
    guard = HistoryGuard(signer, pki.PkiDir(folder).checkpoint_last)
    fill(database, 24)
    assert guard.sign(database.write).size == 25
    return database, guard


def test_appends_extend_the_signed_head_including_other_writers(guarded):
    database, guard = guarded
    assert _guarded_append(database, guard, 25).tree_size == 26
    fill(database, 3, start=26)  # another writer (the CLI): the full check passes
    assert _guarded_append(database, guard, 29).tree_size == 30
    times = publisher.SigningTimes()
    assert guard.reason is None and guard.sign(database.write, times=times).size == 31  # + map head
    # Its phases were timed: the fold before the lock, the signing transaction under it.
    assert times.fold > 0 and times.locked > 0 and times.wait >= 0


def test_a_rewritten_history_gets_no_receipt_and_no_checkpoint(guarded):
    database, guard = guarded
    rewrite_consistently(database, 5)  # the covering checkpoint deleted too
    with pytest.raises(LedgerCorrupt, match="not an extension of signed checkpoint 25"):
        _guarded_append(database, guard, 25)
    with database.read.connect() as conn:
        assert driver.size(conn) == 25  # nothing appended on top of the forgery
    assert "signed checkpoint 25" in (guard.reason or "")
    with pytest.raises(LedgerCorrupt):
        guard.sign(database.write)
    with database.read.connect() as conn:
        with pytest.raises(LedgerCorrupt):
            guard.published(conn)
        assert publisher.latest_checkpoint(conn) is None


def test_a_truncated_history_gets_no_receipt(guarded):
    database, guard = guarded
    truncate_consistently(database, 20)
    with pytest.raises(LedgerCorrupt, match="signed checkpoint 25"):
        _guarded_append(database, guard, 20)


def test_the_published_checkpoint_never_goes_back(guarded):
    database, guard = guarded
    with database.read.connect() as conn:
        assert guard.signed_size(conn) == 25
    with database.write.begin() as conn:
        conn.execute(sa.delete(ledger_checkpoints))
    with database.read.connect() as conn, pytest.raises(LedgerCorrupt, match="from size 25 to 0"):
        guard.published(conn)


# --- a gateway serving over HTTPS ---------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Checkpoints signed at start, then only every hour: the tests decide what is signed."""
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'enlace.db'}",
        pki_dir=tmp_path / "certs",
        checkpoint_interval=3600,
    )


def _kept_size(dev: bootstrap.DevInstance) -> int:
    """The size of the gateway's kept last signed checkpoint, once it has signed one."""
    deadline = time.monotonic() + 60  # generous: the poll ends as soon as it is there
    while not dev.pki.checkpoint_last.exists():
        assert time.monotonic() < deadline, "the gateway signed no checkpoint"
        time.sleep(0.05)
    note = dev.pki.checkpoint_last.read_bytes()
    return checkpoint.open_checkpoint(note, dev.pki.load_checkpoint_verifier()).size


def _call(becas: EnlaceClient, people) -> Any:  # noqa: ANN001, ANN401
    citizen = next(p for p in people if p.estatus_curp == "AN")
    return becas.call(
        str(bootstrap.CURP_SERVICE),
        subject=citizen.curp,
        purpose=bootstrap.BECAS_PURPOSE,
        legal_basis=bootstrap.BECAS_LEGAL_BASIS,
        user_id="MX-SEP-000123",
        issue="BECA-2026-9",
    )


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_proofs_stop_at_the_newest_signed_size(dev, gateway_url, http, people):
    signed = _kept_size(dev)
    with EnlaceClient.from_pki(gateway_url, str(bootstrap.BECAS), dev.pki.root) as becas:
        live = _call(becas, people).receipt.tree_size
    assert live > signed  # the unsigned tree the receipt is over
    base = f"{gateway_url}/v1/ledger/proof"
    beyond = http.get(f"{base}/inclusion", params={"index": 0, "size": live})
    assert _error(beyond) == (404, "Ledger.BeyondTree")
    assert "newest signed checkpoint" in beyond.json()["error"]["message"]
    assert _error(http.get(f"{base}/consistency", params={"old": 1, "new": live})) == (
        404,
        "Ledger.BeyondTree",
    )
    assert http.get(f"{base}/inclusion", params={"index": 0, "size": signed}).status_code == 200
    assert http.get(f"{base}/consistency", params={"old": 1, "new": signed}).status_code == 200


def test_a_live_rewrite_fails_closed(dev, gateway_url, http, people):
    """The audit's case: storage rewritten consistently (records, nodes, state; the covering
    checkpoints deleted) while the gateway serves."""
    signed = _kept_size(dev)
    assert http.get(f"{gateway_url}/healthz").status_code == 200
    rewrite_consistently(dev.database, 0)
    with dev.database.read.connect() as conn:
        size = driver.size(conn)
    with EnlaceClient.from_pki(gateway_url, str(bootstrap.BECAS), dev.pki.root) as becas:
        for _ in range(2):  # refused, and refused again: it stays closed
            with pytest.raises(ServiceUnavailable) as refused:
                _call(becas, people)
            assert refused.value.code == "Server.LedgerCorrupt"
            assert refused.value.receipt is None and refused.value.ledger_index is None
    health = http.get(f"{gateway_url}/healthz")
    assert health.status_code == 503
    assert health.json()["ledger"] == "corrupt" and health.json()["code"] == "Server.LedgerCorrupt"
    assert f"signed checkpoint {signed}" in health.json()["reason"]
    assert _error(http.get(f"{gateway_url}/v1/ledger/checkpoint")) == (503, "Ledger.Unavailable")
    with dev.database.read.connect() as conn:
        assert driver.size(conn) == size  # nothing appended on the forged tree
        assert publisher.latest_checkpoint(conn) is None  # and nothing signed over it
