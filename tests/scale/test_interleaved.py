"""Two gateways' writers appending in turn to one ledger: dense indexes, one history, and each
guard proving the other's appends from the last tree it verified, not from the signed anchor
on every batch (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from gateway.storage.ledger import audit, guard, publisher
from gateway.storage.ledger.guard import HistoryGuard
from gateway.storage.ledger.sequencer import LedgerWriter
from tests.factories import exchange_record
from tests.ledger.helpers import checkpoint_key, sign


async def test_interleaved_writers_prove_from_their_last_verified_tree(
    database, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer, _ = checkpoint_key(tmp_path / "pki")
    start = sign(database, signer).size  # a signed head to extend (its map head only)
    anchors = []
    latest = publisher.latest_checkpoint

    def counted(conn, **kwargs):  # noqa: ANN001, ANN202
        anchors.append(1)
        return latest(conn, **kwargs)

    monkeypatch.setattr(guard.publisher, "latest_checkpoint", counted)
    guards = [HistoryGuard(signer, tmp_path / f"last-{n}") for n in range(2)]
    writers = [LedgerWriter(database, guard=g) for g in guards]
    for writer in writers:
        writer.start()
    try:
        indexes = []
        for n in range(30):  # each batch finds the other's append first
            indexes.append((await writers[n % 2].append(exchange_record(n))).index)
    finally:
        for writer in writers:
            writer.stop()
    assert indexes == list(range(start, start + 30))
    assert all(g.reason is None for g in guards)
    assert len(anchors) == 2  # once per guard, its first batch; then from its last tree
    with database.read.connect() as conn, conn.begin():
        report = audit.verify(conn, signer.verifier())
    assert report.ok and report.entries == start + 30, report.findings
