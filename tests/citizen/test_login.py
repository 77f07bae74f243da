"""Citizen login with e.firma over real HTTPS, against the SAT dev PKI and a live OCSP responder."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import ssl
import time

import httpx
import pytest
import sqlalchemy as sa

from gateway import bootstrap
from gateway.citizen import auth
from gateway.db import ledger_state
from gateway.ledger import record, store
from gateway.server.run import free_port, running
from tests.citizen.helpers import (
    Efirma,
    challenge,
    credential,
    error_code,
    login_response,
    sign,
)
from trusted_sources.sat import devpki


def _ledger_size(dev: bootstrap.DevInstance) -> int:
    with dev.database.read.connect() as conn:
        return conn.execute(sa.select(ledger_state.c.size)).scalar_one()


def _refused(response: httpx.Response, code: str, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.headers["cache-control"] == "no-store"


def test_valid_efirma_logs_in_and_the_login_is_ledgered(
    dev, gateway_url, http, valid_efirmas, caplog
):
    citizen = valid_efirmas[0]
    before = _ledger_size(dev)
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
    with dev.database.read.connect() as conn:
        index, entry = store.tail(conn, 1)[0]
    assert index == before
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


def test_a_failed_attempt_uses_the_challenge_up(gateway_url, http, valid_efirmas):
    citizen = valid_efirmas[0]
    text = challenge(http, gateway_url)
    wrong = login_response(http, gateway_url, citizen, text=text, signed=text + "x")
    _refused(wrong, "citizen.bad_signature")
    _refused(login_response(http, gateway_url, citizen, text=text), "citizen.challenge_reused")


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
        running(dataclasses.replace(dev.settings, **changes)) as url,
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
