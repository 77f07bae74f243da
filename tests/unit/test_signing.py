"""The RFC 9421 profile: what is covered, what breaks a signature, and the request hash."""

import datetime as dt

import pytest

from gateway.devtools import devca
from gateway.kernel import pki
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import MemberId
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import replay, signing

URL = "https://gateway.example:8443/r1/MX/GOB/RENAPO/curp/consulta-curp/v1"


@pytest.fixture(scope="module")
def member() -> pki.KeyPair:
    return devca.issue_signing_cert(devca.create_ca("MX"), MemberId.parse("MX/GOB/SEP"))


def _request(member: pki.KeyPair, body: bytes = b"", **overrides) -> signing.Request:
    headers = {
        h.CLIENT: "MX/GOB/SEP/becas",
        h.ID: "3f8b",
        h.USER_ID: "MX-SEP-1",
        h.ISSUE: "BECA-1",
        h.SUBJECT: "RUTA030715MOCZPNA2",
        h.PURPOSE: "becas-inscripcion",
        h.LEGAL_BASIS: "LGE-art-8",
    }
    request = signing.Request("POST", URL, headers)
    signing.sign_request(request, body, key=member.key, key_id=pki.keyid(member.cert), **overrides)
    return request


def _verify(member, request, body=b""):
    signing.verify_request(
        request, body, key=member.cert.public_key(), key_id=pki.keyid(member.cert)
    )


def test_signature_covers_method_target_digest_and_every_protocol_header(member):
    request = _request(member, b"{}")
    params = signing.read_params(request.headers)
    assert params.covered == signing.REQUEST_COMPONENTS
    assert params.alg == "ecdsa-p256-sha256" and len(params.nonce) >= 16
    assert request.headers["Content-Digest"].startswith("sha-256=:")
    _verify(member, request, b"{}")


@pytest.mark.parametrize(
    "header", [h.CLIENT, h.ID, h.USER_ID, h.ISSUE, h.SUBJECT, h.PURPOSE, h.LEGAL_BASIS]
)
def test_changing_any_covered_header_breaks_the_signature(member, header):
    request = _request(member)
    request.headers[header] = request.headers[header] + "x"
    with pytest.raises(EnlaceError) as caught:
        _verify(member, request)
    assert caught.value.code == "Client.InvalidSignature"


def test_method_target_and_body(member):
    for change in ("method", "url"):
        request = _request(member)
        if change == "method":
            request.method = "GET"
        else:
            request.url = URL.replace("consulta-curp", "consulta-acta")
        with pytest.raises(EnlaceError, match="InvalidSignature"):
            _verify(member, request)
    with pytest.raises(EnlaceError) as caught:
        _verify(member, _request(member, b'{"a":1}'), b'{"a":2}')
    assert caught.value.code == "Client.DigestMismatch"


def test_other_key_fails(member):
    other = devca.issue_signing_cert(devca.create_ca("MX"), MemberId.parse("MX/GOB/SEP"))
    request = _request(member)
    with pytest.raises(EnlaceError, match="InvalidSignature"):
        signing.verify_request(
            request, b"", key=other.cert.public_key(), key_id=pki.keyid(member.cert)
        )


def test_created_window(member):
    now = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)  # checked at this time, not the clock's
    for offset in (-(signing.MAX_AGE_SECONDS + 5), signing.MAX_SKEW_SECONDS + 5):
        request = _request(member, created=now + dt.timedelta(seconds=offset))
        with pytest.raises(EnlaceError) as caught:
            signing.check_created(signing.read_params(request.headers), now.timestamp())
        assert caught.value.code == "Client.SignatureExpired"
    signing.check_created(
        signing.read_params(_request(member, created=now).headers), now.timestamp()
    )


@pytest.mark.parametrize(
    "signature_input",
    [
        "",
        "garbage(((",
        'other=("@method");created=1;keyid="k";nonce="abcdefghij"',
        'enlace=("@method");keyid="k";nonce="abcdefghij"',
        'enlace=("@method");created=1;keyid="k";nonce="short"',
    ],
)
def test_unusable_signature_input(signature_input):
    headers = {"Signature-Input": signature_input, "Signature": "enlace=:AAAA:"}
    with pytest.raises(EnlaceError) as caught:
        signing.read_params(headers)
    assert caught.value.code == "Client.InvalidSignature"


def test_request_hash_binds_the_signature(member):
    a, b = _request(member), _request(member)
    assert signing.request_hash(a.headers) != signing.request_hash(b.headers)
    assert signing.request_hash(a.headers) == signing.request_hash(
        {k.lower(): v for k, v in a.headers.items()}
    )


def test_response_signature_round_trip(member):
    response = signing.Response(
        200, {"Content-Type": "application/json", h.ID: "x", h.REQUEST_HASH: "y"}
    )
    signing.sign_response(response, b"{}", key=member.key, key_id="gw")
    signing.verify_response(response, b"{}", key=member.cert.public_key(), key_id="gw")
    response.status_code = 403
    with pytest.raises(EnlaceError):
        signing.verify_response(response, b"{}", key=member.cert.public_key(), key_id="gw")


def test_replay_cache_remembers_for_the_window():
    cache = replay.ReplayCache(window_seconds=10, max_entries=3)
    assert cache.first_use("n:a", "i:a", now=0)
    assert not cache.first_use("n:a", "i:b", now=5)
    assert not cache.first_use("n:c", "i:a", now=5)
    assert cache.first_use("n:a", "i:a", now=11)  # expired, usable again
    assert not cache.first_use("n:x", "i:x", now=12)  # full of live entries: fail closed


def test_a_seeded_replay_cache_refuses_what_it_was_seeded_with():
    cache = replay.ReplayCache(window_seconds=10, max_entries=3)
    assert cache.seed(["i:a", "i:b", "i:c", "i:d"], now=0) == 3  # bounded like any use
    assert not cache.first_use("n:1", "i:a", now=5)
    assert cache.first_use("n:2", "i:z", now=11)  # seeded keys expire with the window
