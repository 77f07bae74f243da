"""Ledger records: what an exchange, an administrative change or a citizen login leaves.

A record is a flat JSON object; its RFC 8785 canonical form is the ledger leaf (``canonical``:
``json.dumps`` where that provably gives RFC 8785's bytes, ``rfc8785`` otherwise). Records hold no
personal data of the data subject: the citizen appears only in ``subjects``, as an HMAC-SHA256 of
the normalised CURP under the instance's secret pseudonym key, so that the citizen's own
entries can be found without the ledger ever storing a CURP. Request and response bodies
appear only by size and ``body_digest``, keyed with a second secret (the ledger digest key), so
that nobody holding the ledger can test guesses of a body (names, a birth date) against it.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from gateway.kernel.canonical_json import canonical as canonical
from gateway.kernel.encoding import b64encode

VERSION = 1


def pseudonym(secret: bytes, curp: str) -> str:
    return hmac.digest(secret, curp.strip().upper().encode(), "sha256").hex()


def covert_subject(secret: bytes, pseudonym: str, exchange_id: str) -> str:
    """The subject an exchange under a covert grant is recorded under instead of ``pseudonym``:
    lower-case hex HMAC-SHA256 under the ledger covert key of ``pseudonym:exchange_id``, so it
    links to nobody until the gateway hands it over (docs/ledger.md §12)."""
    message = f"{pseudonym}:{exchange_id}".encode()
    return hmac.digest(secret, message, "sha256").hex()


def body_digest(secret: bytes, body: bytes) -> str:
    """``hmac-sha256:`` and the base64 HMAC-SHA256 of ``body`` under the ledger digest key."""
    # ``hmac.digest``: OpenSSL's one-shot HMAC, the same bytes as ``hmac.new`` in half the time.
    return "hmac-sha256:" + b64encode(hmac.digest(secret, body, "sha256"))


def timestamp(moment: dt.datetime | None = None) -> str:
    """RFC 3339 UTC with microseconds: sortable as text and exact in canonical JSON."""
    moment = moment or dt.datetime.now(dt.UTC)
    # isoformat, not strftime: the same text for any year from 1000, in half the time.
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def exchange(
    *,
    exchange_id: str | None,
    received_at: str,
    responded_at: str,
    client: str | None,
    client_verified: bool,
    service: str | None,
    method: str,
    user_id: str | None,
    purpose: str | None,
    legal_basis: str | None,
    issue: str | None,
    subjects: list[str],
    outcome: str,
    status: int,
    error: str | None,
    request_hash: str,
    request_digest: str,
    response_digest: str,
    request_size: int,
    response_size: int,
    hidden_until: str | None = None,
) -> dict[str, Any]:
    """An exchange record; every field is present (null when unknown) so records align."""
    return {
        "v": VERSION,
        "kind": "exchange",
        "exchange_id": exchange_id,
        "received_at": received_at,
        "responded_at": responded_at,
        "client": client,
        "client_verified": client_verified,
        "service": service,
        "method": method,
        "user_id": user_id,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "issue": issue,
        "subjects": sorted(set(subjects)),
        "outcome": outcome,
        "status": status,
        "error": error,
        "request_hash": request_hash,
        "request_digest": request_digest,
        "response_digest": response_digest,
        "request_size": request_size,
        "response_size": response_size,
        "hidden_until": hidden_until,
    }


def admin(action: str, target: str, details: dict[str, Any], actor: str) -> dict[str, Any]:
    """A registry change (member added, grant revoked, ...)."""
    return {
        "v": VERSION,
        "kind": "admin",
        "recorded_at": timestamp(),
        "action": action,
        "target": target,
        "actor": actor,
        "details": details,
    }


def citizen_login(subject: str, session: str) -> dict[str, Any]:
    """A citizen's successful e.firma login: shown to them in their own access log.

    ``subject`` is their pseudonym, ``session`` the id of the token issued (docs/citizen.md).
    """
    return {
        "v": VERSION,
        "kind": "citizen",
        "recorded_at": timestamp(),
        "action": "login",
        "subjects": [subject],
        "outcome": "allowed",
        "session": session,
    }


def flood(address: str, count: int, since: str) -> dict[str, Any]:
    """``count`` requests from ``address`` (IPv6: its /64) whose signature did not verify and
    that were refused ``Client.RateLimited`` since ``since`` without an entry each."""
    return {
        "v": VERSION,
        "kind": "flood",
        "recorded_at": timestamp(),
        "since": since,
        "address": address,
        "count": count,
        "outcome": "refused",
        "error": "Client.RateLimited",
    }


def undelivered(
    exchange_id: str | None, index: int, subjects: list[str], hidden_until: str | None = None
) -> dict[str, Any]:
    """The exchange recorded at ``index`` was not delivered after all: its batch committed
    after the request had stopped waiting (``Server.LedgerUnavailable`` went out instead, no
    data). Same subjects, so that the citizen's log shows it beside the entry it corrects, and
    the same ``hidden_until`` (a covert exchange's correction must not reveal it early)."""
    covert = {"hidden_until": hidden_until} if hidden_until else {}
    return covert | {
        "v": VERSION,
        "kind": "undelivered",
        "recorded_at": timestamp(),
        "exchange_id": exchange_id,
        "corrects": index,
        "subjects": subjects,
        "outcome": "undelivered",
        "error": "Server.LedgerUnavailable",
    }


def map_head(covers: int, keys: int, root: bytes) -> dict[str, Any]:
    """The subject map's root over the entries with index < ``covers`` (the head's own index):
    every checkpoint the gateway signs ends with one (docs/ledger.md §12). No ``subjects``."""
    return {
        "v": VERSION,
        "kind": "map_head",
        "recorded_at": timestamp(),
        "covers": covers,
        "keys": keys,
        "root": b64encode(root),
    }
