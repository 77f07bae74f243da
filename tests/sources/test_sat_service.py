"""SAT's e.firma source: every verdict and failure code, OCSP over real HTTP, and the CLI.

The adapter is driven directly (it is what the gateway runs in process and what
``enlace source run sat`` serves); the OCSP responder is the real ``enlace source run sat-ocsp``
process, or a misbehaving stand-in built on the same ``Responder`` for the failure cases.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp as x509_ocsp
from typer.testing import CliRunner

from gateway.cli.main import app as cli
from gateway.devtools import sat_ca as devca
from gateway.devtools import sat_pki as devpki
from gateway.devtools.ocsp_responder import RESPONSE_TYPE, Responder
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.sources import SourceFailure, SourceRequest
from gateway.server.run import free_port
from trusted_sources.sat.service import SatAdapter
from trusted_sources.server import running

DATA = Path(__file__).resolve().parents[1] / "data" / "sat"
FORM = b'{"curp":"X","tramite":"licencia"}'


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def ask(
    sat_pki: devpki.SatDevPki,
    ocsp_url: str | None,
    certificate: bytes,
    *,
    subject: str | None = None,
    operation: str = "valida-efirma",
    body: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    adapter = SatAdapter.from_options(
        {"trust_dir": str(sat_pki.trust_dir), "ocsp_url": ocsp_url, **options}
    )
    request = SourceRequest(
        operation, "POST", subject, body={"certificado": b64(certificate), **(body or {})}
    )
    try:
        answer = await adapter.call(request)
    finally:
        await adapter.aclose()
    return answer.data, answer.subjects


def cer(sat_pki: devpki.SatDevPki, **match: str) -> tuple[devpki.Credential, bytes]:
    credential = sat_pki.find(**match)
    return credential, sat_pki.cer(credential).read_bytes()


def sign(sat_pki: devpki.SatDevPki, credential: devpki.Credential, data: bytes) -> bytes:
    key = efirma.load_key(sat_pki.key(credential).read_bytes(), devpki.PASSWORD.encode())
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def checks(report: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in report["checks"]}


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["failures"]]


# --- verdicts ----------------------------------------------------------------------------------


async def test_valid_efirma_answers_holder_chain_and_verified_ocsp(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, state="valid")
    report, subjects = await ask(sat_pki, ocsp_url, der, subject=credential.curp)

    assert (report["verdict"], report["valid"], report["failures"]) == ("valid", True, [])
    holder = report["certificate"]
    assert holder["kind"] == "efirma" and holder["persona"] == "fisica"
    assert (holder["rfc"], holder["curp"], holder["name"]) == (
        credential.rfc,
        credential.curp,
        credential.name,
    )
    assert holder["serial"] == credential.serial and holder["representative"] is None
    assert set(checks(report).values()) == {"passed"}
    assert subjects == (credential.curp,)

    revocation = report["revocation"]
    assert revocation["status"] == "good" and revocation["nonce_verified"] is True
    assert "OCSP AC DE PRUEBAS" in revocation["responder"]
    # The raw response is kept as evidence: it parses and is about this very certificate.
    kept = x509_ocsp.load_der_ocsp_response(base64.b64decode(revocation["ocsp_response"]))
    assert kept.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert kept.serial_number == x509.load_der_x509_certificate(der).serial_number


async def test_persona_moral_names_company_and_representative(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, persona="moral", state="valid")
    report, subjects = await ask(sat_pki, ocsp_url, der, subject=credential.curp)

    assert report["valid"] is True
    holder = report["certificate"]
    assert (holder["persona"], holder["rfc"], holder["curp"]) == ("moral", devpki.MORAL_RFC, None)
    assert holder["name"] == devpki.MORAL_NAME
    assert holder["representative"]["curp"] == credential.curp
    assert subjects == (credential.curp,)


async def test_csd_is_not_an_efirma(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, kind="csd", state="valid")
    report, _ = await ask(sat_pki, ocsp_url, der, subject=credential.curp)

    assert (report["verdict"], codes(report)) == ("invalid", ["efirma.is_csd"])
    assert report["certificate"]["branch"] == f"CSD01_{credential.rfc}"
    assert checks(report)["kind"] == "failed" and checks(report)["revocation"] == "passed"


async def test_expired_efirma(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, state="expired")
    report, _ = await ask(sat_pki, ocsp_url, der, subject=credential.curp)

    assert (report["verdict"], codes(report)) == ("invalid", ["efirma.expired"])
    assert checks(report)["validity"] == "failed" and checks(report)["chain"] == "passed"


async def test_revoked_efirma_says_when_and_why(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, state="revoked")
    report, _ = await ask(sat_pki, ocsp_url, der, subject=credential.curp)

    assert (report["verdict"], codes(report)) == ("invalid", ["efirma.revoked"])
    revocation = report["revocation"]
    assert revocation["status"] == "revoked" and revocation["reason"] == "keyCompromise"
    status = json.loads(sat_pki.status_file.read_text())["certificates"][credential.serial]
    revoked_at = datetime.fromisoformat(status["revoked_at"])
    assert datetime.fromisoformat(revocation["revoked_at"]) == revoked_at
    assert revocation["ocsp_response"]


async def test_certificate_of_a_foreign_ca_has_unknown_issuer(sat_pki, ocsp_url):
    now = datetime.now(UTC)
    pool = devca.KeyPool(4)
    foreign = devca.create_dev_ca(
        not_before=now - timedelta(days=30),
        root_key=pool.take(),
        ca_key=pool.take(),
        ocsp_key=pool.take(),
    )
    credential = sat_pki.find(state="valid")
    impostor = devca.issue_efirma(
        foreign,
        rfc=credential.rfc,
        curp=credential.curp,
        name=credential.name,
        email="x@example.mx",
        serial20=credential.serial,  # even the same No. de certificado
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=100),
        key=pool.take(),
    ).certificate
    der = impostor.public_bytes(serialization.Encoding.DER)
    report, _ = await ask(sat_pki, ocsp_url, der, subject=credential.curp)

    assert (report["verdict"], codes(report)) == ("invalid", ["efirma.unknown_issuer"])
    assert checks(report)["revocation"] == "skipped"
    assert report["revocation"]["ocsp_response"] is None


async def test_certificate_the_responder_does_not_know(sat_pki, ocsp_url):
    now = datetime.now(UTC)
    credential = sat_pki.find(state="valid")
    unlisted = devca.issue_efirma(
        devca.DevCA.load(sat_pki.ca_dir),
        rfc=credential.rfc,
        curp=credential.curp,
        name=credential.name,
        email="x@example.mx",
        serial20="30001000000599999999",
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=100),
        key=devca.KeyPool(1).take(),
    ).certificate
    report, _ = await ask(
        sat_pki, ocsp_url, unlisted.public_bytes(serialization.Encoding.DER), subject=None
    )
    assert (report["verdict"], codes(report)) == ("indeterminate", ["ocsp.status_unknown"])
    assert report["valid"] is False and report["revocation"]["status"] == "unknown"


async def test_certificate_of_someone_else_than_the_subject(sat_pki, ocsp_url, people):
    credential, der = cer(sat_pki, state="valid")
    other = next(p.curp for p in people if p.curp != credential.curp)
    report, subjects = await ask(sat_pki, ocsp_url, der, subject=other)

    assert (report["verdict"], codes(report)) == ("invalid", ["efirma.subject_mismatch"])
    assert subjects == (credential.curp,)  # the ledger learns whose e.firma it really was


# --- OCSP failures: revocation unknown, fail closed -------------------------------------------


@pytest.fixture
def responder(sat_pki: devpki.SatDevPki) -> Responder:
    return Responder.from_directory(sat_pki.ca_dir, sat_pki.status_file)


@contextlib.contextmanager
def serve(handler: Callable[[web.Request], Any]) -> Iterator[str]:
    app = web.Application()
    app.router.add_post("/", handler)
    with running(app, "127.0.0.1", free_port()) as url:
        yield url + "/"


def ocsp_reply(der: bytes) -> web.Response:
    return web.Response(body=der, content_type=RESPONSE_TYPE)


async def test_responder_down_is_indeterminate_not_a_crash(sat_pki):
    credential, der = cer(sat_pki, state="valid")
    report, _ = await ask(sat_pki, f"http://127.0.0.1:{free_port()}/", der)

    assert (report["verdict"], report["valid"]) == ("indeterminate", False)
    assert codes(report) == ["ocsp.unavailable"]
    assert report["revocation"]["detail"].startswith("revocation unknown: responder down")
    assert checks(report)["chain"] == "passed"


async def test_no_responder_configured_fails_closed(sat_pki):
    _, der = cer(sat_pki, state="valid")
    report, _ = await ask(sat_pki, None, der)
    assert (report["verdict"], codes(report)) == ("indeterminate", ["ocsp.not_configured"])


async def test_tampered_ocsp_response(sat_pki, responder):
    async def tampered(request: web.Request) -> web.Response:
        der = bytearray(responder.answer(await request.read(), datetime.now(UTC)))
        signature = x509_ocsp.load_der_ocsp_response(bytes(der)).signature
        der[bytes(der).find(signature) + 7] ^= 0x01
        return ocsp_reply(bytes(der))

    _, der = cer(sat_pki, state="revoked")
    with serve(tampered) as url:
        report, _ = await ask(sat_pki, url, der)
    assert (report["verdict"], codes(report)) == ("indeterminate", ["ocsp.bad_signature"])
    assert report["revocation"]["ocsp_response"]  # what was received is kept, flagged


async def test_replayed_ocsp_response_is_caught_by_the_nonce(sat_pki, responder):
    first: list[bytes] = []

    async def replaying(request: web.Request) -> web.Response:
        if not first:
            first.append(responder.answer(await request.read(), datetime.now(UTC)))
        return ocsp_reply(first[0])

    _, der = cer(sat_pki, state="valid")
    with serve(replaying) as url:
        fresh, _ = await ask(sat_pki, url, der)
        replayed, _ = await ask(sat_pki, url, der)
    assert fresh["verdict"] == "valid"
    assert (replayed["verdict"], codes(replayed)) == ("indeterminate", ["ocsp.nonce_mismatch"])


async def test_stale_ocsp_response(sat_pki, responder):
    async def stale(request: web.Request) -> web.Response:
        old = datetime.now(UTC) - timedelta(hours=3)
        return ocsp_reply(responder.answer(await request.read(), old))

    _, der = cer(sat_pki, state="valid")
    with serve(stale) as url:
        report, _ = await ask(sat_pki, url, der)
    assert (report["verdict"], codes(report)) == ("indeterminate", ["ocsp.stale"])


async def test_slow_responder_times_out(sat_pki):
    # The responder holds the request until the test has its report: only the time-out can end
    # the wait, however loaded the machine (after a minute it answers garbage, failing the test).
    released = threading.Event()

    async def slow(request: web.Request) -> web.Response:
        for _ in range(6000):
            if released.is_set():
                break
            await asyncio.sleep(0.01)
        return ocsp_reply(b"")

    _, der = cer(sat_pki, state="valid")
    with serve(slow) as url:
        report, _ = await ask(sat_pki, url, der, ocsp_timeout=0.5)
        released.set()
    assert (report["verdict"], codes(report)) == ("indeterminate", ["ocsp.timeout"])


async def test_responder_answering_garbage(sat_pki):
    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    async def garbage(request: web.Request) -> web.Response:
        return ocsp_reply(b"\x30\x03not ocsp")

    _, der = cer(sat_pki, state="valid")
    with serve(error) as url:
        failed, _ = await ask(sat_pki, url, der)
    with serve(garbage) as url:
        malformed, _ = await ask(sat_pki, url, der)
    assert codes(failed) == ["ocsp.http_error"]
    assert codes(malformed) == ["ocsp.malformed"]


# --- verifica-firma ------------------------------------------------------------------------------


async def test_signature_by_the_efirma(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, state="valid")
    body = {"firma": b64(sign(sat_pki, credential, FORM)), "datos": b64(FORM)}
    report, _ = await ask(
        sat_pki, ocsp_url, der, subject=credential.curp, operation="verifica-firma", body=body
    )
    assert (report["verdict"], report["signed"], report["valid"]) == ("valid", True, True)
    assert checks(report)["signature"] == "passed"


async def test_signature_that_does_not_match(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, state="valid")
    other = [c for c in sat_pki.credentials() if c.state == "valid" and c != credential][0]
    cases = {
        "other data": (sign(sat_pki, credential, FORM), FORM + b" "),
        "someone else's key": (sign(sat_pki, other, FORM), FORM),
    }
    for label, (signature, data) in cases.items():
        body = {"firma": b64(signature), "datos": b64(data)}
        report, _ = await ask(
            sat_pki, ocsp_url, der, subject=credential.curp, operation="verifica-firma", body=body
        )
        assert report["signed"] is False, label
        assert (report["verdict"], codes(report)) == ("invalid", ["signature.mismatch"]), label


async def test_signature_by_a_revoked_efirma_is_signed_but_invalid(sat_pki, ocsp_url):
    credential, der = cer(sat_pki, state="revoked")
    body = {"firma": b64(sign(sat_pki, credential, FORM)), "datos": b64(FORM)}
    report, _ = await ask(sat_pki, ocsp_url, der, operation="verifica-firma", body=body)
    assert (report["signed"], report["valid"], codes(report)) == (True, False, ["efirma.revoked"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"certificado": ""}, "certificado"),
        ({"certificado": "not base64!"}, "base64"),
        ({"certificado": b64(b"\x30\x03abc")}, "efirma.malformed"),
    ],
)
async def test_unusable_request_is_an_invalid_query(sat_pki, body, message):
    adapter = SatAdapter.from_options({"trust_dir": str(sat_pki.trust_dir)})
    try:
        with pytest.raises(SourceFailure) as caught:
            await adapter.call(SourceRequest("valida-efirma", "POST", None, body=body))
        assert caught.value.code == "Source.InvalidQuery" and message in caught.value.message
        with pytest.raises(SourceFailure, match="JSON object body"):
            await adapter.call(SourceRequest("valida-efirma", "GET", None))
    finally:
        await adapter.aclose()


async def test_pem_certificate_text_is_accepted(sat_pki, ocsp_url):
    _, der = cer(sat_pki, state="valid")
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    report, _ = await ask(sat_pki, ocsp_url, b"", body={"certificado": pem.decode()})
    assert report["verdict"] == "valid"


# --- enlace efirma check --------------------------------------------------------------------------


def efirma_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["efirma", "check", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("name", "at", "expected"),
    [
        (
            "FIEL_CACX7605101P8.cer",
            "2025-01-01T00:00:00Z",
            {
                "kind": "efirma",
                "persona": "fisica",
                "rfc": "CACX7605101P8",
                "curp": "CACX760510MGTSHC04",
                "name": "XOCHILT CASAS CHAVEZ",
                "serial": "30001000000500003282",
                "representative": None,
                "branch": None,
            },
        ),
        (
            "FIEL_AAA010101AAA.cer.pem",
            "2020-01-01T00:00:00Z",
            {
                "kind": "efirma",
                "persona": "moral",
                "rfc": "AAA010101AAA",
                "curp": None,
                "name": "ACCEM SERVICIOS EMPRESARIALES SC",
                "serial": "30001000000300023685",
                "representative": {"rfc": "HEGT7610034S2", "curp": "HEGT761003MDFRNN09"},
                "branch": None,
            },
        ),
        (
            "CSD01_AAA010101AAA.cer.pem",
            "2020-01-01T00:00:00Z",
            {"kind": "csd", "serial": "30001000000300023708", "branch": "CSD01_AAA010101AAA"},
        ),
        (
            "CSD_CACX7605101P8.cer",
            "2020-01-01T00:00:00Z",
            {"kind": "csd", "serial": "30001000000400002451", "branch": "XOCHILT CASAS CHAVEZ 2"},
        ),
    ],
)
def test_cli_reads_sat_real_test_certificates(tmp_path, name, at, expected):
    # SAT's test CAs are not available (tests/data/sat/README.md): the chain cannot be built,
    # and the verdict says so, but every field must be read right.
    status, output = efirma_check(
        str(DATA / name), "--json", "--at", at, "--pki-dir", str(tmp_path)
    )
    report = json.loads(output)
    assert status == 1 and report["verdict"] == "invalid"
    assert {k: report["certificate"][k] for k in expected} == expected
    assert "efirma.unknown_issuer" in codes(report)
    assert ("efirma.is_csd" in codes(report)) == (expected["kind"] == "csd")
    assert "efirma.expired" not in codes(report)  # checked at a time inside the window
    assert checks(report)["revocation"] == "skipped"


def test_cli_says_each_check_and_why(sat_pki, ocsp_url, tmp_path):
    trust = ["--trust-dir", str(sat_pki.trust_dir), "--ocsp-url", ocsp_url]
    revoked = sat_pki.find(state="revoked")
    status, output = efirma_check(str(sat_pki.cer(revoked)), *trust)
    assert status == 1
    assert f"RFC               {revoked.rfc}" in output
    assert "ok    chain" in output and "FAIL  revocation" in output
    assert "[efirma.revoked]" in output and "verdict: INVALID (efirma.revoked)" in output

    valid = sat_pki.find(state="valid")
    (tmp_path / "form.json").write_bytes(FORM)
    (tmp_path / "form.sig").write_text(b64(sign(sat_pki, valid, FORM)))
    signed = ["--signature", str(tmp_path / "form.sig"), "--data", str(tmp_path / "form.json")]
    status, output = efirma_check(str(sat_pki.cer(valid)), *trust, *signed)
    assert status == 0 and "ok    signature" in output and "verdict: VALID" in output

    (tmp_path / "form.json").write_bytes(FORM + b"\n")
    status, output = efirma_check(str(sat_pki.cer(valid)), *trust, *signed, "--json")
    assert status == 1 and codes(json.loads(output)) == ["signature.mismatch"]


def test_cli_on_something_that_is_not_a_certificate(tmp_path):
    (tmp_path / "x.cer").write_bytes(b"hello")
    status, output = efirma_check(str(tmp_path / "x.cer"), "--json", "--pki-dir", str(tmp_path))
    assert status == 1 and codes(json.loads(output)) == ["efirma.malformed"]
