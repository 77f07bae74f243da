"""The foundation flow over real HTTPS: one allowed exchange and every refusal, each ledgered."""

from __future__ import annotations

import datetime as dt
import ssl
import time

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap, devca
from gateway.kernel import pki
from gateway.kernel.ids import MemberId
from gateway.kernel.protocol import evidence, signing
from gateway.kernel.protocol import headers as h
from gateway.server.run import free_port, running
from gateway.storage import registry
from gateway.storage.db import certificates, ledger_entries, ledger_state, registry_state
from services.sdk import EnlaceClient, NotFound, ResponseVerificationError
from tests.e2e.helpers import Call, error_code, ledger_entry


def _active(people):
    return next(p for p in people if p.estatus_curp == "AN")


def _wait_for_registry(http: httpx.Client, url: str, version: int) -> None:
    deadline = time.monotonic() + 120  # generous: polls end as soon as it holds
    while http.get(f"{url}/healthz").json()["registry_version"] < version:
        assert time.monotonic() < deadline, "gateway did not reload the registry"
        time.sleep(0.1)


def _refused(dev, response: httpx.Response, code: str, status: int) -> dict:
    """Assert a refusal's status, code, headers, and that the ledger recorded it as such."""
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.headers[h.ERROR] == code
    assert "evidence" not in response.json()
    entry = ledger_entry(dev.database, int(response.headers[h.LEDGER_INDEX]))
    assert entry["kind"] == "exchange"
    assert entry["error"] == code
    assert entry["outcome"] == "refused"
    assert entry["status"] == status
    assert entry["request_hash"] == response.headers[h.REQUEST_HASH]
    return entry


def test_allowed_exchange_is_verified_and_ledgered(dev, gateway_url, people):
    citizen = _active(people)
    with EnlaceClient.from_pki(gateway_url, str(bootstrap.BECAS), dev.pki.root) as client:
        result = client.call(
            str(bootstrap.CURP_SERVICE),
            subject=citizen.curp,
            purpose=bootstrap.BECAS_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000123",
            issue="BECA-2026-7",
        )
    assert result.data["curp"] == citizen.curp
    assert result.data["statusCurp"] == "AN"
    # The evidence is portable: it verifies again with nothing but the CA certificate.
    again = evidence.verify(result.evidence.token, dev.pki.load_ca().cert)
    assert again.claims["exchange_id"] == result.exchange_id
    assert again.claims["client"] == str(bootstrap.BECAS)

    entry = ledger_entry(dev.database, result.ledger_index)
    assert entry["outcome"] == "allowed" and entry["status"] == 200
    assert entry["client"] == str(bootstrap.BECAS) and entry["client_verified"] is True
    assert entry["service"] == str(bootstrap.CURP_SERVICE)
    assert (entry["purpose"], entry["legal_basis"]) == (
        bootstrap.BECAS_PURPOSE,
        bootstrap.BECAS_LEGAL_BASIS,
    )
    assert (entry["user_id"], entry["issue"]) == ("MX-SEP-000123", "BECA-2026-7")
    assert entry["exchange_id"] == result.exchange_id
    assert entry["received_at"] <= entry["responded_at"]
    assert entry["response_size"] > 0 and entry["request_size"] == 0
    # The subject is only a keyed pseudonym: the CURP is nowhere in the ledger.
    secret = dev.pki.pseudonym_key.read_bytes()
    from gateway.kernel.ledger.record import pseudonym

    assert entry["subjects"] == [pseudonym(secret, citizen.curp)]
    with dev.database.read.connect() as conn:
        bodies = conn.execute(sa.select(ledger_entries.c.body)).scalars().all()
    assert all(citizen.curp not in body for body in bodies)


def test_tampered_body_is_refused(dev, gateway_url, http, sep, people):
    call = Call(
        gateway_url, sep, method="POST", body=b'{"a":1}', headers={h.SUBJECT: _active(people).curp}
    ).sign()
    call.body = b'{"a":2}'
    _refused(dev, call.send(http), "Client.DigestMismatch", 401)


def test_tampered_header_is_refused(dev, gateway_url, http, sep, people):
    call = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
    call.headers[h.PURPOSE] = "otro-proposito"
    entry = _refused(dev, call.send(http), "Client.InvalidSignature", 401)
    assert entry["client_verified"] is False


def test_wrong_key_is_refused(dev, gateway_url, http, sep, people):
    stranger = devca.issue_signing_cert(dev.pki.load_ca(), bootstrap.BECAS.member)
    headers = {h.SUBJECT: _active(people).curp}
    # A valid certificate that was never registered.
    unregistered = Call(gateway_url, stranger, headers=headers).sign()
    _refused(dev, unregistered.send(http), "Client.UnknownKey", 401)
    # A registered keyid, but the signature made with another key.
    forged = Call(gateway_url, stranger, headers=dict(headers)).sign(keyid=pki.keyid(sep.cert))
    _refused(dev, forged.send(http), "Client.InvalidSignature", 401)


def test_key_of_another_member_is_refused(dev, gateway_url, http, sep, people):
    call = Call(
        gateway_url,
        sep,
        client=str(bootstrap.PASAPORTES),
        headers={h.SUBJECT: _active(people).curp},
    ).sign()
    _refused(dev, call.send(http), "Client.ClientMismatch", 403)


def test_expired_certificate_is_refused(dev, gateway_url, http, people):
    now = dt.datetime.now(dt.UTC)
    old = devca.issue_signing_cert(
        dev.pki.load_ca(),
        bootstrap.BECAS.member,
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=1),
    )
    # Registration refuses expired certificates, so simulate one that expired after it.
    with pytest.raises(registry.RegistryError):
        registry.add_certificate(
            dev.database, bootstrap.BECAS.member, old.cert, dev.pki.load_ca().cert
        )
    with dev.database.write.begin() as conn:
        conn.execute(
            sa.insert(certificates).values(
                keyid=pki.keyid(old.cert),
                member_id=str(bootstrap.BECAS.member),
                pem=pki.cert_pem(old.cert),
                not_after=old.cert.not_valid_after_utc,
                created_at=now,
            )
        )
        version = conn.execute(
            sa.update(registry_state)
            .values(version=registry_state.c.version + 1)
            .returning(registry_state.c.version)
        ).scalar_one()
    _wait_for_registry(http, gateway_url, version)
    call = Call(gateway_url, old, headers={h.SUBJECT: _active(people).curp}).sign()
    _refused(dev, call.send(http), "Client.CertificateExpired", 401)


def test_revoked_certificate_is_refused(dev, gateway_url, http, sep, people):
    registry.revoke_certificate(dev.database, pki.keyid(sep.cert), "key compromise")
    with dev.database.read.connect() as conn:
        version = registry.version(conn)
    _wait_for_registry(http, gateway_url, version)
    call = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
    _refused(dev, call.send(http), "Client.CertificateRevoked", 401)


def test_replayed_request_is_refused(dev, gateway_url, http, sep, people):
    call = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
    first = call.send(http)
    assert first.status_code == 200, first.text
    again = _refused(dev, call.send(http), "Client.Replay", 409)
    # Anyone holding a copy can send it again: neither the client nor the citizen is recorded
    # as verified (the citizen's log shows only the exchange that happened).
    assert again["client_verified"] is False and again["subjects"] == []
    # A fresh signature with a reused X-Road-Id is a replay too.
    reuse = Call(
        gateway_url, sep, headers={h.SUBJECT: _active(people).curp, h.ID: call.headers[h.ID]}
    )
    _refused(dev, reuse.sign().send(http), "Client.Replay", 409)


def test_a_request_accepted_before_a_restart_is_refused_after_it(dev, http, sep, people):
    # The same port both times: the signature covers the authority, so the bytes stay valid.
    port = free_port()
    with running(dev.settings, port=port) as url:
        call = Call(url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
        first = call.send(http)
        assert first.status_code == 200, first.text
    with running(dev.settings, port=port):
        _refused(dev, call.send(http), "Client.Replay", 409)


def test_stale_signature_is_refused(dev, gateway_url, http, sep, people):
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=signing.MAX_AGE_SECONDS + 30)
    call = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign(created=created)
    _refused(dev, call.send(http), "Client.SignatureExpired", 401)


def test_missing_grant_is_refused(dev, gateway_url, http, people):
    sre = dev.pki.load_pair(dev.pki.member(bootstrap.PASAPORTES.member))
    call = Call(
        gateway_url,
        sre,
        client=str(bootstrap.PASAPORTES),
        headers={h.SUBJECT: _active(people).curp},
    ).sign()
    entry = _refused(dev, call.send(http), "Client.AccessDenied", 403)
    assert entry["client_verified"] is True


def test_purpose_and_legal_basis_must_be_granted(dev, gateway_url, http, sep, people):
    subject = {h.SUBJECT: _active(people).curp}
    wrong_purpose = Call(gateway_url, sep, headers={**subject, h.PURPOSE: "mercadotecnia"})
    _refused(dev, wrong_purpose.sign().send(http), "Client.PurposeNotGranted", 403)
    wrong_basis = Call(gateway_url, sep, headers={**subject, h.LEGAL_BASIS: "ninguna"})
    _refused(dev, wrong_basis.sign().send(http), "Client.LegalBasisNotGranted", 403)


def test_revoked_grant_is_refused(dev, gateway_url, http, sep, people):
    registry.revoke_grant(dev.database, bootstrap.BECAS, bootstrap.CURP_SERVICE)
    with dev.database.read.connect() as conn:
        version = registry.version(conn)
    _wait_for_registry(http, gateway_url, version)
    call = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
    _refused(dev, call.send(http), "Client.AccessDenied", 403)


def test_malformed_requests_are_refused_and_recorded(dev, gateway_url, http, sep, people):
    subject = {h.SUBJECT: _active(people).curp}
    bad_curp = Call(gateway_url, sep, headers={h.SUBJECT: "RUTA030715MOCZPNA3"}).sign()
    entry = _refused(dev, bad_curp.send(http), "Client.InvalidSubject", 400)
    assert entry["subjects"] == []
    missing = Call(gateway_url, sep, headers=subject).sign()
    del missing.headers[h.ISSUE]
    _refused(dev, missing.send(http), "Client.MissingHeader", 400)
    unknown = Call(gateway_url, sep, service="MX/GOB/RENAPO/curp/no-such-service", headers=subject)
    _refused(dev, unknown.sign().send(http), "Client.UnknownService", 404)
    bad_id = Call(gateway_url, sep, service="MX/GOB/RENAPO/curp/../x", headers=subject)
    response = http.get(bad_id.url.replace("/../", "/%2E%2E/"), headers=bad_id.headers)
    assert response.status_code == 400 and error_code(response) == "Client.InvalidIdentifier"
    big = Call(
        gateway_url, sep, method="POST", body=b"x" * (dev.settings.max_body + 1), headers=subject
    )
    _refused(dev, big.sign().send(http), "Client.BodyTooLarge", 413)
    unsigned = Call(gateway_url, sep, headers=subject)
    # Issue 8: a missing signature header is a missing header, not a bad signature.
    _refused(dev, unsigned.send(http), "Client.MissingHeader", 400)
    twice = Call(gateway_url, sep, headers=subject).sign()
    raw = list(twice.headers.items()) + [(h.CLIENT, str(bootstrap.PASAPORTES))]
    response = http.request("GET", twice.url, headers=raw)
    _refused(dev, response, "Client.InvalidHeader", 400)


def test_unknown_curp_is_a_clean_not_found(dev, gateway_url, people):
    known = {p.curp for p in people}
    unknown = "RUTA030715MOCZPNA2"
    assert unknown not in known
    client = EnlaceClient.from_pki(gateway_url, str(bootstrap.BECAS), dev.pki.root)
    with client, pytest.raises(NotFound) as caught:
        client.call(
            str(bootstrap.CURP_SERVICE),
            subject=unknown,
            purpose=bootstrap.BECAS_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000123",
            issue="BECA-2026-8",
        )
    assert caught.value.code == "Source.NotFound"
    entry = ledger_entry(dev.database, caught.value.ledger_index)
    assert entry["outcome"] == "not_found" and entry["client_verified"] is True


def test_ledger_failure_fails_closed(dev, gateway_url, http, sep, people):
    """If the ledger cannot record the exchange, no data leaves and nothing is half-written."""
    with dev.database.write.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER no_ledger BEFORE INSERT ON ledger_entries "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    call = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
    response = call.send(http)
    assert response.status_code == 503
    assert error_code(response) == "Server.LedgerUnavailable"
    assert "evidence" not in response.json() and h.LEDGER_INDEX not in response.headers
    with dev.database.write.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER no_ledger")
    with dev.database.read.connect() as conn:
        size = conn.execute(sa.select(ledger_state.c.size)).scalar_one()
        rows = conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar_one()
    assert size == rows
    retry = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign()
    ok = retry.send(http)
    assert ok.status_code == 200 and int(ok.headers[h.LEDGER_INDEX]) == size


def test_sdk_rejects_a_tampered_response(dev, gateway_url, people):
    """A response altered in transit fails the gateway signature check in the SDK."""

    class Tamper(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if "/r1/" not in str(request.url):
                return response
            response.read()
            content = response.content.replace(b'"service":"MX', b'"service":"XX')
            assert content != response.content
            return httpx.Response(response.status_code, headers=response.headers, content=content)

    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    folder = dev.pki
    client = EnlaceClient(
        gateway_url,
        str(bootstrap.BECAS),
        signer=folder.load_pair(folder.member(bootstrap.BECAS.member)),
        ca_cert=folder.load_ca().cert,
        transport=Tamper(verify=context),
    )
    with client, pytest.raises(ResponseVerificationError):
        client.call(
            str(bootstrap.CURP_SERVICE),
            subject=_active(people).curp,
            purpose=bootstrap.BECAS_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000123",
            issue="BECA-2026-9",
        )


def test_unregistered_member_certificate_cannot_be_registered_for_another(dev):
    other = devca.issue_signing_cert(dev.pki.load_ca(), MemberId.parse("MX/GOB/SRE"))
    with pytest.raises(registry.RegistryError) as caught:
        registry.add_certificate(
            dev.database, bootstrap.BECAS.member, other.cert, dev.pki.load_ca().cert
        )
    assert caught.value.code == "registry.bad_certificate"


def test_health_and_metrics_endpoints(dev, gateway_url, http, sep, people):
    assert http.get(f"{gateway_url}/livez").json() == {"status": "live"}
    assert http.get(f"{gateway_url}/healthz").json()["status"] == "ok"
    ok = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp}).sign().send(http)
    assert ok.status_code == 200
    refused = Call(gateway_url, sep, headers={h.SUBJECT: _active(people).curp, h.PURPOSE: "x"})
    assert refused.sign().send(http).status_code == 403
    metrics = http.get(f"{gateway_url}/metrics").text
    assert 'enlace_exchanges_total{outcome="allowed"} 1.0' in metrics
    assert 'enlace_exchanges_total{outcome="refused"} 1.0' in metrics
    assert _active(people).curp not in metrics


def test_unverified_requests_never_reach_a_citizens_log(dev, gateway_url, http, sep, people):
    """Without a valid signature the entry is written, but not under the named citizen."""
    call = Call(
        gateway_url,
        sep,
        client="MX/GOB/FGR/investigaciones",
        headers={h.SUBJECT: _active(people).curp},
    ).sign()
    call.headers[h.SIGNATURE] = "enlace=:" + "A" * 86 + "==:"  # well formed, not valid
    entry = _refused(dev, call.send(http), "Client.InvalidSignature", 401)
    assert entry["subjects"] == [] and entry["client_verified"] is False


def test_key_status_is_told_only_to_the_key_holder(dev, gateway_url, http, sep, people):
    registry.revoke_certificate(dev.database, pki.keyid(sep.cert), "superseded")
    with dev.database.read.connect() as conn:
        _wait_for_registry(http, gateway_url, registry.version(conn))
    stranger = devca.issue_signing_cert(dev.pki.load_ca(), bootstrap.BECAS.member)
    forged = Call(gateway_url, stranger, headers={h.SUBJECT: _active(people).curp})
    response = forged.sign(keyid=pki.keyid(sep.cert)).send(http)
    _refused(dev, response, "Client.InvalidSignature", 401)


def test_covert_grant_hides_refused_exchanges_too(dev, gateway_url, http, people):
    until = dt.date.today() + dt.timedelta(days=90)
    registry.grant(
        dev.database,
        bootstrap.PASAPORTES,
        bootstrap.CURP_SERVICE,
        ["investigacion"],
        ["CNPP-251"],
        until,
    )
    with dev.database.read.connect() as conn:
        _wait_for_registry(http, gateway_url, registry.version(conn))
    sre = dev.pki.load_pair(dev.pki.member(bootstrap.PASAPORTES.member))
    call = Call(
        gateway_url,
        sre,
        client=str(bootstrap.PASAPORTES),
        headers={h.SUBJECT: _active(people).curp, h.PURPOSE: "otra", h.LEGAL_BASIS: "CNPP-251"},
    )
    entry = _refused(dev, call.sign().send(http), "Client.PurposeNotGranted", 403)
    assert entry["hidden_until"] == until.isoformat()


def test_oversized_and_nested_input_is_refused_cleanly(dev, gateway_url, http, sep, people):
    subject = {h.SUBJECT: _active(people).curp}
    huge = Call(gateway_url, sep, headers={**subject, "X-Padding": "x" * 40_000}).sign()
    _refused(dev, huge.send(http), "Client.BadRequest", 400)
    long_input = Call(gateway_url, sep, headers=subject).sign()
    long_input.headers["Signature-Input"] += ";tag=" + '"' + "a" * 3000 + '"'
    _refused(dev, long_input.send(http), "Client.InvalidSignature", 401)
    nested = Call(
        gateway_url,
        sep,
        service="MX/GOB/RENAPO/curp/consulta-datos/v1",
        method="POST",
        body=b"[" * 30_000,
        headers={h.SUBJECT: h.UNKNOWN_SUBJECT},
    )
    _refused(dev, nested.sign().send(http), "Client.InvalidBody", 400)
