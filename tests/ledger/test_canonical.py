"""The fast canonicaliser (ledger records, evidence payloads) against the reference RFC 8785
implementation (``rfc8785``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.kernel import canonical_json
from gateway.kernel.ledger import record
from gateway.kernel.protocol import evidence
from tests.factories import exchange_record

# Every code point, lone surrogates included (the reference refuses those).
_any_text = st.text(st.characters(codec=None, categories=None), max_size=12)
_text = st.one_of(st.text(max_size=24), _any_text, st.sampled_from(["", '"\\/\b\f\n\r\t\x00\x7f']))
_integers = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.integers(),  # beyond the safe range too: the reference refuses those
    st.sampled_from([2**53 - 1, 2**53, -(2**53) + 1, -(2**53), 0]),
)
_scalars = st.one_of(st.none(), st.booleans(), _integers, _text, st.floats())
_keys = st.one_of(st.text(max_size=12), _any_text, st.sampled_from(["\ue000", "\U0001f600", "a"]))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=24,
)
# Records shaped as Enlace's: flat objects of plain values, one level of nesting at most.
_plain_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=40)
)
_records = st.dictionaries(
    st.text(st.characters(max_codepoint=127), max_size=16),
    st.one_of(
        _plain_values,
        st.lists(_plain_values, max_size=4),
        st.dictionaries(st.text(max_size=8), _plain_values, max_size=4),
    ),
    max_size=24,
)


def _outcome(write: Callable[[Any], bytes], value: Any) -> bytes | type[Exception]:
    """What ``write`` makes of ``value``: its bytes, or the kind of its refusal (which is what
    must match)."""
    try:
        return write(value)
    except Exception as exc:
        return type(exc)


def _reference(value: Any) -> bytes | type[Exception]:
    return _outcome(rfc8785.dumps, value)


def _ours(value: Any) -> bytes | type[Exception]:
    return _outcome(record.canonical, value)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=8))
def test_any_json_value_canonicalises_as_the_reference(value: dict[str, Any]) -> None:
    assert _ours(value) == _reference(value)


@settings(max_examples=800, deadline=None)
@given(_records)
def test_record_shaped_values_canonicalise_as_the_reference(value: dict[str, Any]) -> None:
    assert _ours(value) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code point order
        {"n": 2**53},  # outside the doubles' safe integers
        {"n": 1.5, "m": 1e21, "z": -0.0},
        {"s": "\ud800"},  # a lone surrogate
        {"nested": [{"b": 1, "a": [True, None]}]},
    ],
)
def test_edge_cases_match_the_reference(value: dict[str, Any]) -> None:
    assert _ours(value) == _reference(value)


def test_enlace_records_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exchange, admin and citizen records never need the reference implementation."""
    samples = [
        exchange_record(7, subjects=["ab" * 32], purpose="p", legal_basis="lb", issue="c"),
        record.admin("member.add", "MX/GOB/SEP", {"name": "Secretaría", "n": [1, 2]}, "ana"),
        record.citizen_login("cd" * 32, "token-1"),
    ]
    expected = [rfc8785.dumps(sample) for sample in samples]

    def refuse(_value: Any) -> bytes:
        raise AssertionError("the fast path was not taken")

    monkeypatch.setattr(rfc8785, "dumps", refuse)
    assert [record.canonical(sample) for sample in samples] == expected


# Evidence claims as sources write them: a record of names (any text), dates, nested documents.
_claims = st.fixed_dictionaries(
    {
        "iss": st.text(max_size=40),
        "iat": st.integers(0, 2**40),
        "exchange_id": st.text(max_size=40),
        "client": st.text(max_size=40),
        "data": st.dictionaries(st.text(max_size=12), _values, max_size=8),
    }
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_claims)
def test_evidence_payloads_canonicalise_as_the_reference(claims: dict[str, Any]) -> None:
    """The evidence payload goes through the same fast canonicaliser (the signed bytes)."""
    assert _outcome(evidence.canonical, claims) == _reference(claims)


def test_evidence_of_a_record_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    claims = {
        "iss": "MX/GOB/RENAPO/curp/consulta-curp/v1",
        "iat": 1_790_000_000,
        "exchange_id": "x-1",
        "client": "MX/GOB/SEP/becas",
        "data": {"nombre": "JOSÉ ÑANDÚ", "apellidos": ["PÉREZ", 'O\'HIGGINS "EL"'], "n": 3},
    }
    expected = rfc8785.dumps(claims)
    monkeypatch.setattr(rfc8785, "dumps", lambda _value: b"not the fast path")
    assert evidence.canonical(claims) == expected


def _stdlib_compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(_keys, _values, max_size=8), _records, _claims))
def test_compact_json_is_the_stdlib_s(value: dict[str, Any]) -> None:
    """Responses: the keys in their order, no spaces, byte for byte what ``json.dumps`` writes
    (``ensure_ascii=False``), lone surrogates refused alike."""
    assert _outcome(canonical_json.compact, value) == _outcome(_stdlib_compact, value)
