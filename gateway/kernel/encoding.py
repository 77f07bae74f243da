"""Strict text encodings of bytes and times: the one place they are written.

* standard base64 (RFC 4648 §4) with padding: decoding accepts only its alphabet and correct
  padding (no whitespace, no other characters silently dropped); ``canonical=True`` also
  refuses text that is not the one encoding of its bytes (non-zero padding bits), where a
  value is compared or hashed as text (signed notes, receipts);
* base64url (RFC 4648 §5) without padding, as in JOSE and key ids: always canonical;
* ISO 8601 times in UTC to the second, with ``Z``.

A decoding failure is ``EncodingError``, a ``ValueError``: callers turn it into their own error.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

_B64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)


class EncodingError(ValueError):
    """Text is not the strict encoding asked for."""


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64decode(text: str | bytes, *, canonical: bool = False) -> bytes:
    """The bytes of standard, padded base64 ``text``; ``EncodingError`` for anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EncodingError("invalid base64") from None
    given = text.encode() if isinstance(text, str) else text
    if canonical and base64.b64encode(raw) != given:
        raise EncodingError("non-canonical base64")
    return raw


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded, canonical base64url ``text``; ``EncodingError`` for anything else."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise EncodingError("invalid base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(raw) != text:
        raise EncodingError("non-canonical base64url")
    return raw


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC to the second: ``2026-01-31T12:00:00Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_utc_seconds(seconds: float) -> str:
    """A POSIX time as ``iso_utc`` writes it."""
    return iso_utc(datetime.fromtimestamp(seconds, UTC))
