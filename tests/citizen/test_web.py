"""The citizen page in a real headless Chromium against a real gateway over HTTPS.

The browser trusts the instance's dev CA the way a citizen's would trust a CA: it is installed
in the NSS certificate database of the browser's (temporary) home directory, so TLS is fully
checked, host name included. No certificate error is ignored.

Chromium and certutil come from Debian's packages (``apt-get install -y chromium
chromium-driver libnss3-tools``) and node-forge from ``bash gateway/web/install.sh``; CI installs
all three, so their absence fails this test rather than skipping it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from gateway.server.citizen_api import STATIC_DIR
from tests.citizen.helpers import Efirma, consult

CHROMIUM = Path("/usr/bin/chromium")
# What this closed network needs (no background connections Chromium would make on its own).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = "apt-get install -y chromium chromium-driver libnss3-tools"


@pytest.fixture
def browser_home(tmp_path: Path, dev) -> Path:
    """A home directory whose NSS database trusts the instance's dev CA."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `{INSTALL}`")
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.fail(f"certutil is missing: install it with `{INSTALL}`")
    if not (STATIC_DIR / "vendor" / "forge.min.js").exists():
        pytest.fail("node-forge is not installed for the page: run `bash gateway/web/install.sh`")
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    subprocess.run([certutil, "-N", "-d", database, "--empty-password"], check=True)
    trust = [certutil, "-A", "-d", database, "-t", "C,,", "-n", "Enlace dev CA"]
    subprocess.run([*trust, "-i", str(dev.pki.ca_cert)], check=True)
    return home


@pytest.fixture
def browser(browser_home: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": str(browser_home)},
        )
        try:
            yield launched
        finally:
            launched.close()


def _files(tmp_path: Path, citizen: Efirma) -> tuple[Path, Path]:
    cer, key = tmp_path / f"{citizen.curp[:10]}.cer", tmp_path / f"{citizen.curp[:10]}.key"
    cer.write_bytes(citizen.cer)
    key.write_bytes(citizen.key)
    return cer, key


def _log_in(page: Page, cer: Path, key: Path, password: str) -> None:
    page.set_input_files("#cer", str(cer))
    page.set_input_files("#key", str(key))
    page.fill("#password", password)
    page.click("#login-button")


def test_citizen_logs_in_sees_verified_rows_and_downloads_a_bundle_the_cli_verifies(
    dev, gateway_url, browser, valid_efirmas, tmp_path
):
    citizen = valid_efirmas[0]
    cases = ["BECA-WEB-1", "BECA-WEB-2"]
    for case in cases:
        consult(dev, gateway_url, citizen, issue=case)
    consult(dev, gateway_url, valid_efirmas[1], issue="BECA-OTRO")  # someone else's
    cer, key = _files(tmp_path, citizen)

    context = browser.new_context(accept_downloads=True, locale="es-MX")
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or ""))
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{gateway_url}/ciudadano/")

    # Spanish first; the page's own scripts loaded under its strict CSP.
    expect(page.locator("h1")).to_have_text("¿Quién consultó mis datos?")
    expect(page.locator("#fatal")).to_be_hidden()
    assert page.evaluate("typeof forge") == "object"

    # A wrong password is caught in the browser; nothing is sent.
    _log_in(page, cer, key, "no-es-la-contraseña")
    expect(page.locator("#login-error")).to_contain_text("La contraseña no abre")
    assert not any(sent)

    _log_in(page, cer, key, citizen.password)
    rows = page.locator("#accesses tbody tr")
    expect(rows).to_have_count(3)  # two exchanges and this login
    expect(page.locator("td[data-proof=verified]")).to_have_count(3)
    expect(page.locator("#checkpoint")).to_contain_text("Punto de control verificado")
    expect(page.locator("#who")).to_contain_text(citizen.curp)
    exchanges = page.locator("#accesses tbody tr[data-kind=exchange]")
    expect(exchanges).to_have_count(2)
    first = exchanges.first
    expect(first).to_contain_text("Secretaría de Educación Pública")
    expect(first).to_contain_text("MX-SEP-000123")
    expect(first).to_contain_text("Consulta de CURP")
    expect(first).to_contain_text("BECA-WEB-2")
    expect(first).to_contain_text("Datos entregados")
    expect(page.locator("#accesses")).not_to_contain_text("BECA-OTRO")

    # The private key and its password never left the browser: only the certificate and a
    # signature were posted.
    posted = " ".join(sent)
    assert citizen.password not in posted
    login_body = json.loads(next(body for body in sent if '"signature"' in body))
    assert set(login_body) == {"challenge", "certificate", "signature"}

    # English on request, rows included.
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Who accessed my data?")
    expect(page.locator("td[data-proof=verified]").first).to_have_text("Verified")
    expect(first).to_contain_text("Data delivered")

    # Filters: one agency leaves out the login row.
    page.select_option("#agency", "MX/GOB/SEP")
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(2)

    # The bundle downloads and verifies offline with the CLI and the gateway's public key.
    with page.expect_download() as download:
        page.click("#download-bundle")
    bundle_path = tmp_path / "enlace-pruebas.json"
    download.value.save_as(bundle_path)
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "ledger",
            "check-proof",
            str(bundle_path),
            "--vkey",
            str(dev.pki.checkpoint_vkey),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["ok"] is True and len(verdict["indexes"]) == 2

    # ...and so does the CSV, in the page's language.
    with page.expect_download() as download:
        page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(row["case_number"] for row in table) == cases

    page.click("#logout")
    expect(page.locator("#login-section")).to_be_visible()
    expect(rows).to_have_count(0)
    assert problems == []
    context.close()


def test_the_page_flags_rows_whose_proof_fails(dev, gateway_url, browser, valid_efirmas, tmp_path):
    """The browser checks proofs itself: a record altered on the way is shown as not verified."""
    citizen = valid_efirmas[0]
    consult(dev, gateway_url, citizen, user_id="MX-SEP-000123", issue="BECA-REAL")
    cer, key = _files(tmp_path, citizen)
    page = browser.new_page()

    trusted = ssl.create_default_context(cafile=str(dev.pki.ca_cert))

    def tamper(route: Route) -> None:
        # Fetched here rather than by Playwright's driver, which does not use the NSS database.
        headers = {"Authorization": route.request.headers["authorization"]}
        page_json = httpx.get(route.request.url, headers=headers, verify=trusted).json()
        exchange = next(e for e in page_json["entries"] if e["kind"] == "exchange")
        exchange["leaf"] = exchange["leaf"].replace("BECA-REAL", "BECA-FALSA")
        route.fulfill(json=page_json)

    page.route("**/v1/citizen/accesses?*", tamper)
    page.goto(f"{gateway_url}/ciudadano/")
    _log_in(page, cer, key, citizen.password)
    altered = page.locator("#accesses tbody tr[data-kind=exchange]")
    expect(altered).to_contain_text("BECA-FALSA")
    expect(altered.locator("td[data-proof]")).to_have_attribute("data-proof", "failed")
    expect(page.locator("tr[data-kind=login] td[data-proof]")).to_have_attribute(
        "data-proof", "verified"
    )
    page.close()
