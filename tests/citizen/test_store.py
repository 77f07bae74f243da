"""The citizen queries and tables on SQLite and on the real PostgreSQL: single-use challenges,
paging over covert entries, filters, and disclosures recorded in the ledger."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway import registry
from gateway.citizen import access_log
from gateway.citizen import store as citizen
from gateway.ledger import record, store

ALICE, BOB = "a" * 64, "b" * 64
SEP, SRE = "MX/GOB/SEP/becas", "MX/GOB/SRE/pasaportes"
SERVICE = "MX/GOB/RENAPO/curp/consulta-curp/v1"
TODAY = dt.date(2026, 6, 1)


def _exchange(
    subjects: list[str], client: str = SEP, at: str | None = None, hidden: str | None = None
) -> dict:
    return record.exchange(
        exchange_id=None,
        received_at=at or record.timestamp(),
        responded_at=at or record.timestamp(),
        client=client,
        client_verified=True,
        service=SERVICE,
        method="GET",
        user_id="U-1",
        purpose="p",
        legal_basis="lb",
        issue="c",
        subjects=subjects,
        outcome="allowed",
        status=200,
        error=None,
        request_hash="h",
        request_digest="d",
        response_digest="d",
        request_size=0,
        response_size=1,
        hidden_until=hidden,
    )


def _append(database, records: list[dict]) -> list[int]:
    with database.write.begin() as conn:
        return [a.index for a in store.append(conn, records)]


def _page(database, subject: str, **query) -> tuple[list[int], int | None]:
    with database.read.connect() as conn:
        shown, cursor = access_log.fetch(conn, subject, access_log.Query(**query), TODAY)
    return [e.index for e in shown], cursor


def test_a_challenge_can_be_used_once_and_expired_ones_are_purged(database):
    assert citizen.consume_challenge(database, "n1", expires_at=100, now=50)
    assert not citizen.consume_challenge(database, "n1", expires_at=100, now=60)
    assert citizen.consume_challenge(database, "n2", expires_at=300, now=200)  # purges n1
    assert citizen.consume_challenge(database, "n1", expires_at=400, now=200)


def test_paging_steps_over_covert_entries_and_filters_apply(database):
    covert = "2026-12-31"
    layout = [
        _exchange([ALICE], at="2026-01-10T10:00:00.000000Z"),
        _exchange([BOB], at="2026-01-11T10:00:00.000000Z"),
        *(_exchange([ALICE], SRE, hidden=covert) for _ in range(20)),
        _exchange([ALICE, BOB], SRE, at="2026-03-01T10:00:00.000000Z"),
        _exchange([ALICE], hidden="2026-05-31"),  # its covert period has ended
    ]
    indexes = _append(database, layout)
    mine = [indexes[-1], indexes[-2], indexes[0]]

    assert _page(database, ALICE) == (mine, None)
    assert _page(database, BOB) == ([indexes[-2], indexes[1]], None)
    first, cursor = _page(database, ALICE, limit=2)
    assert first == mine[:2] and cursor == mine[1]
    # 20 covert entries between the first two pages: more rounds, not an empty page.
    assert _page(database, ALICE, limit=2, before=cursor) == ([indexes[0]], None)
    short, resume = _page(database, ALICE, limit=1, before=indexes[-3] + 1)
    assert short == [] and resume is not None  # MAX_ROUNDS reached: go on from `resume`
    assert _page(database, ALICE, limit=1, before=resume) == ([indexes[0]], None)

    assert _page(database, ALICE, agency="MX/GOB/SRE") == ([indexes[-2]], None)
    january = {"since": dt.date(2026, 1, 1), "until": dt.date(2026, 1, 31)}
    assert _page(database, ALICE, **january) == ([indexes[0]], None)


def test_disclosure_by_client_and_service_is_ledgered(database):
    indexes = _append(
        database,
        [
            _exchange([ALICE], SRE, hidden="2026-12-31"),
            _exchange([ALICE], SEP, hidden="2026-12-31"),
            _exchange([ALICE], SRE, hidden="2026-12-31"),
            _exchange([ALICE], SRE),
        ],
    )
    with database.read.connect() as conn:
        covert = citizen.covert_entries(conn, SRE, SERVICE, TODAY)
        with pytest.raises(registry.RegistryError) as excinfo:
            citizen.covert_entry(conn, indexes[3], TODAY)
    assert excinfo.value.code == "ledger.not_hidden"
    assert [c.index for c in covert] == [indexes[0], indexes[2]]
    before = _page(database, ALICE)[0]

    assert citizen.disclose(database, covert, "fin", {"client": SRE, "service": SERVICE}) == 2
    assert _page(database, ALICE)[0] == sorted([*before, indexes[0], indexes[2]], reverse=True)
    with database.read.connect() as conn:
        assert citizen.covert_entries(conn, SRE, SERVICE, TODAY) == []
        _, admin = store.tail(conn, 1)[0]
    assert admin["action"] == "ledger.disclose"
    assert admin["details"]["indexes"] == [indexes[0], indexes[2]]
    with pytest.raises(registry.RegistryError) as excinfo:
        citizen.disclose(database, covert, "again", {})
    assert excinfo.value.code == "ledger.already_disclosed"
