"""The pure parts of the citizen view: challenges, tokens, refusals, attempt limits, the query,
the CSV."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from gateway.devtools import bootstrap
from gateway.kernel import schemas
from gateway.kernel.efirma.certificate import Failure
from gateway.kernel.errors import CitizenError, kind_of
from gateway.kernel.ledger import record
from gateway.server import citizen_auth as auth
from gateway.server import throttle
from gateway.storage import access_log, registry

KEY = bytes(range(32))
NOW = 1_800_000_000.0
PSEUDONYM = "ab" * 32


def _code(excinfo: pytest.ExceptionInfo[CitizenError]) -> str:
    return excinfo.value.code


def test_derived_keys_differ_by_purpose_and_secret():
    keys = {
        auth.derive_key(KEY, "challenge"),
        auth.derive_key(KEY, "token"),
        auth.derive_key(KEY[::-1], "token"),
    }
    assert len(keys) == 3 and all(len(k) == 32 for k in keys)


def test_challenge_round_trip_and_shape():
    sealer = auth.ChallengeSealer(KEY, "MX", ttl=120)
    issued = sealer.issue(NOW)
    assert issued.text.startswith("enlace-citizen-login:v1:MX:1800000120:")
    assert sealer.open(issued.text, NOW + 119) == issued
    assert issued.nonce != sealer.issue(NOW).nonce


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # MAC
        lambda t: t.replace(":MX:", ":XX:"),  # another instance
        lambda t: t.replace(":1800000120:", ":1900000120:"),  # a later expiry
        lambda t: t.replace("enlace-citizen-login", "enlace-other"),
        lambda t: t + ":extra",
        lambda t: "",
        lambda t: "x" * 300,
        lambda t: t.replace(":v1:", ":v2:"),
    ],
)
def test_tampered_challenges_are_invalid(tamper):
    sealer = auth.ChallengeSealer(KEY, "MX", ttl=120)
    with pytest.raises(CitizenError) as excinfo:
        sealer.open(tamper(sealer.issue(NOW).text), NOW)
    assert _code(excinfo) == "citizen.challenge_invalid"


def test_challenge_expires_at_its_time_and_another_key_cannot_open_it():
    issued = auth.ChallengeSealer(KEY, "MX", ttl=120).issue(NOW)
    with pytest.raises(CitizenError) as excinfo:
        auth.ChallengeSealer(KEY, "MX", ttl=120).open(issued.text, NOW + 120)
    assert _code(excinfo) == "citizen.challenge_expired"
    with pytest.raises(CitizenError) as excinfo:
        auth.ChallengeSealer(KEY[::-1], "MX", ttl=120).open(issued.text, NOW)
    assert _code(excinfo) == "citizen.challenge_invalid"


def test_login_form_bounds():
    good = {"challenge": "c", "certificate": "AAAA", "signature": "AAAA"}
    assert auth.parse_login(good).certificate == b"\x00\x00\x00"
    for bad in (
        [],
        {**good, "challenge": 1},
        {**good, "certificate": None},
        {**good, "signature": "A" * (auth.MAX_SIGNATURE_B64 + 4)},
        {**good, "certificate": "A" * (auth.MAX_CERTIFICATE_B64 + 4)},
        {**good, "signature": "not base64"},
    ):
        with pytest.raises(CitizenError) as excinfo:
            auth.parse_login(bad)
        assert _code(excinfo) == "citizen.bad_request"


def test_token_round_trip_and_expiry():
    tokens = auth.TokenIssuer(KEY, "MX", ttl=900)
    token, session = tokens.issue(PSEUDONYM, NOW)
    assert tokens.verify(token, NOW + 899) == session
    assert session.expires_at == int(NOW) + 900
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti"}
    assert claims["sub"] == PSEUDONYM and claims["iss"] == "enlace:MX"
    with pytest.raises(CitizenError) as excinfo:
        tokens.verify(token, NOW + 900)
    assert _code(excinfo) == "citizen.token_expired"


def test_tokens_of_another_key_instance_or_shape_are_refused():
    token, _ = auth.TokenIssuer(KEY, "MX", ttl=900).issue(PSEUDONYM, NOW)
    for verifier, presented in (
        (auth.TokenIssuer(KEY[::-1], "MX", ttl=900), token),
        (auth.TokenIssuer(KEY, "GT", ttl=900), token),
        (auth.TokenIssuer(KEY, "MX", ttl=900), token + "x"),
        (auth.TokenIssuer(KEY, "MX", ttl=900), "a.b.c"),
        (auth.TokenIssuer(KEY, "MX", ttl=900), "x" * 3000),
    ):
        with pytest.raises(CitizenError) as excinfo:
            verifier.verify(presented, NOW)
        assert _code(excinfo) == "citizen.unauthenticated"
    with pytest.raises(ValueError):
        auth.TokenIssuer(KEY, "MX", ttl=900).issue("GOMA800101HDFRRN09", NOW)  # never a CURP


class _Report:
    def __init__(self, *codes: str) -> None:
        self.failures = tuple(Failure(code, code) for code in codes)


def test_refusal_puts_proof_of_possession_first_then_certificate_then_revocation():
    assert auth.refusal(_Report()) is None  # type: ignore[arg-type]
    cases = [
        (("efirma.expired", "signature.mismatch"), "citizen.bad_signature", 401),
        (("ocsp.unavailable", "efirma.is_csd", "efirma.expired"), "efirma.is_csd", 401),
        (("efirma.revoked",), "efirma.revoked", 401),
        (("ocsp.stale",), "ocsp.stale", 503),
    ]
    for codes, primary, status in cases:
        refused = auth.refusal(_Report(*codes))  # type: ignore[arg-type]
        assert refused is not None
        assert (refused.code, refused.status, refused.codes) == (primary, status, codes)


def test_an_offline_report_is_refused_only_for_what_it_checked():
    """``validation.check_offline`` reports revocation as ``ocsp.not_checked``: that alone is
    no refusal (revocation is asked next), but it never hides another failure."""
    assert auth.refusal(_Report("ocsp.not_checked")) is None  # type: ignore[arg-type]
    refused = auth.refusal(_Report("ocsp.not_checked", "efirma.expired"))  # type: ignore[arg-type]
    assert refused is not None and refused.code == "efirma.expired"
    assert refused.codes == ("efirma.expired",)


def test_error_codes_have_fixed_statuses():
    assert kind_of("citizen.challenge_reused").status == 401
    assert kind_of("citizen.rate_limited").status == 429
    assert kind_of("efirma.unknown_issuer").status == 401
    assert kind_of("ocsp.timeout").status == 503
    with pytest.raises(ValueError):
        kind_of("Client.Whatever")


def test_query_parsing():
    parsed = access_log.parse_request(
        {"cursor": ["17"], "limit": ["5"], "from": ["2026-01-01"], "agency": ["MX/GOB/SEP"]}
    )
    assert parsed.query == access_log.Query(
        before=17, limit=5, since=dt.date(2026, 1, 1), agency="MX/GOB/SEP"
    )
    assert (parsed.format, parsed.lang) == ("json", "es")
    assert access_log.parse_request({}).query.limit == access_log.DEFAULT_LIMIT
    for bad in (
        {"limit": ["1", "2"]},
        {"curp": ["GOMA800101HDFRRN09"]},
        {"to": ["2026-1-1"]},
        {"cursor": ["9" * 20]},
        {"agency": ["MX/GOB/SEP/becas"]},
        {"lang": ["fr"]},
    ):
        with pytest.raises(CitizenError) as excinfo:
            access_log.parse_request(bad)
        assert _code(excinfo) == "citizen.bad_query"


@pytest.mark.parametrize(
    "bad",
    [
        {"to": ["9999-12-31"]},  # its next day overflowed: a 500
        {"from": ["9999-01-01"]},
        {"from": ["0999-01-01"]},  # compared as text '999-01-…', after every real date
        {"to": ["0001-01-01"]},
        {"from": ["1969-12-31"]},
    ],
)
def test_date_filters_are_bounded(bad):
    with pytest.raises(CitizenError) as excinfo:
        access_log.parse_request(bad)
    assert _code(excinfo) == "citizen.bad_query"
    assert "1970-01-01 to 9998-12-31" in excinfo.value.message


def test_date_bounds_are_written_as_the_ledger_writes_times():
    query = access_log.parse_request({"from": ["1970-01-01"], "to": ["9998-12-31"]}).query
    assert (query.since, query.until) == (access_log.MIN_DATE, access_log.MAX_DATE)
    for day in (access_log.MIN_DATE, dt.date(2026, 6, 1), access_log.MAX_DATE):
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        assert access_log._midnight(day) == record.timestamp(midnight)
    assert access_log._midnight(dt.date(999, 1, 1)) == "0999-01-01T00:00:00.000000Z"


def test_attempt_limiter_refills_and_refuses_with_the_wait():
    limiter = throttle.AttemptLimiter(per_minute=6, burst=2)  # one attempt per 10 s
    assert limiter.take("a", 100.0) == 0 and limiter.take("a", 100.0) == 0
    assert limiter.take("a", 100.0) == pytest.approx(10.0)
    assert limiter.take("b", 100.0) == 0  # another client has its own bucket
    assert limiter.take("a", 105.0) == pytest.approx(5.0)  # refused attempts cost nothing
    assert limiter.take("a", 110.0) == 0
    assert limiter.take("a", 110.0) > 0
    assert limiter.take("a", 1000.0) == 0 and limiter.take("a", 1000.0) == 0  # full, not more
    assert limiter.take("a", 1000.0) > 0
    with pytest.raises(ValueError):
        throttle.AttemptLimiter(per_minute=0, burst=1)


def test_attempt_limiter_table_is_bounded_and_forgets_the_quietest_first():
    limiter = throttle.AttemptLimiter(per_minute=1, burst=1, max_clients=3)
    for n, client in enumerate("abc"):
        limiter.take(client, float(n))
    assert limiter.take("a", 3.0) > 0  # seen again: now the most recent
    assert limiter.take("d", 4.0) == 0  # the table is full: "b", the quietest, goes
    assert len(limiter) == 3
    assert limiter.take("b", 5.0) == 0  # forgotten, so full again ("c" goes)
    assert limiter.take("a", 6.0) > 0 and limiter.take("d", 6.0) > 0  # still remembered
    for n in range(10_000):
        limiter.take(f"10.0.{n // 256}.{n % 256}", 7.0)
    assert len(limiter) == 3


def test_clients_are_counted_by_address_and_ipv6_by_its_64():
    assert throttle.client_key("192.0.2.7") == "192.0.2.7"
    assert throttle.client_key("::ffff:192.0.2.7") == "192.0.2.7"
    one = throttle.client_key("2001:db8:1:2:aaaa::1")
    assert one == "2001:db8:1:2::/64" == throttle.client_key("2001:db8:1:2:ffff::9")
    assert throttle.client_key("2001:db8:1:3::1") != one
    assert throttle.client_key(None) == "-" and throttle.client_key("testclient") == "testclient"


def test_csv_neutralises_formulas_and_is_in_the_pages_language():
    rows = [
        {"index": 3, "kind": "exchange", "official": "-1+1", "case": "EXP 7", "outcome": "allowed"},
        {"index": 2, "kind": "login", "agency_verified": True, "outcome": "refused"},
        {"index": 4, "kind": "undelivered", "outcome": "undelivered"},
    ]
    lines = access_log.to_csv(rows, "es").split("\r\n")
    assert lines[0].split(",")[:3] == ["indice", "fecha_utc", "tipo"]
    assert "'-1+1" in lines[1] and ",EXP 7," in lines[1] and ",datos entregados," in lines[1]
    assert lines[2].startswith("2,,entrada,") and ",sí," in lines[2]
    assert lines[2].endswith(",consulta rechazada,")
    assert lines[3].startswith("4,,corrección: no entregada,") and ",no entregada," in lines[3]
    english = access_log.to_csv(rows, "en").split("\r\n")
    assert english[1].startswith("3,,access,") and ",data delivered," in english[1]
    assert english[2].startswith("2,,login,") and ",yes," in english[2]
    assert english[3].startswith("4,,correction: not delivered,")


def test_the_data_delivered_are_the_response_schemas_field_titles():
    snapshot = registry.Snapshot(
        version=1,
        services={
            str(service): registry.ServiceEntry(service, "s", operation, "", frozenset({"GET"}))
            for service, operation in (
                (bootstrap.CURP_SERVICE, "consulta-curp"),
                (bootstrap.DATOS_SERVICE, "consulta-datos"),
                (bootstrap.ACTA_SERVICE, "consulta-acta"),
                (bootstrap.EFIRMA_SERVICE, "valida-efirma"),
            )
        },
    )
    found = access_log.delivered(snapshot, schemas.catalogue())
    curp = [item["es"] for item in found[str(bootstrap.CURP_SERVICE)]]
    assert curp[:3] == ["CURP", "nombre", "primer apellido"]
    assert "fecha de nacimiento" in curp and "entidad de nacimiento" in curp
    # A list of records (homonyms) delivers the record's fields, each named once.
    assert found[str(bootstrap.DATOS_SERVICE)] == found[str(bootstrap.CURP_SERVICE)]
    assert {"es": "datos de sus padres", "en": "your parents' details"} in found[
        str(bootstrap.ACTA_SERVICE)
    ]
    assert found[str(bootstrap.EFIRMA_SERVICE)]
    # Every operation of the catalogue says what it delivers, in both languages.
    for operation, contract in schemas.catalogue().contracts.items():
        titles = access_log._titles(contract.inlined("response"))
        assert titles and all(item["es"] and item["en"] for item in titles), operation
