"""A restarted gateway's replay seed: the verified exchanges of the window, read from the end."""

from __future__ import annotations

import datetime as dt

from gateway.kernel.ledger import record
from gateway.storage.ledger import queries, sequencer
from tests.factories import exchange_record


def _exchange(exchange_id: str, at: dt.datetime, *, verified: bool = True) -> dict:
    moment = record.timestamp(at)
    return exchange_record(
        exchange_id=exchange_id, received_at=moment, responded_at=moment, client_verified=verified
    )


def test_recent_exchange_ids_are_the_windows_verified_ones(database):
    now = dt.datetime.now(dt.UTC)
    old, recent = now - dt.timedelta(hours=1), now - dt.timedelta(seconds=30)
    records = [_exchange(f"old-{n}", old) for n in range(5)]
    records += [_exchange(f"new-{n}", recent) for n in range(2500)]  # several chunks
    records.append(_exchange("forged", recent, verified=False))
    with database.write.begin() as conn:
        sequencer.append(conn, records)
    since = record.timestamp(now - dt.timedelta(minutes=5))
    with database.read.connect() as conn:
        ids = list(queries.recent_exchange_ids(conn, since))
    assert set(ids) == {f"MX/GOB/SEP/becas:new-{n}" for n in range(2500)}
    assert len(ids) == 2500
