"""Citizen login with e.firma over real HTTPS, against the SAT dev PKI and a live OCSP responder."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.devtools import sat_pki as devpki
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.efirma import validation
from gateway.kernel.ledger import record
from gateway.server import citizen_api
from gateway.server import citizen_auth as auth
from gateway.server.run import free_port, running
from gateway.server.state import Gateway
from gateway.storage.challenges import citizen_challenges_used
from gateway.storage.db import ledger_entries, ledger_state
from gateway.storage.ledger import queries
from tests.citizen.helpers import (
    Efirma,
    challenge,
    credential,
    error_code,
    login_response,
    sign,
)
from trusted_sources.sat.service import load_trust


def _ledger_size(dev: bootstrap.DevInstance) -> int:
    """Entries other than map heads (which the gateway's checkpoints append at any time)."""
    with dev.database.read.connect() as conn:
        size = conn.execute(sa.select(ledger_state.c.size)).scalar_one()
        heads = conn.execute(
            sa.select(sa.func.count()).where(ledger_entries.c.kind == "map_head")
        ).scalar_one()
    return size - heads


def _challenges_used(dev: bootstrap.DevInstance) -> int:
    with dev.database.read.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(citizen_challenges_used)
        ).scalar()


def _refused(response: httpx.Response, code: str, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
def counting_ocsp() -> Iterator[tuple[str, list[bytes]]]:
    """An OCSP "responder" that only counts what it is asked (and answers HTTP 503)."""
    asked: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            asked.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_valid_efirma_logs_in_and_the_login_is_ledgered(
    dev, gateway_url, http, valid_efirmas, caplog
):
    citizen = valid_efirmas[0]
    with dev.database.read.connect() as conn:
        tree_size = conn.execute(sa.select(ledger_state.c.size)).scalar_one()
    with caplog.at_level(logging.DEBUG):
        response = login_response(http, gateway_url, citizen)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "Bearer"
    assert answer["curp"] == citizen.curp
    assert answer["name"]
    assert response.headers["cache-control"] == "no-store"

    # The login is in the ledger, under the citizen's pseudonym only, and nothing personal is
    # in the application log.
    # (A map head may come before it: the gateway's checkpoints close the tree with one.)
    with dev.database.read.connect() as conn:
        logins = queries.entries(conn, start=tree_size, kind="citizen")
    assert len(logins) == 1
    index, entry = logins[0]
    assert index >= tree_size
    pseudonym = record.pseudonym(dev.pki.pseudonym_key.read_bytes(), citizen.curp)
    assert entry["kind"] == "citizen" and entry["action"] == "login"
    assert entry["subjects"] == [pseudonym]
    assert citizen.curp not in json.dumps(entry)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert citizen.curp not in logged and pseudonym not in logged
    assert answer["name"] not in logged


@pytest.mark.parametrize(
    ("wanted", "code"),
    [
        ({"kind": "csd", "persona": "fisica", "state": "valid"}, "efirma.is_csd"),
        ({"kind": "efirma", "persona": "fisica", "state": "expired"}, "efirma.expired"),
        ({"kind": "efirma", "persona": "fisica", "state": "revoked"}, "efirma.revoked"),
    ],
)
def test_certificates_that_are_not_a_valid_efirma_are_refused(
    dev, gateway_url, http, sat, wanted, code
):
    before = _ledger_size(dev)
    response = login_response(http, gateway_url, credential(sat, **wanted))
    _refused(response, code)
    assert _ledger_size(dev) == before  # failed logins are not ledgered


def test_a_foreign_ca_certificate_is_refused(gateway_url, http, foreign_efirma):
    _refused(login_response(http, gateway_url, foreign_efirma), "efirma.unknown_issuer")


def test_a_persona_moral_certificate_is_refused(gateway_url, http, sat):
    moral = credential(sat, kind="efirma", persona="moral", state="valid")
    _refused(login_response(http, gateway_url, moral), "citizen.not_persona_fisica", 403)


def test_a_signature_over_another_challenge_is_refused(gateway_url, http, valid_efirmas):
    presented, signed = challenge(http, gateway_url), challenge(http, gateway_url)
    response = login_response(http, gateway_url, valid_efirmas[0], text=presented, signed=signed)
    _refused(response, "citizen.bad_signature")


def test_a_signature_by_another_citizens_key_is_refused(gateway_url, http, valid_efirmas):
    alice, bob = valid_efirmas
    text = challenge(http, gateway_url)
    body = {
        "challenge": text,
        "certificate": base64.b64encode(alice.cer).decode(),
        "signature": sign(bob, text),
    }
    _refused(http.post(f"{gateway_url}/v1/citizen/login", json=body), "citizen.bad_signature")


def test_a_challenge_is_single_use(gateway_url, http, valid_efirmas):
    citizen = valid_efirmas[0]
    text = challenge(http, gateway_url)
    body = {
        "challenge": text,
        "certificate": base64.b64encode(citizen.cer).decode(),
        "signature": sign(citizen, text),
    }
    assert http.post(f"{gateway_url}/v1/citizen/login", json=body).status_code == 200
    replayed = http.post(f"{gateway_url}/v1/citizen/login", json=body)
    _refused(replayed, "citizen.challenge_reused")


def test_junk_costs_neither_a_write_nor_an_ocsp_request(dev, sat, valid_efirmas, counting_ocsp):
    """With a citizen's public certificate and a junk signature, or a certificate that is
    wrong before revocation matters, nothing is written and SAT is not asked; the challenge
    stays good for the citizen, whose login uses it up and asks SAT exactly once."""
    ocsp_url, asked = counting_ocsp
    citizen = valid_efirmas[0]
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with (
        running(dev.settings.model_copy(update={"citizen_ocsp_url": ocsp_url})) as url,
        httpx.Client(verify=context, timeout=15) as client,
    ):
        text = challenge(client, url)
        junk = {
            "challenge": text,
            "certificate": base64.b64encode(citizen.cer).decode(),
            "signature": base64.b64encode(bytes(256)).decode(),
        }
        for _ in range(3):
            _refused(client.post(f"{url}/v1/citizen/login", json=junk), "citizen.bad_signature")
        for wanted, code in (
            ({"kind": "efirma", "persona": "fisica", "state": "expired"}, "efirma.expired"),
            ({"kind": "csd", "persona": "fisica", "state": "valid"}, "efirma.is_csd"),
        ):
            _refused(login_response(client, url, credential(sat, **wanted), text=text), code)
        assert asked == [] and _challenges_used(dev) == 0

        _refused(login_response(client, url, citizen, text=text), "ocsp.http_error", 503)
        assert len(asked) == 1 and _challenges_used(dev) == 1
        # A replay of that valid attempt finds the challenge used, before asking SAT again.
        _refused(login_response(client, url, citizen, text=text), "citizen.challenge_reused")
        assert len(asked) == 1


def test_the_offline_check_asks_no_one_and_is_never_valid(sat, valid_efirmas):
    citizen = valid_efirmas[0]
    certificate = efirma.parse_certificate(citizen.cer)
    trust = load_trust(sat.trust_dir)
    now = dt.datetime.now(dt.UTC)
    signature = base64.b64decode(sign(citizen, "hola"))
    good = validation.check_offline(
        certificate, trust=trust, at=now, signature=(signature, b"hola")
    )
    assert good.codes == ("ocsp.not_checked",) and good.signed is True
    assert good.verdict == "indeterminate" and not good.valid
    assert auth.refusal(good) is None
    forged = validation.check_offline(certificate, trust=trust, at=now, signature=(signature, b"x"))
    refused = auth.refusal(forged)
    assert refused is not None and refused.code == "citizen.bad_signature"


def test_challenges_and_logins_are_limited_per_client_address(dev, valid_efirmas):
    citizen = valid_efirmas[0]
    limited = dev.settings.model_copy(
        # One attempt regained every 10 minutes: however slowly this runs, none comes back.
        update={"citizen_attempts_burst": 3, "citizen_attempts_per_minute": 0.1}
    )
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with running(limited) as url, httpx.Client(verify=context, timeout=15) as client:
        first, second = challenge(client, url), challenge(client, url)
        assert login_response(client, url, citizen, text=first).status_code == 200
        for response in (
            client.post(f"{url}/v1/citizen/challenge"),
            login_response(client, url, citizen, text=second),
        ):
            _refused(response, "citizen.rate_limited", 429)
            assert 1 <= int(response.headers["retry-after"]) <= 600
        # Only the unauthenticated, costly endpoints are limited.
        assert client.get(f"{url}/v1/citizen/agencies").status_code == 200


def test_deeply_nested_json_is_a_bad_request(gateway_url, http):
    for body in (b"[" * 30_000, b'{"a":' * 6_000):
        response = http.post(f"{gateway_url}/v1/citizen/login", content=body)
        _refused(response, "citizen.bad_request", 400)


def test_the_citizen_keys_come_from_the_gateway_not_from_disk(dev):
    gateway = Gateway(dev.settings)
    try:
        dev.pki.pseudonym_key.rename(dev.pki.pseudonym_key.with_suffix(".moved"))
        service = citizen_api.CitizenService(gateway)
        key = auth.derive_key(gateway.pseudonym_key, "challenge")
        sealer = auth.ChallengeSealer(key, dev.settings.instance, ttl=60)
        now = time.time()
        assert sealer.open(service.challenges.issue(now).text, now)
    finally:
        gateway.db.dispose()


def test_expired_and_forged_challenges_are_refused(dev, gateway_url, http, valid_efirmas):
    secret = dev.pki.pseudonym_key.read_bytes()
    sealer = auth.ChallengeSealer(
        auth.derive_key(secret, "challenge"), dev.settings.instance, ttl=60
    )
    stale = sealer.issue(time.time() - 61).text
    _refused(
        login_response(http, gateway_url, valid_efirmas[0], text=stale), "citizen.challenge_expired"
    )
    other_key = auth.ChallengeSealer(b"k" * 32, dev.settings.instance, ttl=60)
    forged = other_key.issue(time.time()).text
    _refused(
        login_response(http, gateway_url, valid_efirmas[0], text=forged),
        "citizen.challenge_invalid",
    )


def test_malformed_and_oversized_logins_are_refused(gateway_url, http):
    text = challenge(http, gateway_url)
    url = f"{gateway_url}/v1/citizen/login"
    bad = {"challenge": text, "certificate": "not base64!", "signature": "AAAA"}
    _refused(http.post(url, json=bad), "citizen.bad_request", 400)
    _refused(http.post(url, content=b"{not json"), "citizen.bad_request", 400)
    huge = {"challenge": text, "certificate": "A" * 40_000, "signature": "AAAA"}
    _refused(http.post(url, json=huge), "citizen.body_too_large", 413)
    garbage = {"challenge": text, "certificate": "AAAA", "signature": "AAAA"}
    _refused(http.post(url, json=garbage), "efirma.malformed")


def _login_elsewhere(dev, citizen: Efirma, **changes: object) -> httpx.Response:
    """Log in at a second gateway of the same instance, configured differently."""
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with (
        running(dev.settings.model_copy(update=changes)) as url,
        httpx.Client(verify=context, timeout=15) as client,  # closed before the server stops
    ):
        return login_response(client, url, citizen)


def test_revocation_that_cannot_be_checked_fails_closed(dev, valid_efirmas):
    nobody = f"http://127.0.0.1:{free_port()}/"
    response = _login_elsewhere(dev, valid_efirmas[0], citizen_ocsp_url=nobody)
    _refused(response, "ocsp.unavailable", 503)


def test_login_is_unavailable_without_an_ocsp_responder(dev, valid_efirmas):
    response = _login_elsewhere(dev, valid_efirmas[0], citizen_ocsp_url=None)
    _refused(response, "citizen.unavailable", 503)


def test_sat_password_protected_key_is_what_the_page_opens(sat):
    """The dev credentials are SAT-format keys: PBES2 with 3DES, opened only by the password."""
    citizen: Efirma = credential(sat, kind="efirma", persona="fisica", state="valid")
    assert sign(citizen, "x")
    wrong = dataclasses.replace(citizen, password=devpki.PASSWORD + "!")
    with pytest.raises(Exception, match="password"):
        sign(wrong, "x")
