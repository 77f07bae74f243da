"""The citizen page as a verifier that does not trust the server it checks (docs/trust.md), in a
real headless Chromium against a real gateway whose checkpoints a real witness process cosigns.

The page pins the checkpoint and witness keys from its own static ``trust.json``; it remembers
the last checkpoint it verified (localStorage) and proves, on the next visit, that the log only
grew; it shows "complete up to N, witnessed by W". What a browser saw before is set in its
storage directly where the test needs a history the real log cannot produce (a larger or a
different tree under the same key).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, Route, expect

from gateway.devtools import bootstrap, build_verifier
from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import checkpoint, trust
from gateway.server.run import running
from tests.citizen.helpers import consult, login
from tests.citizen.test_web import _files, _log_in
from tests.witness.test_gateway_witnessing import _until, _witness
from tests.witness.test_witness_e2e import serving

WITNESS = "witness.test/inai"


@pytest.fixture
def witnessed_url(dev: bootstrap.DevInstance, tmp_path: Path) -> Iterator[str]:
    """The gateway, submitting to one witness, with a trust.json pinning both keys (k = 1)."""
    log_vkey = dev.pki.checkpoint_vkey.read_text().strip()
    directory, vkey = _witness(tmp_path, WITNESS)
    with serving(directory, "--log", f"{log_vkey.split('+')[0]}={log_vkey}") as url:
        bootstrap.write_trust(dev.pki, [vkey], 1)
        settings = dev.settings.model_copy(
            update={"witnesses": (f"{url} {vkey}",), "checkpoint_interval": 0.5}
        )
        with running(settings) as gateway_url:
            yield gateway_url


def _visit(page: Page, url: str, cer: Path, key: Path, password: str) -> None:
    page.goto(f"{url}/ciudadano/")
    _log_in(page, cer, key, password)
    expect(page.locator("#log-section")).to_be_visible()


def _remember(page: Page, origin: str, size: int, root: bytes) -> None:
    value = json.dumps({"size": size, "root": b64encode(root)})
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [f"enlace.checkpoint.{origin}", value])


def test_the_page_remembers_its_checkpoint_and_detects_rollback_and_fork(
    dev, witnessed_url, browser, valid_efirmas, tmp_path
):
    citizen = valid_efirmas[0]
    consult(dev, witnessed_url, citizen, issue="BECA-TRUST-1")
    cer, key = _files(tmp_path, citizen)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    history = page.locator("#history")

    # First visit: nothing remembered yet; the keys' fingerprint comes from trust.json.
    _visit(page, witnessed_url, cer, key, citizen.password)
    page.click("#lang")
    expect(history).to_have_attribute("data-outcome", "first")
    trust = json.loads(dev.pki.trust_document.read_text())
    expect(page.locator("#trust-key")).to_contain_text(trust["log"]["fingerprint"])
    expect(page.locator("#trust-key a").first).to_have_attribute(
        "href", f"{witnessed_url}/ciudadano/trust.json"
    )
    complete = page.locator("#completeness")
    expect(complete).to_have_attribute("data-status", "ok", timeout=120_000)
    expect(complete).to_contain_text(f"witnessed by {WITNESS}")
    origin = trust["log"]["vkey"].split("+")[0]
    saved = json.loads(page.evaluate(f"localStorage.getItem('enlace.checkpoint.{origin}')"))

    # The log grows; the next visit proves it only grew since.
    consult(dev, witnessed_url, citizen, issue="BECA-TRUST-2")
    page.click("#logout")
    _visit(page, witnessed_url, cer, key, citizen.password)
    expect(history).to_have_attribute("data-outcome", "extended")
    expect(history).to_contain_text(f"({saved['size']} entries then")

    # A browser that saw a larger tree: the log went back.
    page.click("#logout")
    _remember(page, origin, 1_000_000, bytes(32))
    _visit(page, witnessed_url, cer, key, citizen.password)
    expect(history).to_have_attribute("data-outcome", "rollback")
    expect(history).to_contain_text("Warning! The log is smaller")
    # ... and the alarm stays: the remembered head is not replaced by the smaller one.
    page.click("#logout")
    _visit(page, witnessed_url, cer, key, citizen.password)
    expect(history).to_have_attribute("data-outcome", "rollback")

    # A browser that saw another tree of a smaller size: the log does not extend it.
    page.click("#logout")
    _remember(page, origin, 2, b"\x07" * 32)
    _visit(page, witnessed_url, cer, key, citizen.password)
    expect(history).to_have_attribute("data-outcome", "fork")
    expect(history).to_contain_text("its history was rewritten")
    assert problems == []
    context.close()


def test_the_page_pins_its_keys_from_its_own_trust_document(
    dev, witnessed_url, browser, valid_efirmas, tmp_path
):
    citizen = valid_efirmas[0]
    cer, key = _files(tmp_path, citizen)
    page = browser.new_page(locale="en-US")

    # A trust document pinning another log key: the server's checkpoints do not verify.
    other = checkpoint.NoteSigner(
        dev.pki.load_checkpoint_signer().name, Ed25519PrivateKey.generate()
    )
    document = json.loads(dev.pki.trust_document.read_text())
    document["log"] = {"vkey": other.verifier().to_vkey()}

    def forged_trust(route: Route) -> None:
        route.fulfill(json=document)

    page.route("**/ciudadano/trust.json", forged_trust)
    _visit(page, witnessed_url, cer, key, citizen.password)
    page.click("#lang")
    expect(page.locator("#trust-line")).to_have_attribute("data-ok", "false")
    expect(page.locator("#completeness")).to_have_attribute("data-status", "bad")
    expect(page.locator("[data-proof=verified]")).to_have_count(0)

    # No trust document at all: the page says it cannot check, and verifies nothing.
    page.unroute("**/ciudadano/trust.json")
    page.route("**/ciudadano/trust.json", lambda route: route.fulfill(status=404, body="none"))
    page.click("#logout")
    _visit(page, witnessed_url, cer, key, citizen.password)
    expect(page.locator("#trust-line")).to_contain_text("lacks its trust document")
    expect(page.locator("[data-proof=verified]")).to_have_count(0)
    page.close()


def test_the_offline_verifier_checks_real_bundles_and_their_consistency(
    dev, witnessed_url, browser, valid_efirmas, tmp_path
):
    """Two bundles of one citizen from the real gateway, the newer proving consistency from the
    older's tree; the offline verifier, opened from disk with the deployed trust.json, accepts
    both, complete and witnessed, and the pair; a newer bundle's entry removed fails."""
    citizen = valid_efirmas[0]
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    policy = trust.TrustDocument.parse(json.loads(dev.pki.trust_document.read_text()))
    with httpx.Client(verify=context, timeout=60) as http:
        consult(dev, witnessed_url, citizen, issue="BECA-OFFLINE-1")
        auth = {"Authorization": f"Bearer {login(http, witnessed_url, citizen)}"}

        def witnessed_bundle(query: str = "") -> dict | None:
            answer = http.get(f"{witnessed_url}/v1/citizen/bundle{query}", headers=auth).json()
            try:
                policy.policy.check(answer["checkpoint"].encode(), policy.log)
            except trust.TrustError:
                return None
            return answer

        older = _until("a cosigned bundle", witnessed_bundle)
        consult(dev, witnessed_url, citizen, issue="BECA-OFFLINE-2")
        size = int(older["checkpoint"].split("\n")[1])
        newer = _until(
            "a newer cosigned bundle", lambda: witnessed_bundle(f"?consistency_from={size}")
        )
    assert newer["format"] == "enlace.ledger-bundle/v2" and newer["consistency"]["from"] == size
    files = {"older": older, "newer": newer}
    omitted = json.loads(json.dumps(newer))
    del omitted["entries"][0]
    files["omitted"] = omitted
    for name, value in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(value))

    page = browser.new_page(locale="en-US")
    page.goto(build_verifier.OUTPUT.resolve().as_uri())
    page.set_input_files("#trust-file", str(dev.pki.trust_document))
    expect(page.locator("#quorum")).to_have_value("1")
    result = page.locator("#result")
    page.set_input_files("#bundle", str(tmp_path / "newer.json"))
    page.set_input_files("#older", str(tmp_path / "older.json"))
    page.click("#verifier button[type=submit]")
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_contain_text(f"complete up to entry {newer['checkpoint'].split(chr(10))[1]}")
    expect(result).to_contain_text(f"witness(es): {WITNESS}")
    expect(result).to_contain_text(f"the older file's (of {size} entries)")
    page.set_input_files("#bundle", str(tmp_path / "omitted.json"))
    page.set_input_files("#older", [])
    page.click("#verifier button[type=submit]")
    expect(result).to_have_attribute("data-ok", "false")
    expect(result).to_contain_text("missing, added or out of order")
    page.close()
