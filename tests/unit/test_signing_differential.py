"""The lean RFC 9421 profile against the ``http-message-signatures`` library (a test dependency).

On many random requests and responses, in both directions: what the kernel signs verifies with
the library, what the library signs verifies with the kernel, and both build the same signature
base from the same message.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing

KEYS = {
    signing.ECDSA_P256: ec.generate_private_key(ec.SECP256R1()),
    signing.ED25519: ed25519.Ed25519PrivateKey.generate(),
}
LIBRARY_ALGORITHMS = {
    signing.ECDSA_P256: algorithms.ECDSA_P256_SHA256,
    signing.ED25519: algorithms.ED25519,
}
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Key(HTTPSignatureKeyResolver):
    def __init__(self, key: Any) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> Any:
        return self.key

    def resolve_public_key(self, key_id: str) -> Any:
        return self.key.public_key()


_PART = st.text(string.ascii_letters + string.digits, min_size=1, max_size=12)
_PRINTABLE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
).map(lambda s: s.replace("%", "p"))
_URLS = st.builds(
    lambda host, port, parts, query: f"https://{host.lower()}:{port}/r1/{'/'.join(parts)}{query}",
    _PART,
    st.integers(1025, 65535),
    st.lists(_PART, min_size=5, max_size=8),
    st.sampled_from(["", "?a=1", "?curp=X&x=y%20z"]),
)
_REQUEST_HEADERS = st.fixed_dictionaries(
    {name: _PRINTABLE for name in h.REQUIRED_REQUEST},
)
_ALGS = st.sampled_from(sorted(KEYS))
_BODIES = st.binary(max_size=300)
_NONCES = st.text(string.ascii_letters + string.digits + "-_", min_size=8, max_size=64)
_CREATED = st.integers(1_700_000_000, 2_000_000_000).map(
    lambda s: dt.datetime.fromtimestamp(s, dt.UTC)
)
_KEYIDS = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=43)


def _library_verify(message: Any, key: Any, alg: str, covered: tuple[str, ...]) -> bytes:
    """Verify with the library; the signature base it verified."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=LIBRARY_ALGORITHMS[alg], key_resolver=_Key(key)
    )
    verifier.max_clock_skew = dt.timedelta(days=36500)
    (result,) = verifier.verify(message, max_age=None, expect_tag=None, require_components=covered)
    assert tuple(result.covered_components)[:-1] == tuple(f'"{c}"' for c in covered)
    return "\n".join(f"{k}: {v}" for k, v in result.covered_components.items()).encode()


def _library_sign(message: Any, key: Any, alg: str, body: bytes, **params: Any) -> None:
    signer = HTTPMessageSigner(signature_algorithm=LIBRARY_ALGORITHMS[alg], key_resolver=_Key(key))
    signer.sign(message, label=signing.LABEL, body=body, **params)


@EXAMPLES
@given(
    _URLS,
    _REQUEST_HEADERS,
    _BODIES,
    _ALGS,
    _NONCES,
    _CREATED,
    _KEYIDS,
    st.sampled_from(["GET", "POST"]),
)
def test_kernel_signed_requests_verify_with_the_library(
    url, headers, body, alg, nonce, created, keyid, method
):
    key = KEYS[alg]
    request = signing.Request(method, url, dict(headers))
    signing.sign_request(request, body, key=key, key_id=keyid, nonce=nonce, created=created)
    lowered = h.HeaderMap(request.headers.items())
    ours = signing.request_base(method, url, lowered, signing.read_params(lowered))
    assert _library_verify(request, key, alg, signing.REQUEST_COMPONENTS) == ours


@EXAMPLES
@given(
    _URLS,
    _REQUEST_HEADERS,
    _BODIES,
    _ALGS,
    _NONCES,
    _CREATED,
    _KEYIDS,
    st.sampled_from(["GET", "POST"]),
)
def test_library_signed_requests_verify_with_the_kernel(
    url, headers, body, alg, nonce, created, keyid, method
):
    key = KEYS[alg]
    request = signing.Request(method, url, dict(headers))
    _library_sign(
        request,
        key,
        alg,
        body,
        key_id=keyid,
        nonce=nonce,
        created=created,
        covered_component_ids=signing.REQUEST_COMPONENTS,
    )
    signing.verify_request(request, body, key=key.public_key(), key_id=keyid)
    lowered = h.HeaderMap(request.headers.items())
    ours = signing.request_base(method, url, lowered, signing.read_params(lowered))
    assert _library_verify(request, key, alg, signing.REQUEST_COMPONENTS) == ours
    with pytest.raises(signing.EnlaceError) as wrong:
        signing.verify_request(request, body + b"x", key=key.public_key(), key_id=keyid)
    assert wrong.value.code == "Client.DigestMismatch"


_RESPONSE_HEADERS = st.fixed_dictionaries(
    {
        "Content-Type": st.sampled_from(["application/json", "application/problem+json"]),
        h.ID: _PRINTABLE,
        h.REQUEST_HASH: _PRINTABLE,
    },
    optional={h.LEDGER_INDEX: st.integers(0, 10**9).map(str), h.RECEIPT: _PRINTABLE},
)


def _response_covered(headers: dict[str, str]) -> tuple[str, ...]:
    present = {k.lower() for k in headers}
    optional = tuple(c for c in signing.OPTIONAL_RESPONSE_COMPONENTS if c in present)
    return signing.RESPONSE_COMPONENTS + optional


@EXAMPLES
@given(
    st.sampled_from([200, 400, 401, 403, 404, 405, 409, 413, 502, 503]),
    _RESPONSE_HEADERS,
    _BODIES,
    _ALGS,
    _KEYIDS,
)
def test_responses_verify_both_ways(status, headers, body, alg, keyid):
    key = KEYS[alg]
    ours = signing.Response(status, dict(headers))
    signing.sign_response(ours, body, key=key, key_id=keyid)
    covered = _response_covered(headers)
    lowered = h.HeaderMap(ours.headers.items())
    base = signing.response_base(status, lowered, signing.read_response_params(lowered))
    assert _library_verify(ours, key, alg, covered) == base
    theirs = signing.Response(status, dict(headers))
    _library_sign(theirs, key, alg, body, key_id=keyid, covered_component_ids=covered)
    signing.verify_response(theirs, body, key=key.public_key(), key_id=keyid)
    assert signing.response_keyid(theirs.headers) == keyid
    lowered = h.HeaderMap(theirs.headers.items())
    base = signing.response_base(status, lowered, signing.read_response_params(lowered))
    assert _library_verify(theirs, key, alg, covered) == base
