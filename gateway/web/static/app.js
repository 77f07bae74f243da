"use strict";
// The citizen page: log in with e.firma (the SAT .key is opened and the challenge signed here,
// in the browser), then show the access log with each row's proof status, filters, more pages,
// and downloads of the proof bundle and the CSV. The session token lives in memory only.
// Every value from the server is put in the page as text, never as HTML.

(() => {
  const MAX_FILE = 16 * 1024;
  const PAGE = 50;
  const $ = (id) => document.getElementById(id);
  const state = {
    lang: "es",
    token: null,
    session: null,
    cursor: null,
    filters: {},
    rows: [],
    vkey: null,
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
  }

  const dateTime = (iso) =>
    new Intl.DateTimeFormat(state.lang === "es" ? "es-MX" : "en-US", {
      dateStyle: "medium",
      timeStyle: "short",
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
      const certificate = await readFile($("cer"));
      const key = await openSatKey(await readFile($("key")), password.value);
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
    $("log-section").hidden = true;
    $("login-section").hidden = false;
    show("login-error", message || "");
    renderRows();
  }

  function renderWho() {
    const session = state.session;
    if (!session) return;
    const time = new Intl.DateTimeFormat(state.lang === "es" ? "es-MX" : "en-US", {
      timeStyle: "short",
    }).format(new Date(session.expires_at));
    $("who").textContent = t("log.who", { name: session.name, curp: session.curp, time });
  }

  // --- the log -------------------------------------------------------------------------------

  async function openLog() {
    $("login-section").hidden = true;
    $("log-section").hidden = false;
    renderWho();
    if (!state.vkey) {
      const trust = await (await api("GET", "/.well-known/enlace/trust")).json();
      state.vkey = trust.ledger_checkpoint_vkey;
    }
    await loadAgencies();
    await loadPage(false);
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
      state.checkpoints.set(note, EnlaceVerify.openCheckpoint(note, state.vkey));
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
    renderRows();
    let head = null;
    try {
      head = await checkpoint(page.checkpoint);
      state.head = { ok: true, ...head };
    } catch {
      state.head = { ok: false };
    }
    renderHead();
    for (const row of rows) {
      const included = head !== null && (await EnlaceVerify.entryIncluded(row.entry, head));
      row.proof = included ? "verified" : "failed";
      row.size = head && head.size;
    }
    renderRows();
  }

  function renderHead() {
    const head = state.head;
    const text = !head ? "" : head.ok ? t("checkpoint.ok", head) : t("checkpoint.bad");
    $("checkpoint").textContent = text;
    $("checkpoint").dataset.ok = head ? String(head.ok) : "";
  }

  function cell(tr, text, hint) {
    const td = document.createElement("td");
    td.textContent = text ?? "";
    if (hint) {
      const small = document.createElement("small");
      small.textContent = hint;
      td.append(document.createElement("br"), small);
    }
    tr.append(td);
    return td;
  }

  // What is shown comes from the record text whose inclusion is checked; the server adds only
  // registry names (agency, service description).
  function renderRow({ entry, record, proof, size }) {
    const tr = document.createElement("tr");
    tr.dataset.index = entry.index;
    tr.dataset.kind = entry.kind;
    const at = record.responded_at || record.recorded_at;
    cell(tr, dateTime(at), at);
    if (entry.kind === "exchange") {
      const agency = entry.agency || {};
      const unverified = entry.agency_verified ? "" : ` ${t("row.unverified")}`;
      cell(tr, (agency.name || agency.id || record.client) + unverified, record.client);
      cell(tr, record.user_id);
      const service = entry.service || {};
      cell(tr, service.description || record.service, record.service);
      cell(tr, record.purpose);
      cell(tr, record.legal_basis);
      cell(tr, record.issue);
      const disclosed =
        entry.disclosed_at && record.hidden_until
          ? t("row.disclosed", { date: record.hidden_until })
          : "";
      cell(tr, t(`outcome.${record.outcome}`), record.error || disclosed);
    } else {
      const td = cell(tr, t("row.login"));
      td.colSpan = 7;
    }
    const status = cell(tr, t(`proof.${proof}`));
    status.className = `proof proof-${proof}`;
    status.dataset.proof = proof;
    if (proof === "verified") status.title = t("proof.verified.title", { size });
    return tr;
  }

  function renderRows() {
    const body = $("accesses").tBodies[0];
    body.replaceChildren(...state.rows.map(renderRow));
    $("empty").hidden = !state.token || state.rows.length > 0;
    $("more").hidden = !state.token || state.cursor === null;
  }

  // --- downloads -----------------------------------------------------------------------------

  async function download(path, filename) {
    show("log-error", "");
    try {
      const blob = await (await api("GET", path)).blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = filename;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
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
      download(`/v1/citizen/bundle?${query()}`, "enlace-pruebas.json"),
    );
    $("download-csv").addEventListener("click", () =>
      download(
        `/v1/citizen/accesses?${query({ format: "csv", lang: state.lang, limit: 1000 })}`,
        "enlace-accesos.csv",
      ),
    );
  }

  start();
})();
