"""The gateway's logs: JSON lines with every field, no personal data even by mistake."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.kernel import personal_data
from gateway.server import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure(stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_keeps_its_fields(captured: io.StringIO) -> None:
    fields = {"code": "LedgerCorrupt", "reason": "tree of size 43 does not extend 630"}
    logging.getLogger("enlace.gateway").error("checkpoint signing failed", extra=fields)
    (line,) = _lines(captured)
    assert line["event"] == "checkpoint signing failed"
    assert (line["level"], line["logger"]) == ("error", "enlace.gateway")
    assert (line["code"], line["reason"]) == (fields["code"], fields["reason"])
    assert "timestamp" in line


def test_personal_identifiers_are_masked_and_exceptions_give_their_type_only(
    captured: io.StringIO,
) -> None:
    try:
        raise ValueError("GACC810608MBCRRM04 camila@example.mx")
    except ValueError:
        logging.getLogger("enlace.x").exception(
            "failed for GACC810608MBCRRM04", extra={"reason": "RFC GACC810608AB1, a@b.mx"}
        )
    text = captured.getvalue()
    assert "GACC810608" not in text and "@" not in text
    (line,) = _lines(captured)
    assert line["event"] == "failed for [CURP]"
    assert line["reason"] == "RFC [RFC], [e-mail address]"
    assert line["exception"] == "ValueError"


def test_redact_leaves_other_text_alone() -> None:
    text = "exchange x-1 of MX/GOB/SEP/becas refused: Client.AccessDenied (BECA-2026-000042)"
    assert personal_data.redact(text) == text
    assert personal_data.redact("a GACC810608MBCRRM04b") == "a [CURP]b"
