"""An exchange whose ledger wait expired while its batch committed: the consumer got no data,
so the ledger gets an ``undelivered`` entry correcting it and the citizen sees it not
delivered (a real gateway over HTTPS, its commit made slow by a delay hook)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel.ledger import record
from gateway.server.run import running
from gateway.storage import access_log
from gateway.storage.db import ledger_entries
from gateway.storage.ledger import sequencer
from gateway.storage.registry import load
from services.sdk import EnlaceClient, ServiceUnavailable
from tests.scale.conftest import wait_for


def _entries(database) -> list[dict]:  # noqa: ANN001
    with database.read.connect() as conn:
        bodies = conn.execute(sa.select(ledger_entries.c.body).order_by(ledger_entries.c.idx))
        return [json.loads(body) for (body,) in bodies]


def test_a_late_commit_is_corrected_as_undelivered(
    dev: bootstrap.DevInstance, people, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = next(p for p in people if p.estatus_curp == "AN")
    released = threading.Event()
    store_once = sequencer.LedgerWriter._store_once

    def slow(self, entries):  # noqa: ANN001, ANN202
        # The delay hook: the exchange's batch commits only after its waiter has given up.
        if any(entry.fields[0] == "exchange" for entry in entries) and not released.is_set():
            released.wait(timeout=60)
        return store_once(self, entries)

    monkeypatch.setattr(sequencer.LedgerWriter, "_store_once", slow)
    settings = dev.settings.model_copy(update={"ledger_commit_timeout": 1.0})
    with (
        running(settings) as url,
        EnlaceClient.from_pki(url, str(bootstrap.BECAS), settings.pki_dir) as client,
    ):
        with pytest.raises(ServiceUnavailable) as refused:
            client.call(
                str(bootstrap.CURP_SERVICE),
                subject=citizen.curp,
                purpose=bootstrap.BECAS_PURPOSE,
                legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                user_id="MX-SEP-000123",
                issue="BECA-LATE-1",
            )
        assert refused.value.code == "Server.LedgerUnavailable"
        released.set()  # now the batch commits, after the consumer was told "no data"
        wait_for(
            "the correction",
            lambda: any(e["kind"] == "undelivered" for e in _entries(dev.database)),
            every=0.1,
        )
    entries = _entries(dev.database)
    exchange = next((i, e) for i, e in enumerate(entries) if e.get("issue") == "BECA-LATE-1")
    correction = next((i, e) for i, e in enumerate(entries) if e["kind"] == "undelivered")
    assert exchange[1]["outcome"] == "allowed"  # what was stored before the wait expired
    assert correction[0] > exchange[0]
    assert correction[1]["corrects"] == exchange[0]
    assert correction[1]["exchange_id"] == exchange[1]["exchange_id"]
    assert correction[1]["subjects"] == exchange[1]["subjects"]

    # The citizen's access log shows the exchange as not delivered.
    pseudonym_key, *_ = dev.pki.load_ledger_secrets()
    subject = record.pseudonym(pseudonym_key, citizen.curp)
    with dev.database.read.connect() as conn:
        shown, _ = access_log.fetch(conn, subject, access_log.Query(), dt.date.today())
        snapshot = load(conn)
    by_index = {entry.index: entry for entry in shown}
    assert by_index[exchange[0]].undelivered == correction[0]
    view = access_log.present(by_index[exchange[0]], snapshot, {})
    assert view["outcome"] == "undelivered"
    assert "no entregada" in access_log.to_csv([view], "es")
