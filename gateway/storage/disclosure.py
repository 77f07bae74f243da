"""Delayed disclosure: which ledger entries are still withheld from their data subjects, and
ending that early.

An exchange made under a covert grant carries the grant's ``hidden_until`` date in its ledger
record. Its data subjects are not shown it at all (no placeholder, no count) until that date
(UTC) has come, or an administrator has disclosed it early. ``withheld`` is that rule, and the
only place it is written: a SQL condition, so that the citizen's access log leaves withheld
rows out *before* paging (``gateway.storage.access_log``) and no page size, cursor or count can
depend on them, and so that the disclosure commands below find the same entries.

A covert exchange is recorded under a covert key per citizen instead of their pseudonym; the
private ``ledger_covert`` table says whose it is, and ``disclosed_covert`` finds the citizen's
entries that are no longer withheld, whose keys their proof bundle hands over.

``ledger_disclosures`` lists the entries disclosed early. Ledger records are never altered: a
disclosure is a row here plus an ``admin`` record ``ledger.disclose`` in the ledger, written in
one transaction through ``registry.change``, which names the disclosed indexes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from gateway.kernel.ledger import record
from gateway.storage import registry
from gateway.storage.db import Database, ledger_covert, ledger_entries, metadata

#: Most entries one ``disclose`` command names (its ledger record lists every index).
MAX_DISCLOSE = 10_000

ledger_disclosures = sa.Table(
    "ledger_disclosures",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("disclosed_at", sa.String(40), nullable=False),  # record.timestamp() format
)


class hidden_until(FunctionElement[str]):  # noqa: N801 (a SQL function, named like one)
    """A ledger record's top-level ``hidden_until`` (``YYYY-MM-DD`` text, or NULL), read in SQL
    from the record's canonical JSON (``ledger_entries.body``)."""

    type = sa.String()
    name = "hidden_until"
    inherit_cache = True


@compiles(hidden_until)
def _hidden_until_sqlite(element: hidden_until, compiler: Any, **kw: Any) -> str:
    # SQLite's JSON functions are built in (3.38+, and in Python's own builds before that).
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.hidden_until')"


@compiles(hidden_until, "postgresql")
def _hidden_until_postgresql(element: hidden_until, compiler: Any, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS json) ->> 'hidden_until')"


def _disclosed() -> sa.Exists:
    """Whether the enclosing query's ``ledger_entries`` row is disclosed (its own subquery,
    whether or not the enclosing query also joins ``ledger_disclosures``)."""
    disclosed = ledger_disclosures.alias("disclosed")
    return (
        sa.select(disclosed.c.idx)
        .where(disclosed.c.idx == ledger_entries.c.idx)
        .correlate_except(disclosed)
        .exists()
    )


def withheld(today: dt.date) -> sa.ColumnElement[bool]:
    """Whether the enclosing query's ``ledger_entries`` row is hidden from its data subjects
    on ``today`` (UTC): an exchange whose ``hidden_until`` is after ``today``, not disclosed
    (or the ``undelivered`` entry correcting one, which carries its ``hidden_until``).

    Visible from the date on (``today >= hidden_until``). Never NULL, so ``~withheld(...)``
    keeps every other row.
    """
    e = ledger_entries.c
    until = hidden_until(e.body)
    return sa.and_(
        e.kind.in_(("exchange", "undelivered")),
        # Canonical JSON (RFC 8785) has no spaces: a cheap test before the JSON is parsed.
        e.body.contains('"hidden_until":"', autoescape=True),
        until.is_not(None),
        until > today.isoformat(),
        ~_disclosed(),
    )


@dataclass(frozen=True)
class Covert:
    """A ledger entry still withheld from its data subjects."""

    index: int
    hidden_until: dt.date


def covert_entry(conn: Connection, index: int, today: dt.date) -> Covert:
    """Entry ``index`` if it is withheld today; else a RegistryError says why not."""
    e = ledger_entries.c
    found = conn.execute(
        sa.select(hidden_until(e.body)).where(e.idx == index, withheld(today))
    ).scalar_one_or_none()
    if found is not None:
        return Covert(index, dt.date.fromisoformat(found))
    disclosed = conn.execute(
        sa.select(e.idx, _disclosed().label("disclosed")).where(e.idx == index)
    ).one_or_none()
    if disclosed is None:
        raise registry.RegistryError("ledger.no_entry", f"the ledger has no entry {index}")
    if disclosed.disclosed:
        raise registry.RegistryError("ledger.already_disclosed", f"entry {index} is disclosed")
    raise registry.RegistryError(
        "ledger.not_hidden", f"entry {index} is not hidden from its data subjects"
    )


def covert_entries(conn: Connection, client: str, service: str, today: dt.date) -> list[Covert]:
    """The exchanges of ``client`` with ``service`` withheld today, oldest first (at most one
    more than ``MAX_DISCLOSE``, for ``disclose`` to refuse)."""
    e = ledger_entries.c
    rows = conn.execute(
        sa.select(e.idx, hidden_until(e.body))
        .where(e.client == client, e.service == service, withheld(today))
        .order_by(e.idx)
        .limit(MAX_DISCLOSE + 1)
    ).all()
    return [Covert(idx, dt.date.fromisoformat(until)) for idx, until in rows]


def disclosed_covert(
    conn: Connection, subject: str, today: dt.date, below: int
) -> list[tuple[int, str]]:
    """(index, exchange id) of the covert entries of ``subject`` (found through the private
    ``ledger_covert`` lookup) below index ``below`` that are no longer withheld today: the
    entries whose covert keys the citizen's bundle hands over (docs/ledger.md §12)."""
    c, e = ledger_covert.c, ledger_entries.c
    rows = conn.execute(
        sa.select(e.idx, e.exchange_id)
        .select_from(ledger_covert.join(ledger_entries, e.idx == c.idx))
        .where(c.subject == subject, c.idx < below, ~withheld(today))
        .order_by(e.idx)
    ).all()
    return [(idx, exchange_id) for idx, exchange_id in rows if exchange_id is not None]


def _corrections_of(conn: Connection, indexes: list[int]) -> list[int]:
    """The ``undelivered`` entries correcting any of ``indexes``: disclosed with the exchange
    they correct (they carry its ``hidden_until``, and alone would keep it looking delivered)."""
    e = ledger_entries.c
    ids = sa.select(e.exchange_id).where(e.idx.in_(indexes), e.exchange_id.is_not(None))
    found = conn.execute(
        sa.select(e.idx, e.body).where(
            e.kind == "undelivered", e.exchange_id.in_(ids), e.idx > min(indexes)
        )
    ).all()
    return [idx for idx, body in found if json.loads(body).get("corrects") in indexes]


def _already_disclosed(conn: Connection, indexes: list[int]) -> bool:
    column = ledger_disclosures.c.idx
    return conn.execute(sa.select(column).where(column.in_(indexes)).limit(1)).first() is not None


def disclose(db: Database, covert: list[Covert], reason: str, scope: dict[str, str]) -> int:
    """Disclose these entries now; one ``ledger.disclose`` admin record names them all."""
    if not covert:
        raise registry.RegistryError("ledger.nothing_to_disclose", "no covert entry matches")
    if len(covert) > MAX_DISCLOSE:
        raise registry.RegistryError(
            "ledger.too_many", f"more than {MAX_DISCLOSE} entries: disclose by index ranges"
        )
    indexes = sorted(c.index for c in covert)
    with db.read.connect() as conn:
        indexes = sorted({*indexes, *_corrections_of(conn, indexes)})
    details = {**scope, "reason": reason, "indexes": indexes}
    target = f"#{indexes[0]}" if len(indexes) == 1 else f"{len(indexes)} entries"
    now = record.timestamp()
    with registry.change(db, "ledger.disclose", target, details) as conn:
        if _already_disclosed(conn, indexes):
            raise registry.RegistryError(
                "ledger.already_disclosed", "an entry was disclosed meanwhile; run again"
            )
        conn.execute(
            sa.insert(ledger_disclosures), [{"idx": i, "disclosed_at": now} for i in indexes]
        )
    return len(indexes)
