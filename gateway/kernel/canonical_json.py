"""RFC 8785 (JCS) canonical JSON, fast: ``orjson`` where that provably gives the same bytes.

The ledger's leaves (``kernel/ledger/record.py``) and the evidence payload
(``kernel/protocol/evidence.py``) are both RFC 8785 canonical JSON; both are canonicalised here,
on every exchange. ``rfc8785`` (the reference) handles whatever the fast path does not prove
identical; ``tests/ledger/test_canonical.py`` checks the two against each other.

The same proof serves ``compact``: the plain compact JSON every route answers with, in the
keys' own order (``json.dumps`` with ``ensure_ascii=False``, no spaces), through ``orjson``
where that is provably the same.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import rfc8785

#: RFC 8785 numbers are IEEE 754 doubles: integers beyond this are refused by ``rfc8785``.
_MAX_SAFE_INTEGER = 2**53 - 1
_SCALARS = frozenset({str, bool, type(None)})
_STR = frozenset({str})
_SORTED = orjson.OPT_SORT_KEYS


def _plain(value: Any) -> bool:
    """True if ``orjson`` (compact, keys sorted) writes ``value`` exactly as RFC 8785 does.

    That holds for null, booleans, strings, safe integers (their decimal form is the shortest
    double form), lists and objects of these whose keys are ASCII: both write UTF-8 and escape
    the same characters the same way (``\\"``, ``\\\\``, ``\\b\\f\\n\\r\\t``, other controls as
    lower-case ``\\u00xx``, nothing else), and ASCII keys sort alike by code point (orjson) and
    by UTF-16 unit (RFC 8785). Floats, large integers, non-ASCII keys and other types are not
    proven identical here.
    """
    kind = type(value)
    if kind is dict:
        return _plain_object(value)
    if kind in _SCALARS:
        return True
    if kind is int:
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if kind is list or kind is tuple:
        return all(map(_plain, value))
    return False


def _plain_object(value: dict[Any, Any]) -> bool:
    # The keys' types and characters tested at once, in C (exactly ``str``: no subclass); a
    # string, boolean or null value needs no call: most of a record's values are these.
    if not {*map(type, value)} <= _STR or not "".join(value).isascii():
        return False
    return all(type(item) in _SCALARS or _plain(item) for item in value.values())


def canonical(record: dict[str, Any]) -> bytes:
    """The RFC 8785 (JCS) canonical JSON of ``record``, UTF-8: the ledger's leaf data.

    Enlace's records take the fast path (``orjson``, about seven times faster than
    ``json.dumps``, fifty times ``rfc8785``); anything outside what ``_plain`` proves identical
    goes through ``rfc8785``, which also raises its errors (a float is canonicalised as RFC 8785
    says, a lone surrogate refused).
    """
    try:
        if _plain(record):
            return orjson.dumps(record, option=_SORTED)
    except (RecursionError, orjson.JSONEncodeError):  # too deep, or a lone surrogate
        pass
    return rfc8785.dumps(record)


def compact(value: Any) -> bytes:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` as UTF-8: the keys in
    their order, no spaces; ``orjson`` where ``_plain`` proves it writes the same bytes."""
    try:
        if _plain(value):
            return orjson.dumps(value)
    except (RecursionError, orjson.JSONEncodeError):
        pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
