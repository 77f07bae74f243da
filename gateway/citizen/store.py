"""The citizen tables: used login challenges and early disclosures of covert ledger entries.

``citizen_challenges_used`` makes challenges single-use: a login records the challenge's nonce
before it checks anything else, so a second login with the same challenge finds it taken. Rows
are purged once their challenge has expired (an expired challenge is refused anyway).

``ledger_disclosures`` lists entries whose covert period (their grant's ``hidden_until``) an
administrator ended early. Ledger records are never altered: a disclosure is a row here plus an
``admin`` record ``ledger.disclose`` in the ledger, written in one transaction through
``registry.change``, which names the disclosed indexes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway import registry
from gateway.db import Database, ledger_entries, metadata
from gateway.ledger import record

#: Most entries one ``disclose`` command names (its ledger record lists every index).
MAX_DISCLOSE = 10_000
_SCAN_PAGE = 5_000

citizen_challenges_used = sa.Table(
    "citizen_challenges_used",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # Unix seconds
    sa.Index("citizen_challenges_by_expiry", "expires_at"),
)

ledger_disclosures = sa.Table(
    "ledger_disclosures",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("disclosed_at", sa.String(40), nullable=False),  # record.timestamp() format
)


def consume_challenge(db: Database, nonce: str, expires_at: int, now: float) -> bool:
    """Record a challenge as used; False if it already was."""
    try:
        with db.write.begin() as conn:
            conn.execute(
                sa.delete(citizen_challenges_used).where(
                    citizen_challenges_used.c.expires_at <= int(now)
                )
            )
            conn.execute(
                sa.insert(citizen_challenges_used).values(nonce=nonce, expires_at=expires_at)
            )
    except sa.exc.IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class Covert:
    """A ledger entry still hidden from its data subjects."""

    index: int
    hidden_until: dt.date


def _covert(index: int, body: str, today: dt.date) -> Covert | None:
    entry = json.loads(body)
    until = entry.get("hidden_until") if entry.get("kind") == "exchange" else None
    if until is None or dt.date.fromisoformat(until) <= today:
        return None
    return Covert(index, dt.date.fromisoformat(until))


def _disclosed(conn: Connection, indexes: list[int]) -> set[int]:
    column = ledger_disclosures.c.idx
    return set(conn.execute(sa.select(column).where(column.in_(indexes))).scalars())


def covert_entry(conn: Connection, index: int, today: dt.date) -> Covert:
    """Entry ``index`` if it is covert and not yet disclosed; else a RegistryError says why."""
    body = conn.execute(
        sa.select(ledger_entries.c.body).where(ledger_entries.c.idx == index)
    ).scalar_one_or_none()
    if body is None:
        raise registry.RegistryError("ledger.no_entry", f"the ledger has no entry {index}")
    covert = _covert(index, body, today)
    if covert is None:
        raise registry.RegistryError(
            "ledger.not_hidden", f"entry {index} is not hidden from its data subjects"
        )
    if _disclosed(conn, [index]):
        raise registry.RegistryError("ledger.already_disclosed", f"entry {index} is disclosed")
    return covert


def covert_entries(conn: Connection, client: str, service: str, today: dt.date) -> list[Covert]:
    """The exchanges of ``client`` with ``service`` that are still covert, oldest first."""
    found: list[Covert] = []
    after = -1
    e = ledger_entries.c
    while len(found) < MAX_DISCLOSE + 1:
        rows = conn.execute(
            sa.select(e.idx, e.body)
            .where(
                e.client == client,
                e.service == service,
                e.idx > after,
                # Canonical JSON (RFC 8785) has no spaces: a cheap pre-filter before parsing.
                e.body.contains('"hidden_until":"', autoescape=True),
            )
            .order_by(e.idx)
            .limit(_SCAN_PAGE)
        ).all()
        page = [c for idx, body in rows if (c := _covert(idx, body, today))]
        disclosed = _disclosed(conn, [c.index for c in page]) if page else set()
        found += [c for c in page if c.index not in disclosed]
        if len(rows) < _SCAN_PAGE:
            break
        after = rows[-1].idx
    return found


def disclose(db: Database, covert: list[Covert], reason: str, scope: dict[str, str]) -> int:
    """Disclose these entries now; one ``ledger.disclose`` admin record names them all."""
    if not covert:
        raise registry.RegistryError("ledger.nothing_to_disclose", "no covert entry matches")
    if len(covert) > MAX_DISCLOSE:
        raise registry.RegistryError(
            "ledger.too_many", f"more than {MAX_DISCLOSE} entries: disclose by index ranges"
        )
    indexes = sorted(c.index for c in covert)
    details = {**scope, "reason": reason, "indexes": indexes}
    target = f"#{indexes[0]}" if len(indexes) == 1 else f"{len(indexes)} entries"
    now = record.timestamp()
    with registry.change(db, "ledger.disclose", target, details) as conn:
        if _disclosed(conn, indexes):
            raise registry.RegistryError(
                "ledger.already_disclosed", "an entry was disclosed meanwhile; run again"
            )
        conn.execute(
            sa.insert(ledger_disclosures), [{"idx": i, "disclosed_at": now} for i in indexes]
        )
    return len(indexes)
