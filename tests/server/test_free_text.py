"""X-Road-UserId and X-Road-Issue: staff and case numbers only, never a person's identifiers."""

from __future__ import annotations

import pytest

from gateway.kernel import personal_data
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol.headers import HeaderMap
from gateway.server.exchange import parse
from gateway.server.exchange.context import Exchange
from tests.server.test_exchange_steps import PROTOCOL_HEADERS


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("EXP-GACC810608MBCRRM04-CAMILA-GARCIA-CRUZ", "CURP"),  # the audit's case number
        ("exp-gacc810608mbcrrm04", "CURP"),  # any letter case
        ("RUTA030715MOCZPNA3", "CURP"),  # a wrong check digit is still a CURP
        ("ANA-RUTA030715MOCZPNA2", "CURP"),
        ("RFC-GACC810608AB1", "RFC"),  # persona física
        ("SAT/ABC991231XY9/2026", "RFC"),  # persona moral
        ("S&C000229A12", "RFC"),  # 29 February 2000
        ("GACC810608MBCRRM", "RFC"),  # a CURP's first 16 characters hold an RFC's shape
        ("camila.garcia@example.mx", "e-mail address"),
        ("ver-juan_p+x@sep.gob.mx", "e-mail address"),
    ],
)
def test_personal_identifiers_are_found(text: str, kind: str) -> None:
    assert personal_data.find(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "MX-SEP-000123",
        "BECA-2026-000042",
        "PERM-2026-0001",
        "BECA-2026-00000001",
        "EXP/2026/123#4",
        "S&C010229A12",  # 29 February 1901 and 2001 are no dates
        "GACC811308MBC",  # nor is month 13
    ],
)
def test_staff_and_case_numbers_are_not_personal_data(text: str) -> None:
    assert personal_data.find(text) is None


def _exchange() -> Exchange:
    return Exchange(received_at="t", method="GET", request_hash="rh")


@pytest.mark.parametrize("name", [h.USER_ID, h.ISSUE])
@pytest.mark.parametrize(
    "value", ["EXP-GACC810608MBCRRM04-CAMILA-GARCIA-CRUZ", "GACC810608AB1", "a.b@sep.gob.mx"]
)
def test_a_free_text_header_with_personal_data_is_refused_and_not_noted(
    name: str, value: str
) -> None:
    ex = _exchange()
    with pytest.raises(EnlaceError) as refused:
        parse.read_headers(HeaderMap({**PROTOCOL_HEADERS, name: value}.items()), ex)
    assert refused.value.code == "Client.PersonalDataInField"
    assert refused.value.status == 400
    assert value.lower() not in refused.value.message.lower()
    noted = ex.user_id if name == h.USER_ID else ex.issue
    assert noted is None


@pytest.mark.parametrize("value", ["=HYPERLINK(1)", "@SUM(A1)", "-1+1", "caso 7", "x" * 129])
def test_a_free_text_header_outside_the_pattern_is_refused(value: str) -> None:
    ex = _exchange()
    with pytest.raises(EnlaceError) as refused:
        parse.read_headers(HeaderMap({**PROTOCOL_HEADERS, h.ISSUE: value}.items()), ex)
    assert refused.value.code == "Client.InvalidHeader"
    assert ex.issue is None
