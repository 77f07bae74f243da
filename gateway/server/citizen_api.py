"""The citizen's HTTP face: e.firma login, their access log with proofs, and the web page.

* ``POST /v1/citizen/challenge``: a one-time challenge to sign;
* ``POST /v1/citizen/login``: ``{challenge, certificate, signature}`` (base64) → session token;
* ``GET /v1/citizen/accesses``: the token holder's access log (JSON with inclusion proofs
  against a signed checkpoint, or CSV), paged and filtered;
* ``GET /v1/citizen/bundle``: the same entries as an offline proof bundle
  (``enlace ledger check-proof``);
* ``GET /v1/citizen/agencies``: registered members, for the page's agency filter;
* ``GET /v1/citizen/about``: what the page shows of this instance (time zone, help line, ARCO
  and privacy contacts, where the checkpoint key is published);
* ``/ciudadano/``: the static page (``gateway/web/static``), and beside it
  ``/ciudadano/trust.json``, the trust document the operator deploys (``ENLACE_CITIZEN_TRUST_FILE``)
  from which the page pins the checkpoint and witness keys (docs/trust.md).

Thin edge: the rules live in ``gateway.citizen`` and in the SAT source's shared validation
(``gateway.kernel.efirma.validation``). A login checks, cheapest first and in this order: the
challenge's seal and expiry (no I/O); the signature over it and the certificate's local rules
(``validation.check_offline``: kind, validity, chain; then persona física and CURP); only then
does it use the challenge up (one write) and ask SAT's OCSP responder (``validation.check``).
So a junk attempt, even with a citizen's real (public) certificate, costs neither a write nor
a request to SAT. A successful login is appended to the ledger (the citizen sees it) before the
token is returned. Failed logins are logged by code and counted, never ledgered:
unauthenticated input must not grow the permanent log. Challenges and logins are limited per
client address (``gateway.server.throttle``). Nothing here logs a CURP or a pseudonym.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gateway.kernel import curp
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.efirma import validation
from gateway.kernel.encoding import iso_utc_seconds
from gateway.kernel.errors import CitizenError, EnlaceError
from gateway.kernel.ledger import bundle, record
from gateway.server import citizen_auth as auth
from gateway.server import responses, throttle
from gateway.server.requests import query_lists, read_body
from gateway.server.state import Gateway
from gateway.storage import access_log, challenges, disclosure
from gateway.storage.ledger import proofs
from gateway.storage.ledger.errors import LedgerCorrupt, LedgerUnavailable
from gateway.storage.ledger.publisher import StoredCheckpoint
from trusted_sources.sat.service import HttpOcspFetcher, SatConfigError, load_trust

log = logging.getLogger("enlace.citizen")

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_LOGIN_BODY = 32 * 1024
_NO_STORE = {"Cache-Control": "no-store"}
#: Times a bundle is built again when a checkpoint is signed while it is read.
_BUNDLE_ATTEMPTS = 5
_PAGE_HEADERS = {
    # The page handles private keys: only its own scripts, no inline code, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _json(payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A citizen's data: JSON that no cache may keep."""
    return responses.json_response(payload, headers={**_NO_STORE, **(headers or {})})


class CitizenPage(StaticFiles):
    """The page's static files, with headers that confine what the page may load and do."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_PAGE_HEADERS)
        return response


class CitizenService:
    """What the citizen endpoints hold: challenge and token keys, SAT trust, metrics."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        settings = gateway.settings
        secret = gateway.pseudonym_key
        self.challenges = auth.ChallengeSealer(
            auth.derive_key(secret, "challenge"), settings.instance, settings.citizen_challenge_ttl
        )
        self.tokens = auth.TokenIssuer(
            auth.derive_key(secret, "token"), settings.instance, settings.citizen_token_ttl
        )
        self.policy = validation.OcspPolicy(url=settings.citizen_ocsp_url)
        trust_dir = settings.citizen_sat_trust_dir or settings.pki_dir / "sat" / "trust"
        self.trust: validation.Trust | None = None
        try:
            self.trust = load_trust(trust_dir, settings.citizen_ocsp_responders_dir)
        except SatConfigError as exc:
            log.warning("citizen login disabled: no SAT trust", extra={"error": exc.message})
        if self.policy.url is None:
            log.warning("citizen login disabled: no OCSP responder configured")
        self.attempts: throttle.AttemptLimiter | None = None
        if settings.citizen_attempts_per_minute > 0 and settings.citizen_attempts_burst > 0:
            self.attempts = throttle.AttemptLimiter(
                settings.citizen_attempts_per_minute, settings.citizen_attempts_burst
            )
        registry = gateway.metrics.registry
        self.logins = Counter(
            "enlace_citizen_logins", "Citizen logins by result code", ["code"], registry=registry
        )
        self.query_seconds = Histogram(
            "enlace_citizen_query_seconds", "Citizen access-log reads", registry=registry
        )
        self._delivered: tuple[int, dict[str, list[dict[str, str]]]] = (-1, {})

    def delivered(self) -> dict[str, list[dict[str, str]]]:
        """What each service delivers, in words, for the current registry snapshot."""
        snapshot = self.gw.snapshot
        if self._delivered[0] != snapshot.version:
            self._delivered = (
                snapshot.version,
                access_log.delivered(snapshot, self.gw.contracts),
            )
        return self._delivered[1]

    def about(self) -> dict[str, Any]:
        """The instance's settings the page shows: public, the same for every citizen."""
        settings = self.gw.settings
        return {
            "instance": settings.instance,
            "time_zone": settings.citizen_time_zone,
            "operator": settings.citizen_operator,
            "help_contact": settings.citizen_help_contact,
            "arco_contact": settings.citizen_arco_contact,
            "privacy_url": settings.citizen_privacy_url,
            "checkpoint_key_url": settings.citizen_checkpoint_key_url,
        }

    # --- login ------------------------------------------------------------------------------

    def admit(self, request: Request) -> None:
        """Refuse (``citizen.rate_limited``) a client address over its attempt budget."""
        if self.attempts is None:
            return
        address = throttle.client_key(request.client.host if request.client else None)
        wait = self.attempts.take(address, time.monotonic())
        if wait > 0:
            raise CitizenError(
                "citizen.rate_limited",
                "too many attempts from this address: try again later",
                retry_after=math.ceil(wait),
            )

    def _offline(
        self, form: auth.LoginForm, challenge: auth.Challenge, trust: validation.Trust
    ) -> tuple[efirma.SatCertificate, str]:
        """The certificate and its holder's CURP, if everything but revocation is right: a
        persona física's e.firma, valid now, chaining to SAT, whose key signed ``challenge``."""
        try:
            certificate = efirma.parse_certificate(form.certificate)
        except efirma.CertificateFormatError as exc:
            raise CitizenError(exc.code, exc.message) from exc
        if certificate.persona != "fisica" or certificate.curp is None:
            raise CitizenError(
                "citizen.not_persona_fisica",
                "this is a company's e.firma: log in with your own, as a person",
            )
        report = validation.check_offline(
            certificate,
            trust=trust,
            at=dt.datetime.now(dt.UTC),
            signature=(form.signature, challenge.text.encode()),
        )
        refused = auth.refusal(report)
        if refused is not None:
            raise refused
        try:
            holder = curp.validate(certificate.curp).value
        except curp.InvalidCurp as exc:
            raise CitizenError(
                "citizen.invalid_curp", "the certificate's CURP is malformed"
            ) from exc
        return certificate, holder

    async def _revocation(
        self,
        certificate: efirma.SatCertificate,
        form: auth.LoginForm,
        challenge: auth.Challenge,
        trust: validation.Trust,
    ) -> None:
        """The full SAT validation, now with OCSP; refuses unless it is ``valid``."""
        fetch = HttpOcspFetcher(self.gw.settings.citizen_ocsp_timeout)
        try:
            report = await validation.check(
                certificate,
                trust=trust,
                policy=self.policy,
                fetch=fetch,
                at=dt.datetime.now(dt.UTC),
                signature=(form.signature, challenge.text.encode()),
            )
        finally:
            await fetch.aclose()
        refused = auth.refusal(report)
        if refused is not None:
            raise refused

    async def login(self, body: Any) -> dict[str, Any]:
        form = auth.parse_login(body)
        now = time.time()
        challenge = self.challenges.open(form.challenge, now)  # seal and expiry: no I/O
        if self.trust is None or self.policy.url is None:
            raise CitizenError("citizen.unavailable", "e.firma login is not configured")
        certificate, holder = self._offline(form, challenge, self.trust)
        # Only a signature by a good certificate's key gets this far: now use the challenge
        # up (one write), and only then ask SAT (one request).
        used = await asyncio.to_thread(
            challenges.use, self.gw.db, challenge.nonce, challenge.expires_at, now
        )
        if not used:
            raise CitizenError("citizen.challenge_reused", "this challenge was already used")
        await self._revocation(certificate, form, challenge, self.trust)
        token, session = self.tokens.issue(self.gw.pseudonym(holder), time.time())
        try:
            await self.gw.writer.append(record.citizen_login(session.subject, session.token_id))
        except (LedgerUnavailable, TimeoutError) as exc:
            raise CitizenError("citizen.ledger_unavailable", "the ledger is unavailable") from exc
        return {
            "token": token,
            "token_type": "Bearer",
            "expires_at": iso_utc_seconds(session.expires_at),
            "curp": holder,
            "name": certificate.name,
            # The key the ledger knows the citizen by: a complete bundle must be about it.
            "subject": session.subject,
        }

    # --- access log -------------------------------------------------------------------------

    def session(self, request: Request) -> auth.Session:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            raise CitizenError("citizen.unauthenticated", "send Authorization: Bearer <token>")
        return self.tokens.verify(token.strip(), time.time())

    async def _covering(self, entries: list[access_log.Entry]) -> StoredCheckpoint:
        """The newest checkpoint, signed now if it does not yet cover every entry shown."""
        return await self._covering_index(max((e.index for e in entries), default=-1))

    async def _covering_index(self, newest: int) -> StoredCheckpoint:
        """The newest checkpoint, signed now unless its map head (its last entry) comes after
        ``newest``: a complete checkpoint covering the entry at ``newest``."""
        head = await asyncio.to_thread(self._read, self.gw.guard.published)
        if head is None or newest >= head.size - 1:
            head = await asyncio.to_thread(self.gw.sign_checkpoint)
        return head

    def _read(self, work: Callable[[sa.Connection], Any]) -> Any:
        with self.gw.db.read.connect() as conn:
            return work(conn)

    async def page(
        self, request: Request, query: access_log.Query
    ) -> tuple[list[access_log.Entry], int | None]:
        subject = self.session(request).subject  # the only source of whose log this is
        today = dt.datetime.now(dt.UTC).date()
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(
                self._read, lambda conn: access_log.fetch(conn, subject, query, today)
            )
        finally:
            self.query_seconds.observe(time.perf_counter() - started)

    async def accesses(self, request: Request) -> Response:
        wanted = access_log.parse_request(query_lists(request))
        entries, cursor = await self.page(request, wanted.query)
        delivered = self.delivered()
        rows = [access_log.present(e, self.gw.snapshot, delivered) for e in entries]
        headers = {"X-Next-Cursor": str(cursor)} if cursor is not None else {}
        if wanted.format == "csv":
            headers["Content-Disposition"] = 'attachment; filename="enlace-accesos.csv"'
            text = access_log.to_csv(rows, wanted.lang)
            return Response(text, 200, {**_NO_STORE, **headers}, "text/csv; charset=utf-8")
        head = await self._covering(entries)
        proofs = await asyncio.to_thread(
            self._read, lambda conn: access_log.attach_proofs(conn, entries, head)
        )
        for row in rows:
            row["proof"] = proofs.get(row["index"])
        payload = {
            "entries": rows,
            "next_cursor": cursor,
            "checkpoint": head.note.decode(),
        }
        return _json(payload, headers=headers)

    def _keys(self, conn: sa.Connection, subject: str, below: int) -> list[tuple[str, str]]:
        """The subject keys a citizen's bundle proves: their pseudonym, and the covert key of
        each of their covert entries below ``below`` no longer withheld (handed over now)."""
        today = dt.datetime.now(dt.UTC).date()
        covert = disclosure.disclosed_covert(conn, subject, today, below)
        keys = [(subject, "citizen")]
        # An exchange and its correction (``undelivered``) share an id, hence a covert key.
        handed = dict.fromkeys(self.gw.covert_subject(subject, xid) for _, xid in covert)
        return keys + [(key, "covert") for key in handed]

    def _complete(
        self, conn: sa.Connection, subject: str, head: StoredCheckpoint, older: int | None
    ) -> dict[str, Any]:
        today = dt.datetime.now(dt.UTC).date()
        if access_log.has_withheld_under_pseudonym(conn, subject, today):
            # Covert entries recorded under the pseudonym itself (before covert keys): a
            # complete bundle would reveal them, so only the visible ones, as version 1.
            entries, _ = access_log.fetch(
                conn, subject, access_log.Query(limit=bundle.MAX_ENTRIES), today
            )
            return proofs.build_bundle(
                conn, [e.index for e in entries if e.index < head.size], head
            )
        keys = self._keys(conn, subject, head.size - 1)
        return proofs.build_complete_bundle(conn, keys, head, older)

    async def bundle(self, request: Request) -> Response:
        """Every entry of the citizen up to a complete checkpoint, proven complete (bundle v2),
        with a consistency proof from ``consistency_from`` if asked."""
        params = query_lists(request)
        if "format" in params or "lang" in params:
            raise CitizenError("citizen.bad_query", "a bundle is always JSON")
        # The list's filters are validated like the list's, and do not apply: a bundle is the
        # whole log up to its checkpoint, since that is what it proves complete.
        access_log.parse_request({k: v for k, v in params.items() if k != "consistency_from"})
        older = access_log.natural(
            access_log.one(params, "consistency_from"), "consistency_from", 0, (1 << 63) - 1
        )
        subject = self.session(request).subject
        newest = await asyncio.to_thread(
            self._read, lambda conn: access_log.newest_index(conn, subject)
        )
        for _ in range(_BUNDLE_ATTEMPTS):
            head = await self._covering_index(newest)
            if older is not None and older > head.size:
                raise CitizenError("citizen.bad_query", "consistency_from is beyond the checkpoint")
            try:
                built = await asyncio.to_thread(
                    self._read,
                    functools.partial(self._complete, subject=subject, head=head, older=older),
                )
            except proofs.MapMoved:  # a checkpoint was signed while we read: use the newer
                continue
            headers = {"Content-Disposition": 'attachment; filename="enlace-pruebas.json"'}
            return _json(built, headers=headers)
        raise CitizenError("citizen.ledger_unavailable", "the ledger moved on: try again")


async def _login_body(request: Request) -> Any:
    try:
        return json.loads(await read_body(request, MAX_LOGIN_BODY))
    except EnlaceError as exc:
        raise CitizenError("citizen.body_too_large", exc.message) from exc
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep ([[[[…)
        raise CitizenError("citizen.bad_request", "the body must be JSON") from exc


def _refusal(exc: Exception) -> Response:
    """A citizen's refusal (every code found, when more than one), or a failed ledger read."""
    if not isinstance(exc, CitizenError):
        log.error("citizen ledger read failed", extra={"error": type(exc).__name__})
        exc = CitizenError("citizen.ledger_unavailable", "the ledger cannot be read now")
    retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    details = {"codes": list(exc.codes)} if len(exc.codes) > 1 else {}
    return responses.error_response(exc, {**_NO_STORE, **retry}, **details)


_answer = responses.answering(
    _refusal, CitizenError, sa.exc.SQLAlchemyError, LedgerCorrupt, bundle.BundleError
)


def router(service: CitizenService) -> APIRouter:
    routes = APIRouter(prefix="/v1/citizen")

    @routes.post("/challenge")
    @_answer
    async def challenge(request: Request) -> Response:
        """A one-time challenge for the citizen to sign with their e.firma."""
        service.admit(request)
        issued = service.challenges.issue(time.time())
        return _json({"challenge": issued.text, "expires_at": iso_utc_seconds(issued.expires_at)})

    @routes.post("/login")
    @_answer
    async def login(request: Request) -> Response:
        """Exchange a signed challenge and its e.firma certificate for a session token."""
        try:
            service.admit(request)
            answer = await service.login(await _login_body(request))
        except CitizenError as exc:
            service.logins.labels(exc.code).inc()
            if exc.code != "citizen.rate_limited":  # counted only: a flood must not flood the log
                log.info("citizen login refused", extra={"code": exc.code, "codes": exc.codes})
            raise
        service.logins.labels("ok").inc()
        log.info("citizen login", extra={"code": "ok"})
        return _json(answer)

    @routes.get("/accesses")
    @_answer
    async def accesses(request: Request) -> Response:
        """The token holder's access log: JSON with proofs, or CSV (``format=csv``)."""
        return await service.accesses(request)

    @routes.get("/bundle")
    @_answer
    async def proof_bundle(request: Request) -> Response:
        """The token holder's visible entries as an offline-verifiable proof bundle."""
        return await service.bundle(request)

    @routes.get("/agencies")
    @_answer
    async def agencies(_request: Request) -> Response:
        """Registered members (public registry data), for the agency filter."""
        members = sorted(service.gw.snapshot.members.items())
        return _json([{"id": member, "name": name} for member, name in members])

    @routes.get("/about")
    @_answer
    async def about(_request: Request) -> Response:
        """This instance's time zone, help line, ARCO and privacy contacts, key publication."""
        return _json(service.about())

    return routes


def install(app: FastAPI, gateway: Gateway) -> None:
    """Add the citizen API and page to the gateway's application."""
    app.include_router(router(CitizenService(gateway)))
    app.add_route(
        "/ciudadano", lambda _request: RedirectResponse("/ciudadano/", 308), methods=["GET"]
    )
    trust_file = gateway.settings.citizen_trust_file or gateway.pki.trust_document

    async def trust_document(_request: Request) -> Response:
        """The operator's trust document deployed beside the page (docs/trust.md): a static
        asset, read as deployed, never made from the keys this gateway holds."""
        try:
            body = await asyncio.to_thread(trust_file.read_bytes)
        except OSError:
            return Response(b"no trust document is deployed", 404, headers=_PAGE_HEADERS)
        return Response(body, media_type="application/json", headers=_PAGE_HEADERS)

    app.add_route("/ciudadano/trust.json", trust_document, methods=["GET"])
    app.mount("/ciudadano", CitizenPage(directory=STATIC_DIR, html=True), name="ciudadano")
