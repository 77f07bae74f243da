"""Step 5 of an exchange: its ledger record, appended before any response is sent.

Every exchange is recorded, refused and failed ones too, with what was known when it ended
(``context.Exchange``). Its data subjects are recorded only once the client is verified: a
request whose signature did not verify must not write into any citizen's access log. Bodies
are recorded by size and keyed digest (``record.body_digest``), never as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.kernel.errors import EnlaceError
from gateway.kernel.ledger import record
from gateway.server.exchange.context import Exchange
from gateway.storage.ledger.errors import LedgerCorrupt, LedgerUnavailable
from gateway.storage.ledger.sequencer import Appended, LedgerWriter

log = logging.getLogger("enlace.exchange")


def outcome(error: str | None) -> str:
    """The ledger's outcome for an exchange that ended with ``error`` (None: answered)."""
    if error is None:
        return "allowed"
    if error == "Source.NotFound":
        return "not_found"
    return "refused" if error.startswith("Client.") else "failed"


def subjects(
    ex: Exchange, exchange_id: str, cover: Callable[[str, str], str] | None
) -> tuple[list[str], tuple[str, ...]]:
    """The subjects to record for ``ex`` and, under a covert grant, the pseudonyms they stand
    for: each citizen is then recorded under ``cover(pseudonym, exchange_id)`` (its covert key,
    docs/ledger.md §12), and the pseudonyms go only to the private ``ledger_covert`` lookup."""
    named = sorted(ex.subjects) if ex.client_verified else []
    if not named or ex.hidden_until is None or cover is None:
        return named, ()
    return sorted(cover(p, exchange_id) for p in named), tuple(named)


def entry(
    ex: Exchange,
    exchange_id: str,
    *,
    status: int,
    error: str | None,
    response: bytes,
    digest: Callable[[bytes], str],
    recorded_subjects: list[str] | None = None,
) -> dict[str, Any]:
    """The ledger record of ``ex``, answered with ``status``, ``error`` and body ``response``;
    ``digest`` is the gateway's keyed body digest; ``recorded_subjects`` (from ``subjects``)
    replace the exchange's own when given."""
    if recorded_subjects is None:
        recorded_subjects = sorted(ex.subjects) if ex.client_verified else []
    return record.exchange(
        exchange_id=exchange_id,
        received_at=ex.received_at,
        responded_at=record.timestamp(),
        client=ex.client,
        client_verified=ex.client_verified,
        service=ex.service,
        method=ex.method,
        user_id=ex.user_id,
        purpose=ex.purpose,
        legal_basis=ex.legal_basis,
        issue=ex.issue,
        subjects=recorded_subjects,
        outcome=outcome(error),
        status=status,
        error=error,
        request_hash=ex.request_hash,
        request_digest=digest(ex.request_body),
        response_digest=digest(response),
        request_size=len(ex.request_body),
        response_size=len(response),
        hidden_until=ex.hidden_until,
    )


async def append(
    writer: LedgerWriter, entry: dict[str, Any], covert: tuple[str, ...] = ()
) -> Appended:
    """Durably append ``entry`` (with its ``ledger_covert`` pseudonyms), else
    ``Server.LedgerUnavailable`` (or ``Server.LedgerCorrupt``: the stored history does not
    extend the last signed head): the exchange must not happen."""
    try:
        return await writer.append(entry, covert)
    except LedgerCorrupt as exc:  # the guard logged why, once
        raise EnlaceError("Server.LedgerCorrupt") from exc
    except (LedgerUnavailable, TimeoutError) as exc:
        reason = type(exc).__name__
        fields = {"exchange_id": entry["exchange_id"], "code": "Server.LedgerUnavailable"}
        log.error("exchange refused: ledger unavailable", extra=fields | {"reason": reason})
        raise EnlaceError("Server.LedgerUnavailable") from exc
