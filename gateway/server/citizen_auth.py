"""Citizen login, the pure part: one-time challenges, the login form, the refusal, the token.

A challenge is an HMAC-sealed, self-describing string that the citizen signs as is (UTF-8):

    enlace-citizen-login:v1:<INSTANCE>:<expires, Unix seconds>:<nonce>:<mac>

Issuing one writes nothing (an unauthenticated endpoint must not be able to fill a table);
single use is enforced at login by recording the nonce (``gateway.storage.challenges``). The session
token is a JWT (HS256) whose subject is the CURP's pseudonym, never the CURP. Both keys are
derived with HKDF from the instance's pseudonym secret, one label per use, so every gateway of
an instance shares them and neither reveals the secret or the other key.

Whether a certificate is a valid, unrevoked e.firma is decided by the SAT source's shared
``gateway.kernel.efirma.validation`` (``check_offline`` first, then ``check`` with OCSP);
``refusal`` only turns its report into the one code the citizen sees. Time is always a
parameter; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from gateway.kernel.efirma import validation
from gateway.kernel.encoding import EncodingError, b64decode, b64url_encode
from gateway.kernel.errors import CitizenError

CHALLENGE_PREFIX = "enlace-citizen-login"
CHALLENGE_VERSION = "v1"
TOKEN_AUDIENCE = "enlace-citizen"
#: Bounds on what a login may carry (base64 text lengths) and on a presented token.
MAX_CHALLENGE = 256
MAX_CERTIFICATE_B64 = 16 * 1024
MAX_SIGNATURE_B64 = 1024  # RSA-4096 is 512 bytes, 684 characters of base64
MAX_TOKEN = 2048

_NONCE_BYTES = 24
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_CODES = ("signature.mismatch", "signature.unsupported_key")
#: What ``validation.check_offline`` reports in place of revocation: not a refusal by itself.
_NOT_ASKED = "ocsp.not_checked"


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (``challenge``, ``token``) from the instance secret."""
    info = f"enlace/citizen/{purpose}/v1".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class Challenge:
    """An issued challenge: ``text`` is exactly what the citizen signs."""

    text: str
    nonce: str
    expires_at: int


class ChallengeSealer:
    """Issues challenges and opens the ones presented back (MAC first, then expiry)."""

    def __init__(self, key: bytes, instance: str, ttl: int) -> None:
        if ttl <= 0:
            raise ValueError("challenge lifetime must be positive")
        self._key = key
        self._instance = instance
        self.ttl = ttl

    def _mac(self, unsealed: str) -> str:
        return b64url_encode(hmac.new(self._key, unsealed.encode(), hashlib.sha256).digest())

    def issue(self, now: float) -> Challenge:
        nonce = b64url_encode(os.urandom(_NONCE_BYTES))
        expires = int(now) + self.ttl
        unsealed = f"{CHALLENGE_PREFIX}:{CHALLENGE_VERSION}:{self._instance}:{expires}:{nonce}"
        return Challenge(f"{unsealed}:{self._mac(unsealed)}", nonce, expires)

    def open(self, text: str, now: float) -> Challenge:
        """The challenge ``text`` stands for, if this instance issued it and it is still valid."""
        parts = text.split(":") if len(text) <= MAX_CHALLENGE and text.isascii() else []
        if len(parts) != 6 or parts[:3] != [CHALLENGE_PREFIX, CHALLENGE_VERSION, self._instance]:
            raise CitizenError("citizen.challenge_invalid", "not a challenge of this gateway")
        expires, nonce, mac = parts[3], parts[4], parts[5]
        valid_shape = expires.isdigit() and len(expires) <= 12 and _B64URL.fullmatch(nonce)
        unsealed = text.rpartition(":")[0]
        if not valid_shape or not hmac.compare_digest(mac, self._mac(unsealed)):
            raise CitizenError("citizen.challenge_invalid", "not a challenge of this gateway")
        if now >= int(expires):
            raise CitizenError("citizen.challenge_expired", "the challenge has expired")
        return Challenge(text, nonce, int(expires))


@dataclass(frozen=True)
class LoginForm:
    """What the browser posts: the challenge, the ``.cer`` (DER) and the signature over it."""

    challenge: str
    certificate: bytes
    signature: bytes


def _b64_field(body: dict[str, Any], name: str, limit: int) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise CitizenError(
            "citizen.bad_request", f"{name} must be base64 text of at most {limit} characters"
        )
    try:
        return b64decode(value)
    except EncodingError as exc:
        raise CitizenError("citizen.bad_request", f"{name} is not valid base64") from exc


def parse_login(body: Any) -> LoginForm:
    if not isinstance(body, dict):
        raise CitizenError("citizen.bad_request", "the body must be a JSON object")
    challenge = body.get("challenge")
    if not isinstance(challenge, str) or not challenge:
        raise CitizenError("citizen.bad_request", "challenge is required")
    return LoginForm(
        challenge=challenge,
        certificate=_b64_field(body, "certificate", MAX_CERTIFICATE_B64),
        signature=_b64_field(body, "signature", MAX_SIGNATURE_B64),
    )


def refusal(report: validation.Report) -> CitizenError | None:
    """The error a failed SAT report means for a login, or None if the login may proceed.

    Primary code: a signature that is not over this challenge by this certificate's key comes
    first (proof of possession failed, nothing else matters), then certificate problems in the
    report's order, then revocation that could not be established. On an offline report
    (``validation.check_offline``), None means that only revocation remains to be checked.
    """
    failures = tuple(f for f in report.failures if f.code != _NOT_ASKED)
    if not failures:
        return None
    codes = tuple(f.code for f in failures)
    if any(code in _SIGNATURE_CODES for code in codes):
        return CitizenError(
            "citizen.bad_signature",
            "the signature is not this certificate's over this challenge",
            codes,
        )
    refused = [f for f in failures if not f.code.startswith("ocsp.")] or list(failures)
    return CitizenError(refused[0].code, refused[0].message, codes)


@dataclass(frozen=True)
class Session:
    """A verified token: whose pseudonym it carries, its id and expiry (Unix seconds)."""

    subject: str
    token_id: str
    expires_at: int


class TokenIssuer:
    """Short-lived HS256 JWTs: ``sub`` = pseudonym, ``aud`` = enlace-citizen, ``iss`` = instance."""

    def __init__(self, key: bytes, instance: str, ttl: int) -> None:
        if ttl <= 0:
            raise ValueError("token lifetime must be positive")
        self._key = OctKey.import_key(key)
        self._issuer = f"enlace:{instance}"
        self.ttl = ttl

    def issue(self, subject: str, now: float) -> tuple[str, Session]:
        if not _PSEUDONYM.fullmatch(subject):
            raise ValueError("a token's subject must be a pseudonym")
        session = Session(subject, str(uuid.uuid4()), int(now) + self.ttl)
        claims = {
            "iss": self._issuer,
            "aud": TOKEN_AUDIENCE,
            "sub": subject,
            "iat": int(now),
            "exp": session.expires_at,
            "jti": session.token_id,
        }
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self._key), session

    def verify(self, token: str, now: float) -> Session:
        if not token or len(token) > MAX_TOKEN or not token.isascii():
            raise CitizenError("citizen.unauthenticated", "a valid session token is required")
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": TOKEN_AUDIENCE},
            sub={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]).claims
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise CitizenError("citizen.token_expired", "the session has expired") from exc
        except (JoseError, ValueError, TypeError) as exc:
            raise CitizenError(
                "citizen.unauthenticated", "a valid session token is required"
            ) from exc
        subject, token_id, expires = claims["sub"], claims["jti"], claims["exp"]
        if not (isinstance(subject, str) and _PSEUDONYM.fullmatch(subject)):
            raise CitizenError("citizen.unauthenticated", "a valid session token is required")
        return Session(subject, str(token_id), int(expires))
