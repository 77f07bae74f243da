"""RFC 9421 HTTP Message Signatures with RFC 9530 Content-Digest: Enlace's fixed profile.

Both sides live here so that the consumer SDK and the gateway can never drift apart:

* a request is signed over ``@method``, ``@target-uri``, ``content-digest`` and every Enlace
  header, exactly these in this order, with ``created``, ``keyid``, ``alg`` and ``nonce``,
  under the label ``enlace``;
* a response is signed over ``@status``, ``content-digest``, ``content-type``, ``x-road-id``
  and ``x-road-request-hash`` (and the ledger receipt headers when present);
* ``X-Road-Request-Hash`` is base64(SHA-512(Signature-Input value, LF, Signature value)) of
  the request: the request's signature already commits to everything the request said.

The profile is fixed, so it is implemented directly rather than through a general RFC 9421
library: ``Signature-Input`` must be the one ``enlace`` member in its canonical serialisation
(RFC 8941 §4.1) with exactly the profile's components, which makes the received text the
``@signature-params`` line of the signature base; the base is built line by line from one
lower-cased header map, and checked with one ECDSA (or Ed25519) verification. The tests check
it against the ``http-message-signatures`` library in both directions.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.kernel.encoding import b64encode
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol.headers import HeaderMap

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
ECDSA_P256 = "ecdsa-p256-sha256"
ED25519 = "ed25519"

_ECDSA = ec.ECDSA(hashes.SHA256())
#: ``Content-Digest`` as the profile accepts it: one SHA-256 member, canonical base64.
_CONTENT_DIGEST = re.compile(r"sha-256=:[A-Za-z0-9+/]{43}=:")
#: One signature parameter in canonical form: an integer, or a string (only \" and \\ escaped).
_PARAM = re.compile(r';([a-z]+)=(?:(0|[1-9][0-9]{0,14})|"((?:[ !#-\[\]-~]|\\["\\])*)")')
_SIGNATURE = re.compile(LABEL + r"=:([A-Za-z0-9+/]*={0,2}):")
_UNESCAPE = re.compile(r"\\([\"\\])")
_REQUEST_PARAMS = frozenset({"created", "keyid", "alg", "nonce"})
_RESPONSE_PARAMS = frozenset({"created", "keyid", "alg"})


class UnsignableMessage(ValueError):
    """A value that cannot go into a signature base (a line break, a control or non-ASCII
    character)."""


#: Key class → its algorithm family, so that the (abstract-class) checks run once per class.
_FAMILIES: dict[type, str] = {}


def _family(key: Any) -> str:
    kind = type(key)
    family = _FAMILIES.get(kind)
    if family is None:
        if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            family = ECDSA_P256
        elif isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            family = ED25519
        else:
            raise ValueError(f"unsupported key type {kind.__name__}")
        _FAMILIES[kind] = family
    return family


def algorithm_for(key: Any) -> str:
    """The RFC 9421 algorithm name for ``key`` (a P-256 or Ed25519 key, private or public)."""
    family = _family(key)
    if family == ECDSA_P256 and key.curve.name != "secp256r1":
        raise ValueError("only the P-256 curve is accepted")
    return family


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


@dataclass(frozen=True)
class SignatureParams:
    """What a message's ``Signature-Input`` and ``Signature`` say, read before the key is known."""

    keyid: str
    created: int
    #: Every request has one; responses have none.
    nonce: str | None
    alg: str | None
    covered: tuple[str, ...]
    #: The ``enlace`` member as received: the signature base's ``@signature-params`` value.
    text: str
    signature: bytes


def content_digest(body: bytes) -> str:
    """The ``Content-Digest`` of ``body`` (RFC 9530, SHA-256)."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def well_formed_digest(value: str) -> bool:
    """Whether ``value`` is a ``Content-Digest`` the profile accepts."""
    return _CONTENT_DIGEST.fullmatch(value) is not None


def request_hash(headers: Mapping[str, str]) -> str:
    """The X-Road-Request-Hash of a request, from its signature headers (case-blind)."""
    lowered = HeaderMap.of(headers)
    material = "\n".join((lowered.get("signature-input", ""), lowered.get("signature", ""))).encode(
        "latin-1", "replace"
    )
    return b64encode(hashlib.sha512(material).digest())


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


@functools.lru_cache(maxsize=16)  # the profile's few component lists, serialised once each
def _inner_list(components: tuple[str, ...]) -> str:
    return "(" + " ".join(f'"{name}"' for name in components) + ")"


def _sf_string(value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise UnsignableMessage("a signature parameter must be printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _params_text(
    covered: tuple[str, ...], created: int, key_id: str, alg: str, nonce: str | None
) -> str:
    text = f'{_inner_list(covered)};created={created};keyid={_sf_string(key_id)};alg="{alg}"'
    return text + (f";nonce={_sf_string(nonce)}" if nonce is not None else "")


def _component(value: str | None, name: str) -> str:
    """A field's value as the signature base holds it (RFC 9421 §2.1: trimmed)."""
    if value is None:
        raise UnsignableMessage(f"{name} is missing")
    value = value.strip(" \t")
    if not value.isascii() or not value.replace("\t", " ").isprintable():
        raise UnsignableMessage(f"{name} has characters a signature base cannot hold")
    return value


def _base(values: Iterable[tuple[str, str]], params_text: str) -> bytes:
    """The RFC 9421 §2.5 signature base of the covered ``(name, value)`` pairs."""
    lines = [f'"{name}": {value}' for name, value in values]
    lines.append(f'"@signature-params": {params_text}')
    return "\n".join(lines).encode("ascii")


def _request_values(method: str, uri: str, lowered: HeaderMap) -> list[tuple[str, str]]:
    derived = [
        ("@method", _component(method, "@method")),
        ("@target-uri", _component(uri, "@target-uri")),
    ]
    return derived + [
        (name, _component(lowered.get(name), name)) for name in REQUEST_COMPONENTS[2:]
    ]


def _response_covered(lowered: HeaderMap) -> tuple[str, ...]:
    return RESPONSE_COMPONENTS + tuple(c for c in OPTIONAL_RESPONSE_COMPONENTS if c in lowered)


def _response_values(
    status: int, lowered: HeaderMap, covered: tuple[str, ...]
) -> list[tuple[str, str]]:
    return [("@status", str(status))] + [
        (name, _component(lowered.get(name), name)) for name in covered[1:]
    ]


def _sign(key: Any, base: bytes) -> bytes:
    if algorithm_for(key) == ED25519:
        return key.sign(base)  # type: ignore[no-any-return]
    r, s = decode_dss_signature(key.sign(base, _ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _check(key: Any, signature: bytes, base: bytes) -> bool:
    try:
        if algorithm_for(key) == ED25519:
            key.verify(signature, base)
        else:
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, base, _ECDSA)
    except InvalidSignature:
        return False
    return True


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
    req.headers[h.CONTENT_DIGEST] = content_digest(body)
    stamp = int((created or datetime.datetime.now(datetime.UTC)).timestamp())
    text = _params_text(REQUEST_COMPONENTS, stamp, key_id, algorithm_for(key), nonce or new_nonce())
    base = _base(_request_values(req.method, req.url, HeaderMap(req.headers.items())), text)
    _attach(req.headers, text, _sign(key, base))


def sign_response(resp: Response, body: bytes, *, key: Any, key_id: str) -> None:
    """Add Content-Digest, Signature-Input and Signature to ``resp.headers`` in place."""
    resp.headers[h.CONTENT_DIGEST] = content_digest(body)
    lowered = HeaderMap(resp.headers.items())
    covered = _response_covered(lowered)
    text = _params_text(covered, int(time.time()), key_id, algorithm_for(key), None)
    base = _base(_response_values(resp.status_code, lowered, covered), text)
    _attach(resp.headers, text, _sign(key, base))


def _attach(headers: dict[str, str], text: str, signature: bytes) -> None:
    headers[h.SIGNATURE_INPUT] = f"{LABEL}={text}"
    headers[h.SIGNATURE] = f"{LABEL}=:{base64.b64encode(signature).decode()}:"


def _invalid(message: str) -> EnlaceError:
    return EnlaceError("Client.InvalidSignature", message)


def _read(lowered: HeaderMap, covered: tuple[str, ...], allowed: frozenset[str]) -> SignatureParams:
    """The ``enlace`` signature of a message covering exactly ``covered``."""
    raw, signature = lowered.get("signature-input"), lowered.get("signature")
    if not raw or not signature:
        raise _invalid("Signature-Input and Signature are required")
    if len(raw) > MAX_SIGNATURE_INPUT or len(signature) > MAX_SIGNATURE:
        raise _invalid("Signature-Input or Signature is too long")
    label, _, text = raw.partition("=")
    if label != LABEL or not text:
        raise _invalid(f"exactly one signature labelled {LABEL!r} is required")
    expected = _inner_list(covered)
    if not text.startswith(expected):
        raise _invalid(f"the signature must cover exactly {expected}")
    params = _parameters(text[len(expected) :], allowed)
    sig = _SIGNATURE.fullmatch(signature)
    if sig is None:
        raise _invalid(f"Signature must be one {LABEL!r} byte sequence")
    keyid, created, nonce, alg = (params.get(k) for k in ("keyid", "created", "nonce", "alg"))
    if not isinstance(keyid, str) or not isinstance(created, int):
        raise _invalid("keyid and created parameters are required")
    try:
        value = base64.b64decode(sig.group(1), validate=True)
    except binascii.Error as exc:
        raise _invalid("Signature is not valid base64") from exc
    return SignatureParams(
        keyid=keyid,
        created=created,
        nonce=nonce if isinstance(nonce, str) else None,
        alg=alg if isinstance(alg, str) else None,
        covered=covered,
        text=text,
        signature=value,
    )


def _parameters(text: str, allowed: frozenset[str]) -> dict[str, int | str]:
    """The parameters after the inner list, each allowed and given once, in canonical form."""
    params: dict[str, int | str] = {}
    position = 0
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None:
            raise _invalid("Signature-Input parameters are not in canonical form")
        name, number, string = match.groups()
        if name not in allowed or name in params:
            raise _invalid(
                f"Signature-Input parameters must be {', '.join(sorted(allowed))}, once each"
            )
        is_number = name == "created"
        if is_number != (number is not None):
            raise _invalid(f"Signature-Input parameter {name} has the wrong type")
        params[name] = int(number) if is_number else _UNESCAPE.sub(r"\1", string)
        position = match.end()
    return params


def read_params(headers: Mapping[str, str]) -> SignatureParams:
    """Parse a request's ``enlace`` signature; raise EnlaceError when unusable."""
    params = _read(HeaderMap.of(headers), REQUEST_COMPONENTS, _REQUEST_PARAMS)
    if params.nonce is None or not 8 <= len(params.nonce) <= 128:
        raise _invalid("nonce must be 8-128 characters")
    return params


def check_created(params: SignatureParams, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if params.created > now + MAX_SKEW_SECONDS or params.created < now - MAX_AGE_SECONDS:
        raise EnlaceError(
            "Client.SignatureExpired",
            f"created must be within {MAX_AGE_SECONDS}s before and {MAX_SKEW_SECONDS}s after now",
        )


def _verify(
    key: Any, params: SignatureParams, base: bytes, lowered: HeaderMap, body: bytes
) -> None:
    if params.alg is not None and params.alg != algorithm_for(key):
        raise _invalid("alg does not match the key")
    if not _check(key, params.signature, base):
        raise _invalid("signature verification failed")
    if lowered.get("content-digest") != content_digest(body):
        raise EnlaceError("Client.DigestMismatch", "body does not match Content-Digest")


def request_base(method: str, uri: str, headers: HeaderMap, params: SignatureParams) -> bytes:
    """The signature base of a request signed as ``params`` say (``Client.InvalidSignature``
    when a covered value cannot be in one)."""
    try:
        return _base(_request_values(method, uri, headers), params.text)
    except UnsignableMessage as exc:
        raise _invalid(str(exc)) from exc


def response_base(status: int, headers: HeaderMap, params: SignatureParams) -> bytes:
    """The signature base of a response signed as ``params`` say."""
    try:
        return _base(_response_values(status, headers, params.covered), params.text)
    except UnsignableMessage as exc:
        raise _invalid(str(exc)) from exc


def verify_signed_request(
    method: str, uri: str, headers: HeaderMap, body: bytes, params: SignatureParams, key: Any
) -> None:
    """Verify a request's signature (``params``, from ``read_params``) with ``key``, then its
    body against ``Content-Digest``; raise EnlaceError with the code."""
    _verify(key, params, request_base(method, uri, headers, params), headers, body)


def verify_request(req: Request, body: bytes, *, key: Any, key_id: str) -> None:
    """Verify the request signature and Content-Digest; raise EnlaceError with the code."""
    lowered = HeaderMap(req.headers.items())
    params = read_params(lowered)
    if params.keyid != key_id:
        raise _invalid("unexpected keyid")
    verify_signed_request(req.method, req.url, lowered, body, params, key)


def read_response_params(headers: Mapping[str, str]) -> SignatureParams:
    """Parse a response's ``enlace`` signature (covering the receipt headers it carries)."""
    lowered = HeaderMap.of(headers)
    return _read(lowered, _response_covered(lowered), _RESPONSE_PARAMS)


def verify_response(resp: Response, body: bytes, *, key: Any, key_id: str) -> None:
    """Verify a response's signature and Content-Digest; raise EnlaceError with the code."""
    lowered = HeaderMap(resp.headers.items())
    params = read_response_params(lowered)
    if params.keyid != key_id:
        raise _invalid("unexpected keyid")
    _verify(key, params, response_base(resp.status_code, lowered, params), lowered, body)


def response_keyid(headers: Mapping[str, str]) -> str:
    """The keyid of a response signature (responses carry no nonce)."""
    return read_response_params(headers).keyid
