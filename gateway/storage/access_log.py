"""A citizen's access log: which ledger entries concern them, what the citizen is shown, CSV.

Entries are found through ``ledger_subjects`` (pseudonym → index) and, for covert entries
(recorded under a covert key instead of the pseudonym), ``ledger_covert``, newest first, with a
cursor (the smallest index already returned) and optional filters: a date range on the entry's time
and an agency (member) on the exchange's client. The pseudonym always comes from the caller's
verified token; no parameter can name another subject.

Delayed disclosure follows Estonia's Data Tracker: an exchange made under a covert grant
(``hidden_until`` in its record) is not shown at all — no placeholder, no count — until that
date (UTC) has come or an administrator disclosed it early. The rule is
``gateway.storage.disclosure.withheld``, applied in the query itself: withheld rows are gone
before the page is cut, so neither a page's size nor its cursor depends on them. The entry is
in the Merkle log from the start; only the view waits.

What is shown comes from the ledger record itself, decorated with what the registry says in
words: the agency's name and contact route, the service's description and the data it delivers
(the titles of its response schema's fields, ``delivered``), the titles of the purpose and of the
legal basis (with the link to the law). Each entry also carries the record's exact canonical text
(``leaf``), so that a browser can hash it and check its inclusion proof (``attach_proofs``)
against the signed checkpoint. The CSV is in the citizen's language, headers and values.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel import schemas
from gateway.kernel.errors import CitizenError
from gateway.kernel.ids import ClientId, InvalidIdentifier, MemberId
from gateway.storage.db import ledger_covert, ledger_entries, ledger_subjects
from gateway.storage.disclosure import ledger_disclosures, withheld
from gateway.storage.ledger import proofs, publisher
from gateway.storage.registry import Snapshot

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: Dates a filter may name (inclusive): the ledger holds nothing older, and a day after the
#: newest must still be a date.
MIN_DATE, MAX_DATE = dt.date(1970, 1, 1), dt.date(9998, 12, 31)
PARAMETERS = frozenset({"cursor", "limit", "from", "to", "agency", "format", "lang"})

Format = Literal["json", "csv"]
Lang = Literal["es", "en"]


@dataclass(frozen=True)
class Query:
    """One page of a citizen's log: entries with index < ``before``, newest first."""

    before: int | None = None
    limit: int = DEFAULT_LIMIT
    since: dt.date | None = None  # inclusive, UTC
    until: dt.date | None = None  # inclusive, UTC
    agency: str | None = None  # a member id


@dataclass(frozen=True)
class Request:
    query: Query
    format: Format = "json"
    lang: Lang = "es"


def one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise CitizenError("citizen.bad_query", f"give {name!r} at most once")
    return values[0] if values else None


def natural(text: str | None, name: str, low: int, high: int) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise CitizenError("citizen.bad_query", f"{name} must be an integer from {low} to {high}")
    return int(text)


def _date(text: str | None, name: str) -> dt.date | None:
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CitizenError("citizen.bad_query", f"{name} must be a date YYYY-MM-DD") from exc
    if not MIN_DATE <= day <= MAX_DATE:
        raise CitizenError(
            "citizen.bad_query", f"{name} must be a date from {MIN_DATE} to {MAX_DATE}"
        )
    return day


def _midnight(day: dt.date) -> str:
    """00:00 UTC of ``day`` as the ledger writes times (``record.timestamp``), years padded."""
    return f"{day.isoformat()}T00:00:00.000000Z"


def parse_request(params: Mapping[str, Sequence[str]]) -> Request:
    """Validate the query string; unknown parameters are refused, not ignored."""
    unknown = set(params) - PARAMETERS
    if unknown:
        raise CitizenError("citizen.bad_query", f"unknown parameter {min(unknown)!r}")
    agency = one(params, "agency") or None
    if agency is not None:
        try:
            agency = str(MemberId.parse(agency))
        except InvalidIdentifier as exc:
            raise CitizenError("citizen.bad_query", f"agency: {exc}") from exc
    fmt = one(params, "format") or "json"
    lang = one(params, "lang") or "es"
    if fmt not in ("json", "csv") or lang not in ("es", "en"):
        raise CitizenError("citizen.bad_query", "format is json or csv; lang is es or en")
    query = Query(
        before=natural(one(params, "cursor"), "cursor", 0, (1 << 63) - 1),
        limit=natural(one(params, "limit"), "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT,
        since=_date(one(params, "from"), "from"),
        until=_date(one(params, "to"), "to"),
        agency=agency,
    )
    if query.since and query.until and query.since > query.until:
        raise CitizenError("citizen.bad_query", "from is after to")
    return Request(query, fmt, lang)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Entry:
    """A ledger entry that concerns the citizen: its index, canonical text and record."""

    index: int
    leaf: str
    record: dict[str, Any]
    disclosed_at: str | None
    #: The index of an ``undelivered`` entry correcting this exchange: its answer never went out.
    undelivered: int | None = None


def _mine(subject: str) -> sa.Subquery:
    """The indexes of the subject's entries: under their pseudonym (``ledger_subjects``) and
    under covert keys (``ledger_covert``, the private lookup of covert entries)."""
    s, c = ledger_subjects.c, ledger_covert.c
    return sa.union_all(
        sa.select(s.idx.label("idx")).where(s.subject == subject),
        sa.select(c.idx.label("idx")).where(c.subject == subject),
    ).subquery("mine")


def _select(subject: str, query: Query, today: dt.date) -> sa.Select:
    """The subject's entries visible today that the query asks for, newest first, one more
    than a page (to know whether another follows)."""
    e, d = ledger_entries.c, ledger_disclosures.c
    mine = _mine(subject)
    statement = (
        sa.select(e.idx, e.body, d.disclosed_at)
        .select_from(
            mine.join(ledger_entries, e.idx == mine.c.idx).outerjoin(
                ledger_disclosures, d.idx == mine.c.idx
            )
        )
        .where(~withheld(today))
    )
    if query.before is not None:
        statement = statement.where(mine.c.idx < query.before)
    if query.since is not None:
        statement = statement.where(e.recorded_at >= _midnight(query.since))
    if query.until is not None:
        statement = statement.where(e.recorded_at < _midnight(query.until + dt.timedelta(days=1)))
    if query.agency is not None:
        statement = statement.where(e.client.startswith(query.agency + "/", autoescape=True))
    return statement.order_by(mine.c.idx.desc()).limit(query.limit + 1)


def has_withheld_under_pseudonym(conn: Connection, subject: str, today: dt.date) -> bool:
    """Whether an entry withheld today names the subject's pseudonym itself (a covert entry
    recorded before covert keys existed), which a complete bundle would have to reveal."""
    s, e = ledger_subjects.c, ledger_entries.c
    found = conn.execute(
        sa.select(s.idx)
        .select_from(ledger_subjects.join(ledger_entries, e.idx == s.idx))
        .where(s.subject == subject, withheld(today))
        .limit(1)
    ).first()
    return found is not None


def newest_index(conn: Connection, subject: str) -> int:
    """The index of the subject's newest entry, covert ones included (-1: none)."""
    mine = _mine(subject)
    found = conn.execute(sa.select(sa.func.max(mine.c.idx))).scalar_one_or_none()
    return -1 if found is None else int(found)


def fetch(
    conn: Connection, subject: str, query: Query, today: dt.date
) -> tuple[list[Entry], int | None]:
    """One page of the subject's visible entries and the cursor of the next page (or None).

    Withheld entries are left out by the query itself, so a page is full unless it is the
    last, and the cursor is None exactly when no visible entry follows: the same whether or
    not withheld ones lie beyond.
    """
    rows = conn.execute(_select(subject, query, today)).all()
    corrected = _corrections(conn, subject, rows)
    shown = [
        Entry(idx, body, record, disclosed_at, corrected.get(record.get("exchange_id")))
        for idx, body, disclosed_at, record in ((*row, json.loads(row[1])) for row in rows)
    ]
    if len(shown) > query.limit:
        return shown[: query.limit], shown[query.limit - 1].index
    return shown, None


def _corrections(conn: Connection, subject: str, rows: Sequence[Any]) -> dict[str, int]:
    """Exchange id → index of the ``undelivered`` entry (of this subject: under the pseudonym or
    a covert key, as the exchange it corrects) correcting it, for the exchanges among ``rows``;
    the correction always comes later in the log."""
    if not rows:
        return {}
    e, mine = ledger_entries.c, _mine(subject)
    found = conn.execute(
        sa.select(e.exchange_id, e.idx, e.body)
        .select_from(mine.join(ledger_entries, e.idx == mine.c.idx))
        .where(e.kind == "undelivered", mine.c.idx > min(r[0] for r in rows))
    ).all()
    indexes = {r[0] for r in rows}
    return {
        exchange_id: idx
        for exchange_id, idx, body in found
        if json.loads(body).get("corrects") in indexes
    }


def attach_proofs(
    conn: Connection, entries: Sequence[Entry], head: publisher.StoredCheckpoint
) -> dict[int, dict[str, Any]]:
    """Inclusion proofs of the entries the checkpoint covers, against that checkpoint.

    Built as the proof bundle builds them (one batched read of the tree), in the bundle's
    shape: ``leaf_hash`` and ``inclusion_proof`` (base64), plus the ``tree_size`` proven in.
    """
    covered = [e.index for e in entries if e.index < head.size]
    if not covered:
        return {}
    proven = proofs.build_bundle(conn, covered, head)["entries"]
    return {
        item["index"]: {
            "tree_size": head.size,
            "leaf_hash": item["leaf_hash"],
            "inclusion_proof": item["inclusion_proof"],
        }
        for item in proven
    }


def _agency(client: str | None, snapshot: Snapshot) -> dict[str, Any] | None:
    if client is None:
        return None
    try:
        member = str(ClientId.parse(client).member)
    except InvalidIdentifier:
        return {"id": None, "name": None, "contact": None}
    return {
        "id": member,
        "name": snapshot.members.get(member),
        "contact": snapshot.contacts.get(member),
    }


def _titles(node: Any) -> list[dict[str, str]]:
    """The titles of the fields a schema describes, in order: a titled property counts as one
    item of data; an untitled one is looked into (a wrapper object, a list of records)."""
    if not isinstance(node, dict):
        return []
    found: list[dict[str, str]] = []
    for value in (node.get("properties") or {}).values():
        if isinstance(value, dict) and "title" in value:
            title = str(value["title"])
            found.append({"es": title, "en": str(value.get("x-title-en", title))})
        else:
            found.extend(_titles(value))
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(key) or []:
            found.extend(_titles(branch))
    found.extend(_titles(node.get("items")))
    unique = {item["es"]: item for item in found}  # a field named in several branches once
    return list(unique.values())


def delivered(snapshot: Snapshot, catalogue: schemas.Catalogue) -> dict[str, list[dict[str, str]]]:
    """What each registered service's answer holds, in words (Spanish and English): the field
    titles of its response schema. Computed once per registry snapshot."""
    found = {}
    for service_id, service in snapshot.services.items():
        contract = catalogue.get(service.operation)
        found[service_id] = _titles(contract.inlined("response")) if contract else []
    return found


def _title(titles: Mapping[str, Any], code: str | None) -> Any:
    found = titles.get(code or "")
    return found.title if found else None


def present(
    entry: Entry, snapshot: Snapshot, data: Mapping[str, list[dict[str, str]]]
) -> dict[str, Any]:
    """The citizen's view of one entry (exchange, or one of their own logins); ``data`` is
    ``delivered`` of the snapshot."""
    r = entry.record
    shown: dict[str, Any] = {"index": entry.index, "leaf": entry.leaf}
    if r.get("kind") != "exchange":
        return {
            **shown,
            "kind": "login" if r.get("kind") == "citizen" else r.get("kind"),
            "at": r.get("recorded_at"),
            "outcome": r.get("outcome"),
        }
    service = snapshot.services.get(r.get("service") or "")
    basis = snapshot.legal_bases.get(r.get("legal_basis") or "")
    return {
        **shown,
        "kind": "exchange",
        "at": r.get("responded_at"),
        "agency": _agency(r.get("client"), snapshot),
        "agency_verified": bool(r.get("client_verified")),
        "subsystem": r.get("client"),
        "official": r.get("user_id"),
        "service": {
            "id": r.get("service"),
            "description": service.description if service else None,
            "data": data.get(r.get("service") or "", []),
        },
        "purpose": r.get("purpose"),
        "purpose_title": _title(snapshot.purposes, r.get("purpose")),
        "legal_basis": r.get("legal_basis"),
        "legal_basis_title": basis.title if basis else None,
        "legal_basis_url": basis.url if basis else None,
        "case": r.get("issue"),
        # Corrected by a later entry: the answer recorded never went out (docs/ledger.md §1).
        "outcome": "undelivered" if entry.undelivered is not None else r.get("outcome"),
        "error": r.get("error"),
        "exchange_id": r.get("exchange_id"),
        "hidden_until": r.get("hidden_until"),
        "disclosed_at": entry.disclosed_at,
        "undelivered": entry.undelivered,
    }


_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (key, Spanish header, English header)
    ("index", "indice", "index"),
    ("at", "fecha_utc", "time_utc"),
    ("kind", "tipo", "kind"),
    ("agency_id", "dependencia_clave", "agency_id"),
    ("agency_name", "dependencia", "agency"),
    ("agency_verified", "dependencia_verificada", "agency_verified"),
    ("agency_contact", "contacto_dependencia", "agency_contact"),
    ("subsystem", "subsistema", "subsystem"),
    ("official", "servidor_publico", "official"),
    ("service_id", "servicio", "service"),
    ("service_description", "descripcion_servicio", "service_description"),
    ("data", "datos", "data"),
    ("purpose", "finalidad_clave", "purpose_code"),
    ("purpose_title", "finalidad", "purpose"),
    ("legal_basis", "fundamento_clave", "legal_basis_code"),
    ("legal_basis_title", "fundamento_legal", "legal_basis"),
    ("legal_basis_url", "texto_del_fundamento", "legal_basis_text"),
    ("case", "expediente", "case_number"),
    ("outcome", "resultado", "outcome"),
    ("error", "error", "error"),
)
#: The values the ledger writes as codes, in the citizen's words: (Spanish, English).
_WORDS: dict[str, dict[Any, tuple[str, str]]] = {
    "kind": {
        "exchange": ("consulta", "access"),
        "login": ("entrada", "login"),
        "undelivered": ("corrección: no entregada", "correction: not delivered"),
    },
    "outcome": {
        "allowed": ("datos entregados", "data delivered"),
        "refused": ("consulta rechazada", "request refused"),
        "not_found": ("sin datos", "no data"),
        "failed": ("falló", "failed"),
        "undelivered": ("no entregada", "not delivered"),
    },
    "agency_verified": {True: ("sí", "yes"), False: ("no", "no")},
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Agencies choose officials' ids and case numbers: never let a spreadsheet run them.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _word(key: str, value: Any, lang: Lang) -> Any:
    words = _WORDS.get(key, {}).get(value)
    return value if words is None else words[0 if lang == "es" else 1]


def to_csv(rows: Sequence[dict[str, Any]], lang: Lang) -> str:
    """Presented entries as CSV (RFC 4180, CRLF), headers and values in the citizen's
    language; codes and identifiers keep their own columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([es if lang == "es" else en for _, es, en in _COLUMNS])
    for row in rows:
        agency = row.get("agency") or {}
        service = row.get("service") or {}
        data = service.get("data") or []
        flat = {
            **row,
            "agency_id": agency.get("id"),
            "agency_name": agency.get("name"),
            "agency_contact": agency.get("contact"),
            "service_id": service.get("id"),
            "service_description": service.get("description"),
            "data": "; ".join(item[lang] for item in data) or None,
        }
        writer.writerow([_cell(_word(key, flat.get(key), lang)) for key, _, _ in _COLUMNS])
    return out.getvalue()
