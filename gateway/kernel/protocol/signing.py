"""RFC 9421 HTTP Message Signatures with RFC 9530 Content-Digest, as Enlace profiles them.

Both sides live here so that the consumer SDK and the gateway can never drift apart:

* a request is signed over ``@method``, ``@target-uri``, ``content-digest`` and every Enlace
  header, with ``created``, ``nonce``, ``keyid`` and ``alg``, under the label ``enlace``;
* a response is signed over ``@status``, ``content-digest``, ``content-type``, ``x-road-id``
  and ``x-road-request-hash`` (and the ledger receipt headers when present);
* ``X-Road-Request-Hash`` is base64(SHA-512(Signature-Input value, LF, Signature value)) of
  the request: the request's signature already commits to everything the request said.

The cryptography and the structured-field parsing are the ``http-message-signatures`` library's;
this module only fixes the profile and turns failures into protocol error codes.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from gateway.kernel.encoding import b64encode
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import headers as h

LABEL = "enlace"
REQUEST_COMPONENTS = (
    "@method",
    "@target-uri",
    "content-digest",
    *(name.lower() for name in h.REQUIRED_REQUEST),
)
RESPONSE_COMPONENTS = (
    "@status",
    "content-digest",
    "content-type",
    "x-road-id",
    "x-road-request-hash",
)
OPTIONAL_RESPONSE_COMPONENTS = ("enlace-ledger-index", "enlace-receipt")
#: How far a request's ``created`` may lie in the past, and in the future (clock skew).
MAX_AGE_SECONDS = 120
MAX_SIGNATURE_INPUT = 2048
MAX_SIGNATURE = 512
MAX_SKEW_SECONDS = 10


def algorithm_for(key: Any) -> type[algorithms.HTTPSignatureAlgorithm]:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise ValueError("only the P-256 curve is accepted")
        return algorithms.ECDSA_P256_SHA256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return algorithms.ED25519
    raise ValueError(f"unsupported key type {type(key).__name__}")


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, key: Any) -> None:
        self.key_id, self.key = key_id, key

    def resolve_private_key(self, key_id: str) -> Any:
        return self.key

    def resolve_public_key(self, key_id: str) -> Any:
        if key_id != self.key_id:
            raise InvalidSignature("unexpected keyid")
        return self.key


@dataclass
class Request:
    """The parts of an HTTP request that the signature covers."""

    method: str
    url: str
    headers: dict[str, str]


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    request: Request | None = None


def request_hash(headers: Mapping[str, str]) -> str:
    """The X-Road-Request-Hash of a request, from its signature headers (case-blind)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    material = "\n".join((lowered.get("signature-input", ""), lowered.get("signature", ""))).encode(
        "latin-1", "replace"
    )
    return b64encode(hashlib.sha512(material).digest())


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def sign_request(
    req: Request,
    body: bytes,
    *,
    key: Any,
    key_id: str,
    nonce: str | None = None,
    created: datetime.datetime | None = None,
) -> None:
    """Add Content-Digest, Signature-Input and Signature to ``req.headers`` in place."""
    signer = HTTPMessageSigner(
        signature_algorithm=algorithm_for(key), key_resolver=_OneKey(key_id, key)
    )
    signer.sign(
        req,
        key_id=key_id,
        label=LABEL,
        created=created or datetime.datetime.now(datetime.UTC),
        nonce=nonce or new_nonce(),
        covered_component_ids=REQUEST_COMPONENTS,
        body=body,
    )


def sign_response(resp: Response, body: bytes, *, key: Any, key_id: str) -> None:
    present = {k.lower() for k in resp.headers}
    covered = RESPONSE_COMPONENTS + tuple(c for c in OPTIONAL_RESPONSE_COMPONENTS if c in present)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithm_for(key), key_resolver=_OneKey(key_id, key)
    )
    signer.sign(resp, key_id=key_id, label=LABEL, covered_component_ids=covered, body=body)


@dataclass(frozen=True)
class SignatureParams:
    """What Signature-Input says, read before the key is known."""

    keyid: str
    created: int
    nonce: str
    alg: str | None
    covered: tuple[str, ...] = field(default_factory=tuple)


def read_params(headers: Mapping[str, str]) -> SignatureParams:
    """Parse the ``enlace`` member of Signature-Input; raise EnlaceError when unusable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = lowered.get("signature-input")
    if not raw or "signature" not in lowered:
        raise EnlaceError("Client.InvalidSignature", "Signature-Input and Signature are required")
    # Bounded before the (pure-Python) structured-field parser sees them.
    if len(raw) > MAX_SIGNATURE_INPUT or len(lowered["signature"]) > MAX_SIGNATURE:
        raise EnlaceError("Client.InvalidSignature", "Signature-Input or Signature is too long")
    try:
        parsed: dict[str, Any] = http_sf.parse(raw.encode(), tltype="dictionary")  # type: ignore[assignment]
    except Exception as exc:  # the parser raises plain ValueErrors of several kinds
        raise EnlaceError(
            "Client.InvalidSignature", "Signature-Input is not a valid dictionary"
        ) from exc
    if list(parsed) != [LABEL]:
        raise EnlaceError(
            "Client.InvalidSignature", f"exactly one signature labelled {LABEL!r} is required"
        )
    members, params = parsed[LABEL]
    if not isinstance(members, list):
        raise EnlaceError("Client.InvalidSignature", "Signature-Input member must be an inner list")
    keyid, created, nonce = params.get("keyid"), params.get("created"), params.get("nonce")
    if not isinstance(keyid, str) or type(created) is not int or not isinstance(nonce, str):
        raise EnlaceError(
            "Client.InvalidSignature", "keyid, created and nonce parameters are required"
        )
    if not 8 <= len(nonce) <= 128:
        raise EnlaceError("Client.InvalidSignature", "nonce must be 8-128 characters")
    alg = params.get("alg")
    covered = tuple(str(item) for item, _ in members)
    return SignatureParams(keyid, created, nonce, alg if isinstance(alg, str) else None, covered)


def check_created(params: SignatureParams, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if params.created > now + MAX_SKEW_SECONDS or params.created < now - MAX_AGE_SECONDS:
        raise EnlaceError(
            "Client.SignatureExpired",
            f"created must be within {MAX_AGE_SECONDS}s before and {MAX_SKEW_SECONDS}s after now",
        )


def _verifier(key: Any) -> HTTPMessageVerifier:
    verifier = HTTPMessageVerifier(signature_algorithm=algorithm_for(key), key_resolver=None)
    verifier.max_clock_skew = datetime.timedelta(seconds=MAX_SKEW_SECONDS)
    return verifier


def _verify(message: Any, body: bytes, key: Any, key_id: str, required: Iterable[str]) -> None:
    verifier = _verifier(key)
    verifier.key_resolver = _OneKey(key_id, key)
    try:
        results = verifier.verify(
            message, max_age=None, expect_tag=None, require_components=tuple(required)
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise EnlaceError("Client.InvalidSignature", _reason(exc)) from exc
    try:
        verifier.verify_body(message, results, body)
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise EnlaceError("Client.DigestMismatch", "body does not match Content-Digest") from exc


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Required component" in text:
        return text
    return "signature verification failed"


def verify_request(req: Request, body: bytes, *, key: Any, key_id: str) -> None:
    """Verify the request signature and Content-Digest; raise EnlaceError with the code."""
    _verify(req, body, key, key_id, REQUEST_COMPONENTS)


def verify_response(resp: Response, body: bytes, *, key: Any, key_id: str) -> None:
    _verify(resp, body, key, key_id, RESPONSE_COMPONENTS)


def response_keyid(headers: Mapping[str, str]) -> str:
    """The keyid of a response signature (responses carry no nonce)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        raw = lowered.get("signature-input", "").encode()
        parsed: dict[str, Any] = http_sf.parse(raw, tltype="dictionary")  # type: ignore[assignment]
        keyid = parsed[LABEL][1]["keyid"]
    except Exception as exc:
        raise EnlaceError("Client.InvalidSignature", "response has no usable signature") from exc
    if not isinstance(keyid, str):
        raise EnlaceError("Client.InvalidSignature", "response signature has no keyid")
    return keyid
