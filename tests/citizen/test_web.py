"""The citizen page in a real headless Chromium against a real gateway over HTTPS, as a citizen
uses it: on a phone (390 px wide) and on a desktop (1280 px), in Spanish and in English.

The browser trusts the instance's dev CA the way a citizen's would trust a CA: it is installed
in the NSS certificate database of the browser's (temporary) home directory, so TLS is fully
checked, host name included. No certificate error is ignored (tests/citizen/chromium.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import ssl
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from gateway.devtools import bootstrap
from services.sdk import EnlaceClient
from services.sdk.errors import AccessDenied
from tests.citizen.helpers import HELP, PRIVACY_URL, Efirma, consult

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


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


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


def _refused(dev, url: str, citizen: Efirma) -> None:
    """The scholarship office asks for a purpose it was not granted: refused, ledgered."""
    client = EnlaceClient.from_pki(url, str(bootstrap.BECAS), dev.pki.root)
    with client as sdk, pytest.raises(AccessDenied):
        sdk.call(
            str(bootstrap.CURP_SERVICE),
            subject=citizen.curp,
            purpose="mercadotecnia",
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000999",
            issue="BECA-WEB-3",
        )


def _zone_label() -> str:
    """What Intl calls America/Mexico_City's offset now (no summer time since 2022)."""
    offset = dt.datetime.now(ZoneInfo("America/Mexico_City")).utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset else 0
    return f"GMT{hours:+d}" if hours else "GMT"


def test_citizen_on_a_phone_and_a_desktop_reads_plain_words_and_checks_the_bundle(
    dev, gateway_url, browser, valid_efirmas, tmp_path, http
):
    citizen = valid_efirmas[0]
    cases = ["BECA-WEB-1", "BECA-WEB-2"]
    for case in cases:
        consult(dev, gateway_url, citizen, issue=case)
    _refused(dev, gateway_url, citizen)
    consult(dev, gateway_url, valid_efirmas[1], issue="BECA-OTRO")  # someone else's
    cer, key = _files(tmp_path, citizen)

    context = browser.new_context(accept_downloads=True, locale="es-MX", viewport=PHONE)
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or ""))
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{gateway_url}/ciudadano/")

    # First arrival on a phone: Spanish, the login form, somewhere to turn; no sideways scroll.
    expect(page.locator("h1")).to_have_text("¿Quién consultó mis datos?")
    expect(page.locator("#fatal")).to_be_hidden()
    assert page.evaluate("typeof forge") == "object"
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#help")).to_have_text(f"Mesa de ayuda: {HELP}")
    expect(page.locator("footer")).to_contain_text("Sus derechos ARCO")
    _no_sideways_scroll(page)
    page.screenshot(path=tmp_path / "phone-arrival.png", full_page=True)
    # The English texts have exactly the Spanish keys.
    assert page.evaluate(
        "Object.keys(TEXTS.es).sort().join() === Object.keys(TEXTS.en).sort().join()"
    )
    favicon = http.get(f"{gateway_url}/ciudadano/favicon.svg")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg")

    # Files in the wrong slots, and a wrong password, are caught in the browser; nothing is sent.
    _log_in(page, key, key, citizen.password)
    expect(page.locator("#login-error")).to_contain_text("En «Certificado (.cer)» eligió una clave")
    _log_in(page, cer, cer, citizen.password)
    expect(page.locator("#login-error")).to_contain_text("En «Clave privada (.key)» eligió un cert")
    _log_in(page, key, cer, citizen.password)
    expect(page.locator("#login-error")).to_contain_text("Eligió los archivos al revés")
    _log_in(page, cer, key, "no-es-la-contraseña")
    expect(page.locator("#login-error")).to_contain_text("La contraseña no abre")
    assert not any(sent)

    _log_in(page, cer, key, citizen.password)
    cards = page.locator("#accesses li[data-kind=exchange]")
    expect(cards).to_have_count(3)  # two lookups and one refusal; the login is folded
    expect(page.locator("#logins")).to_have_text(re.compile(r"^Usted entró a esta página 1 vez"))
    expect(page.locator("[data-proof=verified]")).to_have_count(4)
    expect(page.locator("#trust-line")).to_contain_text(
        "Cada consulta está registrada en una bitácora que nadie puede alterar sin que se note"
    )
    vkey = dev.pki.checkpoint_vkey.read_text().strip()
    digest = hashlib.sha256(vkey.encode()).hexdigest()[:32].upper()
    fingerprint = " ".join(digest[i : i + 4] for i in range(0, 32, 4))
    expect(page.locator("#trust-key")).to_contain_text(fingerprint)
    # The key is pinned from the page's own trust document (docs/trust.md), linked first.
    expect(page.locator("#trust-key a").first).to_have_attribute(
        "href", f"{gateway_url}/ciudadano/trust.json"
    )
    # Complete (bundle v2 checked in the browser); no witnesses pinned on this instance.
    expect(page.locator("#completeness")).to_have_attribute("data-status", "ok")
    expect(page.locator("#completeness")).to_contain_text("Lista completa hasta el registro")
    expect(page.locator("#completeness")).to_contain_text("sin testigos independientes")
    expect(page.locator("#history")).to_have_attribute("data-outcome", "first")
    expect(page.locator("#who")).to_contain_text(citizen.curp)
    expect(page.locator("#empty")).to_be_hidden()

    # The newest card is the refusal, in words, with what it meant for the citizen.
    refusal = cards.nth(0)
    expect(refusal).to_contain_text("Consulta rechazada")
    expect(refusal).to_contain_text("una finalidad que no tiene autorizada")
    expect(refusal).to_contain_text("Mercadotecnia y publicidad")
    expect(refusal).to_contain_text("Ninguno: no se entregaron datos suyos.")
    first = cards.nth(1)
    expect(first).to_contain_text("Secretaría de Educación Pública")
    expect(first).to_contain_text("Datos entregados")
    expect(first).to_contain_text("Inscripción a un programa de becas")
    expect(first).to_contain_text("Ley General de Educación, art. 8")
    expect(first.locator("a", has_text="Ley General de Educación")).to_have_attribute(
        "href", re.compile(r"^https://www\.diputados\.gob\.mx/")
    )
    expect(first).to_contain_text("nombre, primer apellido, segundo apellido")
    expect(first).to_contain_text("fecha de nacimiento")
    expect(first).to_contain_text("Consulta de CURP")
    expect(first).to_contain_text("MX-SEP-000123")
    expect(first).to_contain_text("BECA-WEB-2")
    expect(first).to_contain_text("transparencia@sep.ejemplo.gob.mx")
    # One time, local, with its zone; the ISO form and the codes only in the details.
    when = first.locator("time.when")
    expect(when).to_contain_text(_zone_label())
    iso = when.get_attribute("datetime")
    assert iso and iso.endswith("Z")
    shown = first.inner_text()
    for code in (iso, bootstrap.BECAS_PURPOSE, bootstrap.BECAS_LEGAL_BASIS, "MX/GOB/RENAPO"):
        assert code not in shown
    first.locator("details summary").click()
    expect(first.locator("details")).to_contain_text(bootstrap.BECAS_LEGAL_BASIS)
    expect(first.locator("details")).to_contain_text(iso)
    expect(refusal.locator("details")).to_contain_text(
        "Client.PurposeNotGranted", use_inner_text=False
    )
    expect(page.locator("#accesses")).not_to_contain_text("BECA-OTRO")
    _no_sideways_scroll(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=tmp_path / "phone-log-first.png")
    page.screenshot(path=tmp_path / "phone-log.png", full_page=True)

    # The private key and its password never left the browser: only the certificate and a
    # signature were posted.
    posted = " ".join(sent)
    assert citizen.password not in posted
    login_body = json.loads(next(body for body in sent if '"signature"' in body))
    assert set(login_body) == {"challenge", "certificate", "signature"}

    # On a desktop: the same cards side by side, still no sideways scroll.
    page.set_viewport_size(DESKTOP)
    _no_sideways_scroll(page)
    tops = [cards.nth(i).bounding_box()["y"] for i in range(2)]
    assert tops[0] == tops[1], "two columns of cards at 1280 px"
    page.screenshot(path=tmp_path / "desktop-log.png", full_page=True)

    # English on request, cards included.
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Who accessed my data?")
    expect(page.locator("[data-proof=verified]").first).to_have_text("Verified")
    expect(first).to_contain_text("Data delivered")
    expect(first).to_contain_text("date of birth")
    expect(page.locator("#logins")).to_contain_text("You logged in to this page once")
    expect(page.locator("#trust-line")).to_contain_text("nobody can alter without it being noticed")

    # Filters: one agency leaves out the login.
    page.click(".filters-box summary")
    page.select_option("#agency", "MX/GOB/SEP")
    page.click("#filters button[type=submit]")
    expect(page.locator("#logins")).to_be_hidden()
    expect(cards).to_have_count(3)

    # The bundle (always the whole list, filters or not: only that can be proven complete)
    # downloads and verifies offline with the CLI and the gateway's public key...
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
    # two lookups, the refusal and the login; complete up to its checkpoint
    assert verdict["ok"] is True and len(verdict["indexes"]) == 4 and verdict["complete"]

    # ...the key the page offers is the published one...
    with page.expect_download() as download:
        page.click("#download-key")
    assert Path(download.value.path()).read_text().strip() == vkey

    # ...and the page itself checks it without any tool, and refuses an altered one.
    page.click("main #log-section a[href='#comprobar']")
    expect(page.locator("#view-comprobar")).to_be_visible()
    expect(page.locator("#view-main")).to_be_hidden()
    page.set_input_files("#bundle-file", str(bundle_path))
    expect(page.locator("#bundle-result")).to_have_text(
        re.compile(r"^The file is authentic: its 4 entries are in the signed log")
    )
    expect(page.locator("#bundle-result")).to_contain_text(fingerprint)
    altered = tmp_path / "altered.json"
    altered.write_text(bundle_path.read_text().replace("BECA-WEB-1", "BECA-WEB-9"))
    page.set_input_files("#bundle-file", str(altered))
    expect(page.locator("#bundle-result")).to_contain_text("does NOT pass the check: entry no.")
    page.click("#view-comprobar a[href='#']")
    expect(page.locator("#view-main")).to_be_visible()

    # The CSV is in the page's language, values included.
    with page.expect_download() as download:
        page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(row["case_number"] for row in table) == [*cases, "BECA-WEB-3"]
    assert {row["kind"] for row in table} == {"access"}
    assert {row["outcome"] for row in table} == {"data delivered", "request refused"}

    # Somewhere to turn: the ARCO rights and the privacy notice, with the instance's contacts.
    page.click("#lang")
    page.click("footer a[href='#derechos']")
    expect(page.locator("#view-derechos")).to_contain_text("Rectificación")
    expect(page.locator("#arco-contact")).to_contain_text("transparencia@enlace.ejemplo.gob.mx")
    page.click("footer a[href='#aviso']")
    expect(page.locator("#view-aviso")).to_contain_text("Responsable de sus datos en esta página")
    expect(page.locator("#privacy-full a")).to_have_attribute("href", PRIVACY_URL)
    page.click("#view-aviso a[href='#']")

    page.click("#logout")
    expect(page.locator("#login-section")).to_be_visible()
    expect(cards).to_have_count(0)
    assert problems == []
    context.close()


def test_a_citizen_nobody_consulted_is_told_so_with_her_logins_on_one_line(
    dev, gateway_url, browser, valid_efirmas, tmp_path
):
    citizen = valid_efirmas[1]
    cer, key = _files(tmp_path, citizen)
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{gateway_url}/ciudadano/")
    for _ in range(3):
        _log_in(page, cer, key, citizen.password)
        expect(page.locator("#log-section")).to_be_visible()
        page.click("#logout")
    _log_in(page, cer, key, citizen.password)
    expect(page.locator("#empty")).to_have_text("Nadie ha consultado sus datos a través de Enlace.")
    expect(page.locator("#logins")).to_contain_text("Usted entró a esta página 4 veces; la última,")
    expect(page.locator("#accesses li")).to_have_count(0)
    _no_sideways_scroll(page)
    page.screenshot(path=tmp_path / "phone-empty.png", full_page=True)
    page.close()


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
    altered = page.locator("#accesses li[data-kind=exchange]")
    expect(altered).to_contain_text("BECA-FALSA")
    expect(altered.locator("[data-proof]")).to_have_attribute("data-proof", "failed")
    expect(page.locator("#logins [data-proof]")).to_have_attribute("data-proof", "verified")
    page.close()
