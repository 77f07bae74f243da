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
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, Route, expect

from gateway.devtools import bootstrap
from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import checkpoint
from gateway.server.run import running
from tests.citizen.helpers import consult
from tests.citizen.test_web import _files, _log_in
from tests.witness.test_gateway_witnessing import _witness
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
