"use strict";
// The citizen page: log in with e.firma (the SAT .key is opened and the challenge signed here,
// in the browser), then show each access as a card in plain words (agency, data delivered,
// purpose, legal basis, outcome and what it meant, one local time with its zone; codes in a
// details view) with its proof status, the citizen's own logins folded into one line, filters,
// more pages, downloads (proof bundle, CSV, the log's key), the check of a downloaded bundle,
// and the ARCO rights and privacy notice views. The session token lives in memory only.
// Every value from the server is put in the page as text, never as HTML.

(() => {
  const MAX_FILE = 16 * 1024;
  const MAX_BUNDLE = 64 * 1024 * 1024;
  const DEFAULT_ZONE = "America/Mexico_City";
  const PAGE = 50;
  const $ = (id) => document.getElementById(id);
  const state = {
    lang: "es",
    token: null,
    session: null,
    cursor: null,
    filters: {},
    rows: [],
    trust: null, // the keys pinned from the page's own trust.json: {vkey, witnesses, quorum, …}
    trustMissing: false,
    vkey: null,
    fingerprint: null,
    complete: null, // the completeness check's state, shown in #completeness
    since: null, // the tree size this browser verified on its last visit
    history: null, // this visit against the last checkpoint this browser verified
    about: null,
    loaded: false,
    checkpoints: new Map(), // note text -> Promise of {origin, size, root}
    head: null,
  };

  // --- texts ---------------------------------------------------------------------------------

  function t(key, vars = {}) {
    const text = TEXTS[state.lang][key] ?? TEXTS.es[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  }

  function setLang(lang) {
    state.lang = lang;
    document.documentElement.lang = lang;
    document.title = t("title");
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    const other = lang === "es" ? "en" : "es";
    $("lang").textContent = t("lang.switch");
    $("lang").lang = other;
    try {
      localStorage.setItem("enlace.lang", lang);
    } catch {
      // storage may be disabled; the choice then lasts for this page only
    }
    renderWho();
    renderHead();
    renderRows();
    renderAbout();
  }

  const locale = () => (state.lang === "es" ? "es-MX" : "en-US");
  const zone = () => (state.about && state.about.time_zone) || DEFAULT_ZONE;

  // One time, in the instance's zone, naming the zone ("1 dic 2026, 16:12 GMT-6").
  const dateTime = (iso) =>
    new Intl.DateTimeFormat(locale(), {
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "numeric",
      minute: "2-digit",
      timeZone: zone(),
      timeZoneName: "short",
    }).format(new Date(iso));

  // --- server --------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, message = "") {
      super(message || code);
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) {
      let error = { code: `http.${response.status}`, message: "" };
      try {
        error = (await response.json()).error;
      } catch {
        // not a JSON error body: keep the HTTP status as the code
      }
      throw new ApiError(error.code, error.message);
    }
    return response;
  }

  function errorText(error) {
    const code = error instanceof ApiError ? error.code : "network";
    if (code === "local.trust") return t("trust.missing");
    if (code.startsWith("ocsp.")) return t("error.ocsp");
    const key = `error.${code}`;
    return key in TEXTS.es ? t(key) : t("error.generic", { code });
  }

  function show(id, text) {
    $(id).textContent = text || "";
    $(id).hidden = !text;
  }

  // --- bytes ---------------------------------------------------------------------------------

  const toBinary = (bytes) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");
  const fromBinary = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  const base64 = (bytes) => btoa(toBinary(bytes));

  async function readFile(input) {
    const file = input.files[0];
    if (!file || file.size === 0 || file.size > MAX_FILE) throw new ApiError("files");
    return new Uint8Array(await file.arrayBuffer());
  }

  // What a DER file holds, by its shape: a certificate is SEQUENCE {tbs, algorithm, BIT STRING};
  // a SAT .key (EncryptedPrivateKeyInfo) is SEQUENCE {algorithm, OCTET STRING}.
  function kindOf(der) {
    try {
      const top = forge.asn1.fromDer(forge.util.createBuffer(toBinary(der)));
      const parts = top.value;
      const { Type } = forge.asn1;
      if (parts.length === 3 && parts[2].type === Type.BITSTRING) return "certificate";
      if (parts.length === 2 && parts[1].type === Type.OCTETSTRING) return "key";
    } catch {
      // neither: the server (certificate) or the password step (key) says what is wrong
    }
    return "other";
  }

  // A .key in the certificate's place (or the reverse) has its own message, not the
  // wrong-password one.
  function checkSlots(cer, key) {
    const [cerKind, keyKind] = [kindOf(cer), kindOf(key)];
    if (cerKind === "key" && keyKind === "certificate") throw new ApiError("local.swapped");
    if (cerKind === "key") throw new ApiError("local.key_in_cer");
    if (keyKind === "certificate") throw new ApiError("local.cer_in_key");
  }

  // --- login ---------------------------------------------------------------------------------

  // A SAT .key is PKCS#8 EncryptedPrivateKeyInfo, PBES2 with 3DES, which WebCrypto cannot
  // open: node-forge decrypts it, and WebCrypto takes the plain PKCS#8 as a non-extractable
  // signing key. Nothing of the key is kept once the challenge is signed.
  async function openSatKey(der, password) {
    if (typeof forge === "undefined") throw new ApiError("local.script");
    let pkcs8;
    try {
      const encrypted = forge.asn1.fromDer(forge.util.createBuffer(toBinary(der)));
      const info = forge.pki.decryptPrivateKeyInfo(encrypted, forge.util.encodeUtf8(password));
      if (!info) throw new Error("wrong password");
      pkcs8 = fromBinary(forge.asn1.toDer(info).getBytes());
    } catch {
      throw new ApiError("local.password");
    }
    try {
      return await crypto.subtle.importKey(
        "pkcs8",
        pkcs8,
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        false,
        ["sign"],
      );
    } catch {
      throw new ApiError("local.password");
    } finally {
      pkcs8.fill(0);
    }
  }

  async function login(event) {
    event.preventDefault();
    show("login-error", "");
    $("login-button").disabled = true;
    $("login-status").textContent = t("login.working");
    const password = $("password");
    try {
      if (!window.isSecureContext || !crypto.subtle) throw new ApiError("local.crypto");
      if (typeof forge === "undefined") throw new ApiError("local.script");
      const certificate = await readFile($("cer"));
      const keyFile = await readFile($("key"));
      checkSlots(certificate, keyFile);
      const key = await openSatKey(keyFile, password.value);
      password.value = "";
      const { challenge } = await (await api("POST", "/v1/citizen/challenge")).json();
      const signature = await crypto.subtle.sign(
        "RSASSA-PKCS1-v1_5",
        key,
        new TextEncoder().encode(challenge),
      );
      const session = await (
        await api("POST", "/v1/citizen/login", {
          challenge,
          certificate: base64(certificate),
          signature: base64(new Uint8Array(signature)),
        })
      ).json();
      state.token = session.token;
      state.session = session;
      $("login-form").reset();
      await openLog();
    } catch (error) {
      show("login-error", errorText(error));
    } finally {
      password.value = "";
      $("login-button").disabled = false;
      $("login-status").textContent = "";
    }
  }

  function logout(message) {
    state.token = null;
    state.session = null;
    state.rows = [];
    state.head = null;
    state.complete = null;
    state.history = null;
    state.since = null;
    state.loaded = false;
    $("log-section").hidden = true;
    $("login-section").hidden = false;
    show("login-error", message || "");
    renderRows();
  }

  function renderWho() {
    const session = state.session;
    if (!session) return;
    const time = new Intl.DateTimeFormat(locale(), {
      hour: "numeric",
      minute: "2-digit",
      timeZone: zone(),
      timeZoneName: "short",
    }).format(new Date(session.expires_at));
    $("who").textContent = t("log.who", { name: session.name, curp: session.curp, time });
  }

  // --- the log -------------------------------------------------------------------------------

  async function openLog() {
    $("login-section").hidden = true;
    $("log-section").hidden = false;
    renderWho();
    try {
      await trustKey();
    } catch {
      state.trustMissing = true; // fail closed: nothing on this page counts as verified
    }
    renderHead();
    await loadAgencies();
    await loadPage(false);
    if (!state.trustMissing) checkComplete(); // in the background: it may wait for witnesses
  }

  async function loadAgencies() {
    const select = $("agency");
    if (select.options.length > 1) return;
    const agencies = await (await api("GET", "/v1/citizen/agencies")).json();
    for (const agency of agencies) {
      const option = document.createElement("option");
      option.value = agency.id;
      option.textContent = agency.name;
      select.append(option);
    }
  }

  function query(extra = {}) {
    const params = new URLSearchParams({ ...state.filters, ...extra });
    return params.toString();
  }

  function checkpoint(note) {
    if (!state.checkpoints.has(note)) {
      const { vkey, witnesses } = state.trust;
      state.checkpoints.set(note, EnlaceVerify.openCheckpoint(note, vkey, witnesses));
    }
    return state.checkpoints.get(note);
  }

  async function loadPage(append) {
    show("log-error", "");
    const extra = { limit: PAGE };
    if (append && state.cursor !== null) extra.cursor = state.cursor;
    let page;
    try {
      page = await (await api("GET", `/v1/citizen/accesses?${query(extra)}`)).json();
    } catch (error) {
      const ended = ["citizen.token_expired", "citizen.unauthenticated"];
      if (error instanceof ApiError && ended.includes(error.code)) {
        logout(errorText(error));
      } else {
        show("log-error", errorText(error));
      }
      return;
    }
    state.cursor = page.next_cursor;
    const rows = page.entries.map((entry) => ({
      entry,
      record: JSON.parse(entry.leaf),
      proof: "checking",
    }));
    state.rows = append ? state.rows.concat(rows) : rows;
    state.loaded = true;
    renderRows();
    let head = null;
    try {
      if (state.trustMissing) throw new ApiError("local.trust");
      head = await checkpoint(page.checkpoint);
      state.head = { ok: true, ...head };
    } catch {
      state.head = { ok: false };
    }
    if (head && !state.history) await checkHistory(head);
    renderHead();
    for (const row of rows) {
      const included = head !== null && (await EnlaceVerify.entryIncluded(row.entry, head));
      row.proof = included ? "verified" : "failed";
      row.size = head && head.size;
    }
    renderRows();
  }

  // --- what the citizen reads -----------------------------------------------------------------

  function renderHead() {
    const head = state.head;
    const line = $("trust-line");
    line.textContent = state.trustMissing
      ? t("trust.missing")
      : !head
        ? t("trust.checking")
        : head.ok
          ? t("trust.ok")
          : t("trust.bad");
    line.dataset.ok = state.trustMissing ? "false" : head ? String(head.ok) : "";
    renderHistory();
    renderComplete();
    const key = $("trust-key");
    key.replaceChildren();
    if (!state.fingerprint) return;
    key.append(t("trust.key", { fingerprint: state.fingerprint }));
    const places = [
      [new URL("trust.json", location.href).href, "trust.json"],
      [`${location.origin}/.well-known/enlace/trust`, "/.well-known/enlace/trust"],
    ];
    const published = state.about && safeUrl(state.about.checkpoint_key_url);
    if (published) places.push([published, published]);
    places.forEach(([href, text], i) => {
      if (i > 0) key.append(t("trust.key.and"));
      key.append(link(href, text));
    });
    key.append(".");
  }

  const safeUrl = (url) => (typeof url === "string" && /^https?:\/\//.test(url) ? url : null);

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (!href.startsWith("#")) a.rel = "noopener noreferrer";
    return a;
  }

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = text;
    return el;
  }

  // A contact route as text, with a link when it is a URL or an e-mail address.
  function contact(text) {
    const span = element("span", "contact-route");
    const url = safeUrl(text);
    const mail = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
    const parts = String(text).split(/(\s+)/);
    for (const part of parts) {
      if (url && part === text) span.append(link(part, part));
      else if (safeUrl(part)) span.append(link(part, part));
      else if (mail.test(part)) span.append(link(`mailto:${part}`, part));
      else span.append(part);
    }
    return span;
  }

  function fact(dl, label, value) {
    if (value === undefined || value === null || value === "") return;
    dl.append(element("dt", "", label));
    const dd = element("dd");
    dd.append(value);
    dl.append(dd);
  }

  function proofBadge(proof, size) {
    const badge = element("span", `proof proof-${proof}`, t(`proof.${proof}`));
    badge.dataset.proof = proof;
    if (proof === "verified") badge.title = t("proof.verified.title", { size });
    if (proof === "failed") badge.title = t("proof.failed.title");
    return badge;
  }

  function meaning(record) {
    const specific = `refusal.${record.error}`;
    if (record.outcome === "refused" && specific in TEXTS.es) return t(specific);
    return t(`meaning.${record.outcome}`);
  }

  // One access as a card. What it says comes from the record text whose inclusion is checked;
  // the server adds only the registry's words for its codes (agency, service, data delivered,
  // purpose, legal basis, contact route).
  function renderCard({ entry, record: leafRecord, proof, size }) {
    // An exchange corrected by a later "undelivered" entry (docs/ledger.md §1): no data left.
    const undelivered = entry.undelivered !== undefined && entry.undelivered !== null;
    const record = undelivered ? { ...leafRecord, outcome: "undelivered" } : leafRecord;
    const li = element("li", "card");
    li.dataset.index = entry.index;
    li.dataset.kind = entry.kind;
    li.dataset.outcome = record.outcome;
    const agency = entry.agency || {};
    const head = element("div", "card-head");
    head.append(element("h3", "agency", agency.name || agency.id || record.client));
    head.append(proofBadge(proof, size));
    li.append(head);

    const at = record.responded_at || record.recorded_at;
    const when = element("time", "when", dateTime(at));
    when.dateTime = at;
    li.append(when);

    const outcome = element("p", `outcome outcome-${record.outcome}`);
    outcome.append(element("strong", "", t(`outcome.${record.outcome}`)), " ");
    outcome.append(element("span", "meaning", meaning(record)));
    li.append(outcome);
    if (!entry.agency_verified) li.append(element("p", "warning", t("card.unverified")));

    const service = entry.service || {};
    const data = (service.data || []).map((item) => item[state.lang] || item.es);
    const facts = element("dl", "facts");
    const delivered = record.outcome === "allowed" && data.length > 0;
    fact(facts, t("card.data"), delivered ? data.join(", ") : t("card.data.none"));
    fact(facts, t("card.purpose"), entry.purpose_title || record.purpose);
    const basisUrl = safeUrl(entry.legal_basis_url);
    const basis = entry.legal_basis_title || record.legal_basis;
    fact(facts, t("card.basis"), basisUrl ? link(basisUrl, basis) : basis);
    const who = record.user_id ? t("card.official.value", { id: record.user_id }) : "";
    const inCase = record.issue ? t("card.case.value", { case: record.issue }) : "";
    fact(facts, t("card.official"), [who, inCase].filter(Boolean).join(" · "));
    fact(facts, t("card.service"), service.description || record.service);
    li.append(facts);

    if (entry.disclosed_at && record.hidden_until) {
      li.append(element("p", "note", t("card.disclosed", { date: record.hidden_until })));
    }
    const turn = element("p", "turn-to");
    if (agency.contact) {
      const [before, after] = t("card.contact", { contact: "\u0000" }).split("\u0000");
      turn.append(before, contact(agency.contact), after);
    } else {
      turn.textContent = t("card.contact.none");
    }
    li.append(turn);

    const details = element("details", "technical");
    details.append(element("summary", "", t("details.title")));
    const codes = element("dl");
    fact(codes, t("details.time"), at);
    fact(codes, t("details.index"), String(entry.index));
    fact(codes, t("details.subsystem"), record.client);
    fact(codes, t("details.service"), record.service);
    fact(codes, t("details.purpose"), record.purpose);
    fact(codes, t("details.basis"), record.legal_basis);
    fact(codes, t("details.outcome"), record.outcome);
    fact(codes, t("details.error"), record.error);
    fact(codes, t("details.exchange"), record.exchange_id);
    fact(codes, t("details.proof"), proof === "verified" ? t("proof.verified.title", { size }) : t(`proof.${proof}`));
    details.append(codes);
    li.append(details);
    return li;
  }

  function renderLogins(logins) {
    const line = $("logins");
    line.replaceChildren();
    line.hidden = logins.length === 0;
    if (!logins.length) return;
    const newest = logins[0].record.recorded_at;
    const key = logins.length === 1 ? "logins.one" : "logins.many";
    line.append(t(key, { count: logins.length, last: dateTime(newest) }), " ");
    const proofs = logins.map((row) => row.proof);
    const proof = proofs.includes("failed") ? "failed" : proofs.includes("checking") ? "checking" : "verified";
    line.append(proofBadge(proof, logins[0].size));
    line.dataset.count = String(logins.length);
  }

  function renderRows() {
    const exchanges = state.rows.filter((row) => row.entry.kind === "exchange");
    const logins = state.rows.filter((row) => row.entry.kind === "login");
    $("accesses").replaceChildren(...exchanges.map(renderCard));
    renderLogins(logins);
    const empty = $("empty");
    const filtered = Object.keys(state.filters).length > 0;
    empty.textContent = t(filtered ? "log.empty.filtered" : "log.empty");
    empty.hidden = !state.token || !state.loaded || exchanges.length > 0;
    $("more").hidden = !state.token || state.cursor === null;
  }

  // --- history: the last checkpoint this browser verified ------------------------------------

  const HISTORY = "enlace.checkpoint";

  function remembered(origin) {
    try {
      const saved = JSON.parse(localStorage.getItem(`${HISTORY}.${origin}`) || "null");
      return saved && Number.isSafeInteger(saved.size) && typeof saved.root === "string" ? saved : null;
    } catch {
      return null; // storage disabled or unreadable: as on a first visit
    }
  }

  function remember(head) {
    try {
      const value = { size: head.size, root: EnlaceVerify.toBase64(head.root) };
      localStorage.setItem(`${HISTORY}.${head.origin}`, JSON.stringify(value));
    } catch {
      // storage disabled: the next visit is a first one again
    }
  }

  // On each visit, the log must extend the one this browser verified last: proven by a
  // consistency proof from the server, checked here. A rollback or fork is never forgotten
  // (the remembered head is kept), so the alarm shows again on the next visit.
  async function checkHistory(head) {
    const before = remembered(head.origin);
    let outcome = "first";
    if (before) {
      outcome = await EnlaceVerify.compareWithRemembered(before, head, async (old, size) => {
        const answer = await api("GET", `/v1/ledger/proof/consistency?old=${old}&new=${size}`);
        return (await answer.json()).proof;
      });
    }
    if (["first", "same", "extended"].includes(outcome)) remember(head);
    state.history = { outcome, old: before && before.size, size: head.size };
    // A downloaded bundle then proves consistency from what this browser saw last time (the
    // offline verifier checks it against a bundle downloaded then).
    if (["same", "extended"].includes(outcome)) state.since = before.size;
  }

  function renderHistory() {
    const line = $("history");
    const history = state.history;
    line.hidden = !history;
    if (!history) return;
    line.textContent = t(`history.${history.outcome}`, history);
    line.dataset.outcome = history.outcome;
  }

  // --- completeness: the citizen's whole bundle, checked here ----------------------------------

  const WAIT_FOR_WITNESSES = 3000;
  const WITNESS_ATTEMPTS = 40;

  async function checkComplete(attempt = 0) {
    if (attempt === 0) state.complete = { status: "checking" };
    renderComplete();
    let outcome;
    try {
      const bundle = await (await api("GET", "/v1/citizen/bundle")).json();
      const result = await EnlaceVerify.checkBundle(bundle, state.trust);
      const citizens = result.complete ? result.complete.citizens : [];
      if (result.complete && (citizens.length !== 1 || citizens[0] !== state.session.subject)) {
        // Complete, but not about the one key this login is recorded under.
        throw new EnlaceVerify.BundleProblem("completeness", null, "keys");
      }
      outcome = result.complete
        ? { status: "ok", size: result.size, witnessed: result.witnessed }
        : { status: "unavailable" };
    } catch (error) {
      if (!(error instanceof EnlaceVerify.BundleProblem)) {
        outcome = { status: "bad", reason: errorText(error) };
      } else if (error.reason === "witnesses" && attempt < WITNESS_ATTEMPTS && state.token) {
        // A checkpoint just signed for this visit: its witnesses cosign it in a moment.
        state.complete = { status: "waiting" };
        renderComplete();
        setTimeout(() => checkComplete(attempt + 1), WAIT_FOR_WITNESSES);
        return;
      } else {
        const { reason, index, message } = error;
        outcome = { status: "bad", reason: t(`check.bad.${reason}`, { index, detail: message }) };
      }
    }
    state.complete = outcome;
    renderComplete();
  }

  function renderComplete() {
    const line = $("completeness");
    const complete = state.complete;
    line.hidden = !complete;
    if (!complete) return;
    line.dataset.status = complete.status;
    if (complete.status !== "ok") {
      line.textContent = t(`complete.${complete.status}`, complete);
      return;
    }
    const witnesses = complete.witnessed.join(", ");
    const key = complete.witnessed.length ? "complete.ok" : "complete.ok.none";
    line.textContent = t(key, { size: complete.size, witnesses });
  }

  // --- checking a downloaded bundle ------------------------------------------------------------

  // The keys are pinned from the page's own static trust document, never from the server
  // being checked (docs/trust.md).
  async function trustKey() {
    if (!state.trust) {
      try {
        const answer = await fetch("trust.json", { cache: "no-store", credentials: "omit" });
        if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
        state.trust = await EnlaceVerify.readTrust(await answer.json());
      } catch {
        throw new ApiError("local.trust");
      }
      state.vkey = state.trust.vkey;
      state.fingerprint = state.trust.fingerprint;
    }
    return state.trust;
  }

  async function checkBundleFile() {
    const result = $("bundle-result");
    const file = $("bundle-file").files[0];
    if (!file) return;
    result.dataset.ok = "";
    result.textContent = t("check.working");
    try {
      if (file.size > MAX_BUNDLE) throw new EnlaceVerify.BundleProblem("format");
      let bundle;
      try {
        bundle = JSON.parse(await file.text());
      } catch {
        throw new EnlaceVerify.BundleProblem("format");
      }
      const checked = await EnlaceVerify.checkBundle(bundle, await trustKey());
      result.textContent = EnlaceReport.describe(checked, t, state.fingerprint);
      result.dataset.ok = "true";
      return;
    } catch (error) {
      if (!(error instanceof EnlaceVerify.BundleProblem)) {
        result.textContent = errorText(error);
        result.dataset.ok = "false";
        return;
      }
      result.textContent = EnlaceReport.problem(error, t);
      result.dataset.ok = "false";
    }
  }

  // --- views: the log, checking a file, ARCO rights, the privacy notice --------------------------

  const VIEWS = ["comprobar", "derechos", "aviso"];

  function showView() {
    const wanted = location.hash.slice(1);
    const view = VIEWS.includes(wanted) ? wanted : "main";
    for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== `view-${view}`;
    if (view !== "main") $(`view-${view}`).querySelector("h2").focus({ preventScroll: false });
  }

  function renderAbout() {
    const about = state.about || {};
    const help = $("help");
    help.replaceChildren();
    help.hidden = !about.help_contact;
    if (about.help_contact) {
      const [before, after] = t("help", { contact: "\u0000" }).split("\u0000");
      help.append(before, contact(about.help_contact), after);
    }
    const arco = $("arco-contact");
    arco.replaceChildren();
    if (about.arco_contact) {
      const [before, after] = t("arco.contact", { contact: "\u0000" }).split("\u0000");
      arco.append(before, contact(about.arco_contact), after);
    }
    $("privacy-operator").textContent = t("privacy.operator", { operator: about.operator || "" });
    const full = $("privacy-full");
    full.replaceChildren();
    const url = safeUrl(about.privacy_url);
    if (url) full.append(link(url, t("privacy.full")));
  }

  async function loadAbout() {
    try {
      state.about = await (await api("GET", "/v1/citizen/about")).json();
    } catch {
      state.about = null; // the page works without it, with the default zone and no contacts
    }
    renderAbout();
    renderWho();
    renderRows();
  }

  // --- downloads -----------------------------------------------------------------------------

  function save(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  async function download(path, filename) {
    show("log-error", "");
    try {
      save(await (await api("GET", path)).blob(), filename);
    } catch (error) {
      show("log-error", errorText(error));
    }
  }

  // --- wiring --------------------------------------------------------------------------------

  function applyFilters(event) {
    event.preventDefault();
    const filters = {};
    if ($("from").value) filters.from = $("from").value;
    if ($("to").value) filters.to = $("to").value;
    if ($("agency").value) filters.agency = $("agency").value;
    state.filters = filters;
    state.cursor = null;
    loadPage(false);
  }

  function start() {
    let saved = null;
    try {
      saved = localStorage.getItem("enlace.lang");
    } catch {
      // storage disabled
    }
    setLang(saved === "en" ? "en" : "es");
    showView();
    window.addEventListener("hashchange", showView);
    loadAbout();
    if (typeof forge === "undefined") show("fatal", t("error.local.script"));
    $("lang").addEventListener("click", () => setLang(state.lang === "es" ? "en" : "es"));
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout(""));
    $("filters").addEventListener("submit", applyFilters);
    $("filters").addEventListener("reset", () => {
      state.filters = {};
      state.cursor = null;
      setTimeout(() => loadPage(false));
    });
    $("more").addEventListener("click", () => loadPage(true));
    $("download-bundle").addEventListener("click", () =>
      // Always the whole list (no filters): only a whole list can be proven complete.
      download(
        `/v1/citizen/bundle${state.since ? `?consistency_from=${state.since}` : ""}`,
        "enlace-pruebas.json",
      ),
    );
    $("download-csv").addEventListener("click", () =>
      download(
        `/v1/citizen/accesses?${query({ format: "csv", lang: state.lang, limit: 1000 })}`,
        "enlace-accesos.csv",
      ),
    );
    $("download-key").addEventListener("click", async () => {
      show("log-error", "");
      try {
        save(new Blob([`${(await trustKey()).vkey}\n`], { type: "text/plain" }), "checkpoint.vkey");
      } catch (error) {
        show("log-error", errorText(error));
      }
    });
    $("bundle-file").addEventListener("change", checkBundleFile);
  }

  start();
})();
