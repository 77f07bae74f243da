"""The checkpoint signer in a child process (``gateway.server.signer_process``) and the SQLite
write turn (``db.writing``): the child signs what the gateway would, on both backends; a killed
child is replaced at the next checkpoint; an inconsistent history is refused there as here; the
child ends with ``enlace serve``; the write turn excludes, and is given back however the
transaction ends."""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel.ledger import checkpoint
from gateway.server.signer_process import SignerProcess
from gateway.server.state import Gateway
from gateway.storage import db as dbm
from gateway.storage.db import ledger_entries
from gateway.storage.ledger import audit, driver, publisher
from gateway.storage.ledger.errors import LedgerCorrupt
from loadtests.bench import metrics, procstat
from tests.ledger.helpers import fill
from tests.scale.conftest import gone, serving, tls, wait_for


@pytest.fixture(params=["sqlite", "postgres"])
def instance(request: pytest.FixtureRequest) -> bootstrap.DevInstance:
    return request.getfixturevalue("dev" if request.param == "sqlite" else "pg_dev")


def _size(database: dbm.Database) -> int:
    with database.read.connect() as conn:
        return driver.size(conn)


def test_the_child_signs_a_complete_checkpoint_and_keeps_it(instance) -> None:
    database, settings = instance.database, instance.settings
    signer = SignerProcess(database.url, settings)
    try:
        fill(database, 40, start=10_000)
        first = signer.sign()
        fill(database, 25, start=20_000)
        times = publisher.SigningTimes()
        second = signer.sign(times)
        pid = signer.pid
    finally:
        signer.close()
    assert pid is not None and pid != os.getpid()
    assert times.fold > 0 and times.locked > 0  # the child's timing of it came back
    # Each covers the whole tree, ended by its map head, and the kept note is the newest.
    assert first.size < second.size == _size(database)
    with database.read.connect() as conn:
        assert publisher.latest_checkpoint(conn) == second
        last = conn.execute(
            sa.select(ledger_entries.c.body).where(ledger_entries.c.idx == second.size - 1)
        ).scalar_one()
    assert '"kind":"map_head"' in last
    kept = checkpoint.open_checkpoint(
        instance.pki.checkpoint_last.read_bytes(), instance.pki.load_checkpoint_signer().verifier()
    )
    assert (kept.size, kept.root_hash) == (second.size, second.root)
    with database.read.connect() as conn, conn.begin():
        report = audit.verify(conn, instance.pki.load_checkpoint_signer().verifier())
    assert report.ok and report.entries == second.size, report.findings


def test_a_killed_child_is_replaced_at_the_next_checkpoint(dev) -> None:
    signer = SignerProcess(dev.database.url, dev.settings)
    try:
        signer.sign()
        killed = signer.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        wait_for("the child gone", lambda: gone(killed))
        fill(dev.database, 5, start=30_000)
        stored = signer.sign()
        assert signer.pid not in (None, killed)
    finally:
        signer.close()
    assert stored.size == _size(dev.database)


def test_an_inconsistent_history_is_refused_in_the_child(dev) -> None:
    keys = dev.pki.load_checkpoint_signer()
    signer = SignerProcess(dev.database.url, dev.settings)
    try:
        signed = signer.sign()
        # A head this storage does not extend, signed with the log's own key: kept as if
        # signed before storage was rolled back.
        forged = checkpoint.Checkpoint(keys.name, signed.size, b"\x07" * 32).body()
        dev.pki.checkpoint_last.write_bytes(checkpoint.sign_note(forged, [keys]))
        fill(dev.database, 3, start=40_000)
        with pytest.raises(LedgerCorrupt, match="not an extension"):
            signer.sign()
    finally:
        signer.close()
    with dev.database.read.connect() as conn:
        assert publisher.latest_checkpoint(conn) == signed  # nothing signed over it


def test_a_gateway_signs_in_a_child_unless_it_cannot(dev) -> None:
    memory = dbm.open_database("sqlite:///:memory:")
    assert memory.in_memory and not dev.database.in_memory
    off = dev.settings.model_copy(update={"signer_process": False})
    assert Gateway(dev.settings, db=dev.database).signer_process is not None
    assert Gateway(off, db=dev.database).signer_process is None


def test_the_child_ends_with_enlace_serve(dev, tmp_path: Path) -> None:
    with serving(dev, tmp_path / "serve.log") as served:
        with httpx.Client(verify=tls(dev), timeout=30) as http:
            wait_for(
                "a first checkpoint",
                lambda: http.get(f"{served.url}/v1/ledger/checkpoint").status_code == 200,
            )
            # The child's timing of it reaches the gateway's /metrics.
            wait_for(
                "the checkpoint's phases in /metrics",
                lambda: metrics.parse(http.get(f"{served.url}/metrics").text).checkpoints >= 1,
            )
        server = served.process.pid
        tree = procstat.descendants(server, procstat.all_stats())
        children = [s.pid for s in tree if s.pid != server]
        assert children  # the fork server and the signer
        served.kill()  # SIGKILL: nothing of its own can stop them
        for pid in children:
            wait_for(f"process {pid} gone", lambda pid=pid: gone(pid))


def test_the_write_turn_excludes_and_is_given_back(dev) -> None:
    lock = dbm.beside(dev.database.url, ".write-lock")
    assert lock is not None

    def free() -> bool:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    with dbm.writing(dev.database.write):
        assert not free()
    assert free()
    store = driver.BatchStore(dev.database.write)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        assert not free()
        raise RuntimeError("boom")
    assert free()
    store.close()
