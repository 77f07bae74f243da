"""The citizen queries and tables on SQLite and on the real PostgreSQL: single-use challenges,
paging over covert entries, filters, and disclosures recorded in the ledger."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from gateway.kernel.ledger import record
from gateway.storage import access_log, challenges, disclosure, registry
from gateway.storage.db import ledger_entries
from gateway.storage.ledger import driver, queries, sequencer
from gateway.storage.ledger.batch import prepare, sequence

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
        return [a.index for a in sequencer.append(conn, records)]


def _page(database, subject: str, **query) -> tuple[list[int], int | None]:
    with database.read.connect() as conn:
        shown, cursor = access_log.fetch(conn, subject, access_log.Query(**query), TODAY)
    return [e.index for e in shown], cursor


def test_a_challenge_can_be_used_once_and_expired_ones_are_purged(database):
    assert challenges.use(database, "n1", expires_at=100, now=50)
    assert not challenges.use(database, "n1", expires_at=100, now=60)
    assert challenges.use(database, "n2", expires_at=300, now=200)  # purges n1
    assert challenges.use(database, "n1", expires_at=400, now=200)


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
    # However many covert entries lie in between, a page is full unless it is the last.
    assert _page(database, ALICE, limit=1, before=indexes[-3] + 1) == ([indexes[0]], None)

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
        covert = disclosure.covert_entries(conn, SRE, SERVICE, TODAY)
        with pytest.raises(registry.RegistryError) as excinfo:
            disclosure.covert_entry(conn, indexes[3], TODAY)
        assert disclosure.covert_entry(conn, indexes[1], TODAY) == disclosure.Covert(
            indexes[1], dt.date(2026, 12, 31)
        )
    assert excinfo.value.code == "ledger.not_hidden"
    assert covert == [disclosure.Covert(i, dt.date(2026, 12, 31)) for i in indexes[0:3:2]]
    before = _page(database, ALICE)[0]

    assert disclosure.disclose(database, covert, "fin", {"client": SRE, "service": SERVICE}) == 2
    assert _page(database, ALICE)[0] == sorted([*before, indexes[0], indexes[2]], reverse=True)
    with database.read.connect() as conn:
        assert disclosure.covert_entries(conn, SRE, SERVICE, TODAY) == []
        _, admin = queries.tail(conn, 1)[0]
        for index, code in ((indexes[0], "ledger.already_disclosed"), (999, "ledger.no_entry")):
            with pytest.raises(registry.RegistryError) as excinfo:
                disclosure.covert_entry(conn, index, TODAY)
            assert excinfo.value.code == code
    assert admin["action"] == "ledger.disclose"
    assert admin["details"]["indexes"] == [indexes[0], indexes[2]]
    with pytest.raises(registry.RegistryError) as excinfo:
        disclosure.disclose(database, covert, "again", {})
    assert excinfo.value.code == "ledger.already_disclosed"


def test_covert_entries_leave_no_trace_in_a_page_or_its_cursor(database):
    """One visible entry followed by 16 covert ones: every page size gives the same answer,
    the visible entry and no cursor, as if the covert entries did not exist."""
    shown = _append(database, [_exchange([ALICE])])[0]
    _append(database, [_exchange([ALICE], SRE, hidden="2026-12-31") for _ in range(16)])
    for limit in (1, 2, 16, 50):
        assert _page(database, ALICE, limit=limit) == ([shown], None), limit
    # A cursor pointing into the covert entries reveals nothing either.
    assert _page(database, ALICE, limit=1, before=shown + 9) == ([shown], None)


def test_the_withheld_rule(database):
    """Hidden while today < hidden_until (UTC), shown from that date or once disclosed; only
    an exchange's own top-level ``hidden_until`` counts."""
    login = record.citizen_login(ALICE, "s")
    noted = record.admin("grant", "x", {"hidden_until": "2099-01-01"}, "admin")
    indexes = _append(
        database,
        [
            _exchange([ALICE], hidden="2026-06-02"),  # 0: hidden until tomorrow
            _exchange([ALICE], hidden="2026-06-01"),  # 1: visible from today
            _exchange([ALICE], hidden="2026-05-31"),  # 2: visible since yesterday
            _exchange([ALICE]),  # 3: never hidden
            {**login, "hidden_until": "2099-01-01"},  # 4: not an exchange
            {**noted, "subjects": [ALICE]},  # 5: an admin record mentioning a date
            _exchange([ALICE], hidden="9999-12-31"),  # 6: hidden until the end of time
        ],
    )
    e = ledger_entries.c
    with database.read.connect() as conn:
        withheld = conn.execute(
            sa.select(e.idx).where(disclosure.withheld(TODAY)).order_by(e.idx)
        ).scalars()
        assert list(withheld) == [indexes[0], indexes[6]]
        visible_later = conn.execute(
            sa.select(e.idx).where(~disclosure.withheld(dt.date(2026, 6, 2)))
        ).scalars()
        assert set(visible_later) == set(indexes) - {indexes[6]}
    disclosure.disclose(database, [disclosure.Covert(indexes[0], dt.date(2026, 6, 2))], "r", {})
    assert _page(database, ALICE)[0] == sorted(set(indexes) - {indexes[6]}, reverse=True)


def test_the_widest_date_filter_is_accepted(database):
    indexes = _append(database, [_exchange([ALICE], at="1970-01-01T00:00:00.000000Z")])
    widest = access_log.parse_request({"from": ["1970-01-01"], "to": ["9998-12-31"]}).query
    assert _page(database, ALICE, since=widest.since, until=widest.until) == (indexes, None)


def test_a_covert_exchange_s_correction_is_found_and_disclosed_with_it(database):
    """An undelivered covert exchange: its correction is recorded under the same covert key
    (found through the lookup, not the pseudonym), shown beside it, and disclosed with it."""
    covert_key = "c" * 64
    exchange = {**_exchange([covert_key], SRE, hidden="2026-12-31"), "exchange_id": "x-1"}
    with database.write.begin() as conn:
        tree = driver.locked_tree(conn)
        first = sequence(tree, [prepare(exchange, [ALICE])])
        driver.store_batch(conn, first.rows, first.tree)
        (index,) = [a.index for a in first.appended]
        correction = record.undelivered("x-1", index, [covert_key], "2026-12-31")
        second = sequence(first.tree, [prepare(correction, [ALICE])])
        driver.store_batch(conn, second.rows, second.tree)
        (corrected_at,) = [a.index for a in second.appended]
    assert _page(database, ALICE) == ([], None)  # withheld, both
    done = disclosure.disclose(database, [disclosure.Covert(index, dt.date(2026, 12, 31))], "r", {})
    assert done == 2
    with database.read.connect() as conn:
        shown, _ = access_log.fetch(conn, ALICE, access_log.Query(), TODAY)
    assert [e.index for e in shown] == [corrected_at, index]
    assert shown[1].undelivered == corrected_at  # the exchange is shown as never delivered
