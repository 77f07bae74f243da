"""The single-file offline verifier (docs/verifier.html) opened from disk in headless Chromium.

It is checked against bundles built from the completeness spec by an independent Python
rendering (tests/web/vectors.py): a complete bundle (consistent with an older one), a proof of
absence, and bundles that omit, add or reorder one entry, a forked history and a checkpoint
missing its witness — each must come out as the reader is told. The pairs of an older and a newer
bundle (``OLDER_PAIRS``: honest, or from a log that rewrote the citizen's list) go through both
``enlace ledger check-proof --older`` and the browser, which must refuse the same ones for the same
reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.devtools import build_verifier
from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import merkle
from tests.citizen.chromium import CHROMIUM, CHROMIUM_ARGS, INSTALL
from tests.web.vectors import OLDER_PAIRS, Ledger, sample


def test_the_committed_verifier_is_built_from_the_pages_scripts() -> None:
    assert build_verifier.main(["--check"]) == 0, (
        "docs/verifier.html is stale: run `python -m gateway.devtools.build_verifier`"
    )
    html = build_verifier.OUTPUT.read_text()
    for script in ("verify.js", "report.js", "i18n.js", "verifier.js"):
        assert f"/* {'static' if script != 'verifier.js' else 'verifier'}/{script} */" in html
    assert "<script src" not in html  # nothing to fetch: it works from file://


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `{INSTALL}`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=dict(os.environ)
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vectors")
    _, vectors = sample()
    written = {}
    for name, value in vectors.items():
        written[name] = folder / f"{name}.json"
        written[name].write_text(json.dumps(value))
    return written


def _open(browser: Browser, lang: str = "en-US") -> tuple[Page, list[str]]:
    page = browser.new_context(locale=lang).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(build_verifier.OUTPUT.resolve().as_uri())
    assert page.url.startswith("file://")
    return page, problems


def _check(page: Page, bundle: Path, older: Path | None = None) -> Any:
    page.set_input_files("#bundle", str(bundle))
    page.set_input_files("#older", str(older) if older else [])
    page.click("#verifier button[type=submit]")
    result = page.locator("#result")
    expect(result).not_to_have_attribute("data-ok", "")
    return result


def test_the_offline_verifier_checks_bundles_from_disk(
    browser: Browser, files: dict[str, Path]
) -> None:
    page, problems = _open(browser)
    expect(page.locator("h1")).to_have_text("Enlace proof verifier")
    # The keys come from the trust document the reader chose; its fingerprint is shown.
    page.set_input_files("#trust-file", str(files["trust"]))
    trust = json.loads(files["trust"].read_text())
    expect(page.locator("#log-vkey")).to_have_value(trust["log"]["vkey"])
    expect(page.locator("#quorum")).to_have_value("1")
    expect(page.locator("#log-fingerprint")).to_contain_text(trust["log"]["fingerprint"])

    result = _check(page, files["good"], files["older"])
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_contain_text("its 5 entries are in the signed log")
    expect(result).to_contain_text("complete up to entry 28")
    expect(result).to_contain_text("witness.test/w1")
    expect(result).to_contain_text("continues, unchanged, the older file's (of 21 entries)")

    result = _check(page, files["absent"])
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_contain_text("none of the 0 entries about you is missing")

    for name in ("omitted", "added", "reordered"):
        result = _check(page, files[name])
        expect(result).to_have_attribute("data-ok", "false")
        expect(result).to_contain_text("does NOT pass the check")
    expect(_check(page, files["omitted"])).to_contain_text("is missing, added or out of order")
    expect(_check(page, files["forked"], files["older"])).to_contain_text("history was rewritten")
    # A newer file without a proof from the older one's size is told apart from a rewrite.
    missing = _check(page, files["absent"], files["older"])
    expect(missing).to_contain_text("carries no proof from the older file's size (21 entries)")
    expect(_check(page, files["uncosigned"])).to_contain_text("witnesses (0/1)")
    # "Complete" about nobody: the citizen's key relabelled covert, its entries kept.
    nobody = json.loads(files["good"].read_text())
    for key in nobody["completeness"]["keys"]:
        key["role"] = "covert"
    relabelled = files["good"].with_name("relabelled.json")
    relabelled.write_text(json.dumps(nobody))
    expect(_check(page, relabelled)).to_have_attribute("data-ok", "false")
    # Quorum 0 (the keys pasted, no witness required): the same checkpoint passes.
    page.fill("#quorum", "0")
    expect(_check(page, files["uncosigned"])).to_have_attribute("data-ok", "true")
    # Another log key: the signature fails.
    page.fill("#log-vkey", trust["log"]["vkey"].replace(trust["log"]["vkey"][-8:], "AAAAAAAA"))
    expect(_check(page, files["good"])).to_have_attribute("data-ok", "false")
    assert problems == []


def test_the_offline_verifier_speaks_spanish(browser: Browser, files: dict[str, Path]) -> None:
    page, problems = _open(browser, "es-MX")
    expect(page.locator("h1")).to_have_text("Verificador de pruebas de Enlace")
    page.set_input_files("#trust-file", str(files["trust"]))
    result = _check(page, files["good"], files["older"])
    expect(result).to_contain_text("La lista está completa hasta el registro 28")
    page.set_input_files("#trust-file", str(files["good"]))  # not a trust document
    expect(page.locator("#result")).to_contain_text("no es un documento de confianza válido")
    assert problems == []


def test_the_browsers_consistency_check_agrees_with_the_kernel(browser: Browser) -> None:
    """Every (old, new) up to 33 leaves: the kernel's proofs verify in the browser, and a proof
    with one hash flipped, or claimed for the wrong size, does not."""
    ledger = Ledger()
    for n in range(33):
        ledger.append([], n)
    nodes = ledger._nodes(33)
    roots = [merkle.root(size, lambda ids: {i: nodes[i] for i in ids}) for size in range(34)]
    cases = []
    for new in range(1, 34):
        for old in range(1, new + 1):
            proof = merkle.consistency_proof(old, new, lambda ids: {i: nodes[i] for i in ids})
            good = [b64encode(h) for h in proof]
            cases.append([old, new, good, b64encode(roots[old]), b64encode(roots[new]), True])
            if proof:
                bad = [b64encode(bytes(32)), *good[1:]]
                cases.append([old, new, bad, b64encode(roots[old]), b64encode(roots[new]), False])
            if old > 1:
                cases.append(
                    [old - 1, new, good, b64encode(roots[old]), b64encode(roots[new]), False]
                )
    page, problems = _open(browser)
    results = page.evaluate(
        """async (cases) => {
          const b = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
          const out = [];
          for (const [m, n, proof, r1, r2] of cases) {
            out.push(await EnlaceVerify.verifyConsistency(m, n, proof.map(b), b(r1), b(r2)));
          }
          return out;
        }""",
        cases,
    )
    wrong = [
        case[:2] + [case[5]] for case, got in zip(cases, results, strict=True) if got != case[5]
    ]
    assert wrong == [] and len(cases) > 1000
    assert problems == []


def test_the_browsers_subject_map_agrees_with_the_shared_vectors(browser: Browser) -> None:
    """tests/data/completeness-vectors.json, written by the Python implementation: chains,
    value hashes and every membership and absence proof check out in the browser, and a
    proof checked against another key or value does not."""
    vectors = json.loads(
        (Path(__file__).parents[1] / "data" / "completeness-vectors.json").read_text()
    )
    page, problems = _open(browser)
    got = page.evaluate(
        """async (v) => {
          const m = EnlaceVerify.subjectMap;
          const subjects = [];
          for (const s of v.subjects) {
            const value = await m.valueHash(s.count, s.latest, s.chain);
            subjects.push([await m.chain(s.entries), value]);
          }
          const proofs = [];
          for (const p of v.proofs) {
            const value = p.kind === "membership" ? p.value_hash : null;
            const ok = await m.verifyProof(p.key, value, p.proof, v.root);
            const flipped = (p.key[0] === "0" ? "1" : "0") + p.key.slice(1);
            const other = await m.verifyProof(flipped, value, p.proof, v.root);
            const wrong = p.kind === "membership"
              && await m.verifyProof(p.key, v.empty_root, p.proof, v.root);
            proofs.push([ok, other, wrong]);
          }
          return { subjects, proofs };
        }""",
        vectors,
    )
    assert got["subjects"] == [[s["chain"], s["value_hash"]] for s in vectors["subjects"]]
    assert got["proofs"] == [[True, False, False]] * len(vectors["proofs"])
    assert problems == []


#: What each reason of OLDER_PAIRS is in the CLI's words (gateway/kernel/ledger/bundle.py) and in
#: the browser's (i18n.js, English).
SAID = {
    "format": ("consistency: an object with from and proof", "it is not an Enlace proof file"),
    "consistency": ("consistency with the older bundle", "history was rewritten"),
    "consistency_missing": ("no consistency proof from size 21", "no proof from the older file's"),
    "older_larger": ("older bundle's tree (28) is larger", "(28 entries) is larger than this"),
    "older_format": ("needs two v2", "both must carry the proof that the list is complete"),
    "older: witnesses": ("0 witness cosignatures, need 1", "the older file, on its own: the log"),
    "older_key": ("of the older bundle is not in the newer", "a list the older file proves is"),
    "older_entry": ("entry 6: the older bundle's entry is not", "changed in this one: no. 6"),
    "older_chain": ("older chain is not a prefix", "list for you is not the start of this one's"),
}


@pytest.mark.parametrize("pair", OLDER_PAIRS)
def test_the_cli_compares_the_older_pairs(files: dict[str, Path], pair: str) -> None:
    newer, older, reason = OLDER_PAIRS[pair]
    args = ["ledger", "check-proof", str(files[newer]), "--trust", str(files["trust"])]
    result = CliRunner().invoke(app, [*args, "--older", str(files[older]), "--json"])
    said = json.loads(result.stdout)
    if reason is None:
        assert result.exit_code == 0 and said["ok"] and said["extends_older"], result.stdout
    else:
        assert result.exit_code == 1 and SAID[reason][0] in said["error"], result.stdout


def test_the_browser_compares_the_older_pairs_as_the_cli_does(
    browser: Browser, files: dict[str, Path]
) -> None:
    """The same pairs in the offline verifier: each refused with its reason and in its words
    (the older file's own failure marked as the older file's), the honest pair accepted."""
    page, problems = _open(browser)
    page.set_input_files("#trust-file", str(files["trust"]))
    expect(page.locator("#quorum")).to_have_value("1")
    reasons = page.evaluate(
        """async ([vectors, pairs]) => {
          const trust = await EnlaceVerify.readTrust(vectors.trust);
          const out = {};
          for (const [name, [newer, older]] of Object.entries(pairs)) {
            try {
              await EnlaceVerify.checkBundle(vectors[newer], trust, vectors[older]);
              out[name] = null;
            } catch (error) {
              out[name] = (error.inOlder ? "older: " : "") + error.reason;
            }
          }
          return out;
        }""",
        [{name: json.loads(path.read_text()) for name, path in files.items()}, OLDER_PAIRS],
    )
    assert reasons == {name: reason for name, (_, _, reason) in OLDER_PAIRS.items()}
    for newer, older, reason in OLDER_PAIRS.values():
        result = _check(page, files[newer], files[older])
        if reason is None:
            expect(result).to_have_attribute("data-ok", "true")
            expect(result).to_contain_text("every entry of that file is still in this one")
        else:
            expect(result).to_have_attribute("data-ok", "false")
            expect(result).to_contain_text(SAID[reason][1])
    assert problems == []


def test_the_browser_says_a_rewritten_list_in_spanish(
    browser: Browser, files: dict[str, Path]
) -> None:
    page, problems = _open(browser, "es-MX")
    page.set_input_files("#trust-file", str(files["trust"]))
    dropped = _check(page, files["dropped"], files["older"])
    expect(dropped).to_contain_text("del archivo anterior falta o cambió en este: el n.º 6")
    rewritten = _check(page, files["revealed"], files["hid"])
    expect(rewritten).to_contain_text("no es el comienzo de la de este: la lista se reescribió")
    older = _check(page, files["good"], files["uncosigned"])
    expect(older).to_contain_text("el archivo anterior, por sí solo: la bitácora no tiene")
    assert problems == []
