"""The shared replay store unreachable: the exchange is refused, fail closed, and ledgered."""

from __future__ import annotations

import httpx

from gateway.devtools import bootstrap
from gateway.kernel.protocol import headers as h
from gateway.server.run import free_port, running
from tests.e2e.helpers import Call, error_code, ledger_entry


def test_an_unreachable_replay_store_refuses_the_exchange(
    dev: bootstrap.DevInstance, http: httpx.Client, sep, people
) -> None:
    settings = dev.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout": 1.0}
    )
    subject = {h.SUBJECT: next(p for p in people if p.estatus_curp == "AN").curp}
    with running(settings) as url:
        call = Call(url, sep, headers=subject).sign()
        answer = call.send(http)
        # Nothing ran: the same bytes sent again are checked again, not taken for a replay.
        again = call.send(http)
    assert error_code(again) == "Server.ReplayUnavailable"
    assert answer.status_code == 503
    assert error_code(answer) == "Server.ReplayUnavailable"
    entry = ledger_entry(dev.database, int(answer.headers[h.LEDGER_INDEX]))
    assert (entry["outcome"], entry["error"]) == ("failed", "Server.ReplayUnavailable")
