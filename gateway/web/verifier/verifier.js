"use strict";
// The single-file offline verifier's wiring: the reader picks a bundle (and optionally an older
// one) and the trusted keys (from a trust.json they choose, or pasted); every check is
// EnlaceVerify's, the same code as the citizen page's, and the words are EnlaceReport's.

(() => {
  let lang = "es";
  const $ = (id) => document.getElementById(id);

  function t(key, vars = {}) {
    const text = TEXTS[lang][key] ?? TEXTS.es[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  }

  function setLang(next) {
    lang = next;
    document.documentElement.lang = lang;
    document.title = t("verifier.title");
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    $("lang").textContent = t("lang.switch");
    $("lang").lang = lang === "es" ? "en" : "es";
  }

  async function readJson(input) {
    const file = input.files[0];
    if (!file) return null;
    return JSON.parse(await file.text());
  }

  async function loadTrust() {
    const result = $("result");
    try {
      const trust = await EnlaceVerify.readTrust(await readJson($("trust-file")));
      $("log-vkey").value = trust.vkey;
      $("witness-vkeys").value = trust.witnesses.join("\n");
      $("quorum").value = String(trust.quorum);
      await showFingerprint();
      result.textContent = "";
    } catch {
      result.textContent = t("verifier.bad_trust");
      result.dataset.ok = "false";
    }
  }

  async function showFingerprint() {
    const vkey = $("log-vkey").value.trim();
    let shown = "";
    if (vkey) shown = t("verifier.fingerprint", { fingerprint: await EnlaceVerify.fingerprint(vkey) });
    $("log-fingerprint").textContent = shown;
  }

  async function check(event) {
    event.preventDefault();
    const result = $("result");
    result.dataset.ok = "";
    result.textContent = t("check.working");
    const witnesses = $("witness-vkeys").value.split("\n").map((l) => l.trim()).filter(Boolean);
    const trust = { vkey: $("log-vkey").value.trim(), witnesses, quorum: Number($("quorum").value) };
    try {
      const fingerprint = await EnlaceVerify.fingerprint(trust.vkey);
      let bundle;
      let older;
      try {
        bundle = await readJson($("bundle"));
        older = await readJson($("older"));
      } catch {
        throw new EnlaceVerify.BundleProblem("format");
      }
      const checked = await EnlaceVerify.checkBundle(bundle, trust, older);
      result.textContent = EnlaceReport.describe(checked, t, fingerprint);
      result.dataset.ok = "true";
    } catch (error) {
      result.textContent = EnlaceReport.problem(error, t);
      result.dataset.ok = "false";
    }
  }

  function start() {
    setLang(navigator.language && navigator.language.startsWith("en") ? "en" : "es");
    $("lang").addEventListener("click", () => setLang(lang === "es" ? "en" : "es"));
    $("trust-file").addEventListener("change", loadTrust);
    $("log-vkey").addEventListener("input", showFingerprint);
    $("verifier").addEventListener("submit", check);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
