"""Strict base64, base64url and ISO 8601 UTC: what is accepted and what is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.kernel.encoding import (
    EncodingError,
    b64decode,
    b64encode,
    b64url_decode,
    b64url_encode,
    iso_utc,
    iso_utc_seconds,
)


@pytest.mark.parametrize("raw", [b"", b"\x00", b"ab", b"abc", bytes(range(256))])
def test_round_trips(raw):
    assert b64decode(b64encode(raw), canonical=True) == raw
    assert b64decode(b64encode(raw).encode()) == raw
    assert b64url_decode(b64url_encode(raw)) == raw
    assert "=" not in b64url_encode(raw)


@pytest.mark.parametrize("text", ["YWJj\n", " YWJj", "YWI", "YW=j", "YW_j", "YWJj!", "é"])
def test_base64_refuses_anything_but_its_alphabet_and_padding(text):
    with pytest.raises(EncodingError, match="invalid base64"):
        b64decode(text)


def test_base64_canonical_refuses_nonzero_padding_bits():
    assert b64decode("YWJ=") == b"ab"  # the last character carries bits that are not zero
    with pytest.raises(EncodingError, match="non-canonical base64"):
        b64decode("YWJ=", canonical=True)
    assert isinstance(EncodingError("x"), ValueError)


@pytest.mark.parametrize("text", ["YWJj=", "YW+j", "YW/j", "Y", "YW j", "YWJ"])
def test_base64url_refuses_padding_other_alphabet_and_non_canonical(text):
    with pytest.raises(EncodingError):
        b64url_decode(text)


def test_iso_utc_is_utc_to_the_second_with_z():
    moment = dt.datetime(2026, 1, 31, 6, 0, 0, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    assert iso_utc(moment) == "2026-01-31T12:00:00Z"
    assert iso_utc_seconds(1_800_000_000) == "2027-01-15T08:00:00Z"
