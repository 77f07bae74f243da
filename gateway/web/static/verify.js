"use strict";
// Proof checks in the browser, with WebCrypto only, so that the citizen need not trust the
// server's word: the C2SP signed checkpoint (Ed25519 signed note) and its witnesses'
// cosignatures (tlog-cosignature/v1) under a k-of-n policy, RFC 9162 inclusion and consistency
// proofs, the trust document (trust.json) the keys are pinned from, and whole proof bundles
// (enlace.ledger-bundle/v1 and v2, whose completeness proof is a subject map: docs/ledger.md),
// alone or against an older bundle. The same rules as
// gateway/kernel/ledger/{checkpoint,merkle,bundle,subjectmap,trust}.py (which `enlace ledger
// check-proof` applies offline). The page (app.js) and the single-file offline
// verifier (docs/verifier.html, built by gateway/devtools/build_verifier.py) both use this file.

const EnlaceVerify = (() => {
  const encoder = new TextEncoder();
  const EMPTY = new Uint8Array(32);
  const SIG_NOTE = 1; // Ed25519 signed-note key
  const SIG_COSIGNATURE = 4; // tlog-cosignature/v1 key
  const V1 = "enlace.ledger-bundle/v1";
  const V2 = "enlace.ledger-bundle/v2";
  const MAX_PROOF = 64; // hashes in a proof, as bundle._MAX_PROOF

  function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  function fromHex(text) {
    if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) throw new Error("not hex");
    return Uint8Array.from(text.match(/../g) || [], (pair) => parseInt(pair, 16));
  }

  function equal(a, b) {
    return a.length === b.length && a.every((value, i) => value === b[i]);
  }

  async function sha256(...parts) {
    const total = parts.reduce((n, p) => n + p.length, 0);
    const data = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      data.set(part, offset);
      offset += part.length;
    }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  // 8-byte big-endian unsigned (indexes and counts stay below 2^53 here).
  function be64(value) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value));
    return bytes;
  }

  // RFC 9162 §2.1.1: leaf = H(0x00 || entry), node = H(0x01 || left || right).
  const leafHash = (text) => sha256(Uint8Array.of(0), encoder.encode(text));
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);

  // A vkey is "<name>+<hex key id>+<base64(type || Ed25519 public key)>"; names have no "+",
  // base64 may. The key id is the first 4 bytes of SHA-256(name || "\n" || type || key).
  async function parseVkey(vkey, type = SIG_NOTE) {
    const [name, hexId, ...rest] = String(vkey).trim().split("+");
    const encoded = rest.join("+");
    let raw;
    try {
      raw = fromBase64(encoded || "");
    } catch {
      throw new Error("bad verifier key");
    }
    if (!name || raw.length !== 33 || raw[0] !== type) throw new Error("bad verifier key");
    const id = (await sha256(encoder.encode(name + "\n"), raw)).slice(0, 4);
    if (hexId !== toHex(id)) throw new Error("verifier key id does not match its key");
    const key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, [
      "verify",
    ]);
    return { name, id, key, vkey: String(vkey).trim() };
  }

  // A signed note is its text (ending in a newline), a blank line, then "— <name> <base64>"
  // lines whose payload is a 4-byte key id and the signature.
  function splitNote(note) {
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("not a signed note");
    const text = note.slice(0, split + 1);
    const signatures = [];
    for (const line of note.slice(split + 2).split("\n")) {
      if (!line.startsWith("\u2014 ")) continue;
      const [name, encoded] = line.slice(2).split(" ");
      signatures.push({ name, payload: fromBase64(encoded || "") });
    }
    return { text, signatures };
  }

  // A witness cosignature/v1 signs "cosignature/v1\ntime <T>\n" || checkpoint text; its payload
  // is key id, 8-byte timestamp, 64-byte signature.
  async function cosignatureVerifies(witness, payload, text) {
    if (payload.length !== 4 + 8 + 64) return false;
    const time = new DataView(payload.buffer, payload.byteOffset + 4, 8).getBigUint64(0);
    const message = encoder.encode(`cosignature/v1\ntime ${time}\n${text}`);
    return crypto.subtle.verify("Ed25519", witness.key, payload.slice(12), message);
  }

  // The parsed checkpoint {origin, size, root, witnessed} once the log's signature verifies,
  // with the names of the pinned witnesses (cosignature vkeys) whose cosignature verifies; a
  // signature from a pinned key that does not verify is an error, unknown ones are ignored.
  async function openCheckpoint(note, vkey, witnessVkeys = []) {
    const log = await parseVkey(vkey, SIG_NOTE);
    const witnesses = await Promise.all(witnessVkeys.map((w) => parseVkey(w, SIG_COSIGNATURE)));
    const { text, signatures } = splitNote(note);
    let signed = false;
    const witnessed = [];
    for (const { name, payload } of signatures) {
      const id = payload.slice(0, 4);
      if (name === log.name && equal(id, log.id)) {
        signed = await crypto.subtle.verify("Ed25519", log.key, payload.slice(4), encoder.encode(text));
        if (!signed) throw new Error("checkpoint signature does not verify");
        continue;
      }
      const witness = witnesses.find((w) => w.name === name && equal(w.id, id));
      if (!witness) continue;
      if (!(await cosignatureVerifies(witness, payload, text))) {
        throw new Error(`cosignature of ${name} does not verify`);
      }
      if (!witnessed.includes(name)) witnessed.push(name);
    }
    if (!signed) throw new Error("checkpoint is not signed by the log's key");
    const [origin, size, root, ...extensions] = text.slice(0, -1).split("\n");
    if (origin !== log.name || !/^(0|[1-9][0-9]*)$/.test(size) || extensions.length) {
      throw new Error("malformed checkpoint");
    }
    const rootHash = fromBase64(root);
    if (rootHash.length !== 32) throw new Error("malformed checkpoint root");
    return { origin, size: Number(size), root: rootHash, witnessed };
  }

  // RFC 9162 §2.1.3.2, with arithmetic instead of bit operations (indexes may exceed 2^31).
  async function verifyInclusion(leaf, index, size, path, root) {
    if (!(index >= 0 && index < size)) return false;
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of path) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, root);
  }

  // RFC 9162 §2.1.4.2; the trivial cases (from the empty tree, equal sizes) need an empty proof.
  async function verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot) {
    if (!(oldSize >= 0 && oldSize <= newSize)) return false;
    if (oldSize === 0 || oldSize === newSize) {
      return proof.length === 0 && (oldSize === 0 || equal(oldRoot, newRoot));
    }
    if (proof.length === 0) return false;
    // A power-of-two old tree is a node of the new tree, so the prover omits its known hash.
    const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
    let fn = oldSize - 1;
    let sn = newSize - 1;
    while (fn % 2 === 1) {
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot);
  }

  function isPowerOfTwo(n) {
    let m = n;
    while (m > 1 && m % 2 === 0) m /= 2;
    return m === 1;
  }

  // Whether `entry` (its exact record text, index and proof) is in the tree of `head`.
  async function entryIncluded(entry, head) {
    const proof = entry.proof;
    if (!proof || proof.tree_size !== head.size) return false;
    const leaf = await leafHash(entry.leaf);
    const path = proof.inclusion_proof.map(fromBase64);
    return verifyInclusion(leaf, entry.index, head.size, path, head.root);
  }

  // What a person compares: the first 16 bytes of SHA-256 over the vkey text, in hex groups of
  // four (docs/trust.md; gateway/kernel/ledger/trust.py computes the same).
  async function fingerprint(vkey) {
    const digest = await sha256(encoder.encode(vkey));
    return toHex(digest.slice(0, 16)).toUpperCase().match(/.{4}/g).join(" ");
  }

  // A trust document (enlace.trust/v1): the pinned log key, witness keys and quorum, each key's
  // fingerprint recomputed and compared. Returns {vkey, fingerprint, witnesses, quorum}.
  async function readTrust(doc) {
    if (!doc || doc.format !== "enlace.trust/v1" || !doc.log) throw new Error("not a trust document");
    const witnesses = Array.isArray(doc.witnesses) ? doc.witnesses : [];
    const quorum = doc.quorum === undefined ? 0 : doc.quorum;
    if (!Number.isInteger(quorum) || quorum < 0 || quorum > witnesses.length) {
      throw new Error("bad quorum");
    }
    const keys = [doc.log, ...witnesses];
    for (const [i, key] of keys.entries()) {
      if (!key || typeof key.vkey !== "string") throw new Error("a key without vkey");
      if (key.fingerprint !== undefined && key.fingerprint !== (await fingerprint(key.vkey))) {
        throw new Error("a fingerprint does not match its key");
      }
      await parseVkey(key.vkey, i === 0 ? SIG_NOTE : SIG_COSIGNATURE);
    }
    return {
      vkey: doc.log.vkey,
      fingerprint: await fingerprint(doc.log.vkey),
      witnesses: witnesses.map((w) => w.vkey),
      quorum,
    };
  }

  class BundleProblem extends Error {
    // reason: "format", "signature", "witnesses", "entry", "completeness", or comparing with an
    // older bundle "older_format", "older_larger", "consistency_missing", "consistency",
    // "older_entry", "older_key", "older_chain"; `inOlder` when the older bundle itself fails.
    constructor(reason, index = null, detail = "") {
      super(detail || reason);
      this.reason = reason;
      this.index = index;
      this.inOlder = false;
    }
  }

  // --- completeness (bundle v2): the subject map of docs/ledger.md -----------------------------

  const bit = (key, i) => (key[i >> 3] >> (7 - (i & 7))) & 1;
  const mapLeaf = (key, value) => sha256(Uint8Array.of(0x10), key, value);
  const mapNode = (left, right) => sha256(Uint8Array.of(0x11), left, right);
  const valueHash = (n, latest, chain) => sha256(Uint8Array.of(0x13), be64(n), be64(latest), chain);

  // A key's chain over its entries ({index, leaf}) in index order: c_j = H(0x12 || c_j-1 ||
  // be64(index) || leaf), from EMPTY.
  async function chainOf(entries) {
    let c = EMPTY;
    for (const { index, leaf } of entries) {
      c = await sha256(Uint8Array.of(0x12), c, be64(index), leaf);
    }
    return c;
  }

  // A map proof for `key` leads from its terminal node (`leaf` for membership, null for absence)
  // to `root`; for absence with a terminal key, that key differs and shares the path's bits.
  async function mapProofVerifies(key, leaf, proof, root) {
    const siblings = proof && proof.siblings;
    if (!Array.isArray(siblings) || siblings.length > 256) return false;
    const m = siblings.length;
    let node;
    if (leaf) {
      if (proof.terminal !== null && proof.terminal !== undefined) return false;
      node = leaf;
    } else if (proof.terminal === null || proof.terminal === undefined) {
      node = EMPTY;
    } else {
      const other = fromHex(proof.terminal.key);
      if (other.length !== 32 || equal(other, key)) return false;
      for (let i = 0; i < m; i++) if (bit(other, i) !== bit(key, i)) return false;
      const value = fromBase64(proof.terminal.value);
      if (value.length !== 32) return false;
      node = await mapLeaf(other, value);
    }
    for (let j = m - 1; j >= 0; j--) {
      const sibling = fromBase64(siblings[j]);
      if (sibling.length !== 32) return false;
      node = bit(key, j) === 0 ? await mapNode(node, sibling) : await mapNode(sibling, node);
    }
    return equal(node, root);
  }

  // The map head: leaf N-1 of the checkpoint's tree, a map_head record covering N-1 entries.
  async function checkMapHead(head, given) {
    const last = head.size - 1;
    if (!given || given.index !== last || typeof given.record !== "string") return null;
    const leaf = await leafHash(given.record);
    if (!equal(leaf, fromBase64(given.leaf_hash))) return null;
    const path = (given.inclusion_proof || []).map(fromBase64);
    if (!(await verifyInclusion(leaf, last, head.size, path, head.root))) return null;
    const record = JSON.parse(given.record);
    if (record.kind !== "map_head" || record.covers !== last) return null;
    const root = fromBase64(record.root);
    return root.length === 32 ? { root, covers: last, keys: record.keys } : null;
  }

  // One key of the completeness proof against the bundle's entries (already proven included).
  async function checkKey(item, mapRoot, entries) {
    const key = fromHex(item.key);
    if (key.length !== 32 || !Number.isSafeInteger(item.count) || item.count < 0) return false;
    const mine = entries.filter((e) => e.subjects.includes(item.key));
    if (mine.length !== item.count) return false;
    const chain = fromBase64(item.chain);
    if (chain.length !== 32) return false;
    if (item.count === 0) {
      return item.latest === null && equal(chain, EMPTY) && mapProofVerifies(key, null, item.proof, mapRoot);
    }
    if (mine[mine.length - 1].index !== item.latest) return false;
    if (!equal(await chainOf(mine), chain)) return false;
    const leaf = await mapLeaf(key, await valueHash(item.count, item.latest, chain));
    return mapProofVerifies(key, leaf, item.proof, mapRoot);
  }

  // "Complete up to N": every entry about each key is in the bundle, none missing, none added.
  async function checkCompleteness(bundle, head, entries) {
    const completeness = bundle.completeness;
    if (!completeness || !Array.isArray(completeness.keys) || !completeness.keys.length) {
      throw new BundleProblem("completeness");
    }
    let mapHead;
    try {
      mapHead = await checkMapHead(head, completeness.map_head);
    } catch {
      mapHead = null;
    }
    if (!mapHead) throw new BundleProblem("completeness", null, "map head");
    const keys = new Set();
    for (const item of completeness.keys) {
      let ok = false;
      try {
        ok = await checkKey(item, mapHead.root, entries);
      } catch {
        ok = false;
      }
      if (!ok) throw new BundleProblem("completeness", null, String(item && item.key));
      keys.add(item.key);
    }
    for (const entry of entries) {
      if (entry.index >= head.size - 1 || !entry.subjects.some((s) => keys.has(s))) {
        throw new BundleProblem("completeness", entry.index);
      }
    }
    // Each key once, and at least one a citizen's: a bundle of covert keys alone, or of none,
    // would otherwise be "complete" about nobody.
    const citizens = completeness.keys.filter((k) => k.role === "citizen");
    if (keys.size !== completeness.keys.length || !citizens.length) {
      throw new BundleProblem("completeness", null, "keys");
    }
    const count = citizens.reduce((n, k) => n + k.count, 0);
    return { upTo: head.size, keys: completeness.keys.length, count, citizens: citizens.map((k) => k.key) };
  }

  // --- whole bundles ----------------------------------------------------------------------------

  async function provenEntries(items, head) {
    const entries = [];
    let previous = -1;
    for (const item of items) {
      let entry = null;
      try {
        const leaf = await leafHash(String(item.record));
        const path = item.inclusion_proof.map(fromBase64);
        const ok =
          Number.isSafeInteger(item.index) &&
          item.index > previous && // strictly in index order: a reordered bundle fails
          equal(leaf, fromBase64(item.leaf_hash)) &&
          (await verifyInclusion(leaf, item.index, head.size, path, head.root));
        if (ok) {
          const record = JSON.parse(item.record);
          const subjects = Array.isArray(record.subjects) ? record.subjects : [];
          entry = { index: item.index, text: String(item.record), leaf, record, subjects };
        }
      } catch {
        entry = null;
      }
      if (!entry) throw new BundleProblem("entry", item && item.index);
      previous = entry.index;
      entries.push(entry);
    }
    return entries;
  }

  // A v2 bundle's "consistency" field, if given, is {from: a size up to the checkpoint's, proof:
  // at most MAX_PROOF hashes}, as bundle._consistency reads it. A 32-byte hash in strict padded
  // base64 (gateway/kernel/encoding.py), which atob alone does not enforce, is 43 characters and
  // one "=".
  function consistencyWellFormed(given, head) {
    if (given === undefined || given === null) return true;
    if (typeof given !== "object" || !Array.isArray(given.proof)) return false;
    const size = given.from;
    if (!Number.isSafeInteger(size) || size < 0 || size > head.size) return false;
    const hash = /^[A-Za-z0-9+/]{43}=$/;
    const hashes = given.proof.every((h) => typeof h === "string" && hash.test(h));
    return given.proof.length <= MAX_PROOF && hashes;
  }

  async function openBundleHead(bundle, trust) {
    try {
      return await openCheckpoint(String(bundle.checkpoint), trust.vkey, trust.witnesses || []);
    } catch {
      throw new BundleProblem("signature");
    }
  }

  // Consistency of `bundle`'s tree with an older bundle's already verified head: the newer
  // bundle's "consistency" field {from: M, proof} proves the tree of M extends to N (equal
  // sizes: equal roots). In the order of bundle._check_extension, so each says the same.
  async function checkConsistency(bundle, head, older) {
    if (older.size > head.size) {
      // Most likely the two files were given the wrong way round.
      throw new BundleProblem("older_larger", null, String(older.size));
    }
    const given = bundle.consistency;
    if (older.size < head.size && !(given && given.from === older.size)) {
      // Not a sign of rewriting: this file just carries no proof from that size.
      throw new BundleProblem("consistency_missing", null, String(older.size));
    }
    let ok;
    if (older.size === head.size) {
      ok = equal(older.root, head.root);
    } else {
      const proof = given.proof.map(fromBase64); // well-formed (verifyAlone): it decodes
      ok = await verifyConsistency(older.size, head.size, proof, older.root, head.root);
    }
    if (!ok) throw new BundleProblem("consistency");
  }

  // Every entry of the older bundle is in the newer at the same index with the same record. A
  // consistent tree still holds a dropped entry: what drops it is a newer map that no longer
  // lists it, against which the newer bundle is complete without it.
  function checkOlderEntries(entries, olderEntries) {
    const present = new Map(entries.map((e) => [e.index, e.text]));
    for (const entry of olderEntries) {
      if (present.get(entry.index) !== entry.text) throw new BundleProblem("older_entry", entry.index);
    }
  }

  // Each older key's list is the start of its newer list: the newer bundle's entries of that
  // key, cut to the older count, end at the older latest and refold to the older chain. Catches
  // a list that gained an entry in the past (the older map hid it) though none went missing.
  async function checkOlderChains(keys, entries, olderKeys) {
    const known = new Set(keys.map((k) => k.key));
    for (const item of olderKeys) {
      if (!known.has(item.key)) throw new BundleProblem("older_key");
      const mine = entries.filter((e) => e.subjects.includes(item.key)).slice(0, item.count);
      const latest = mine.length ? mine[mine.length - 1].index : null;
      const same = mine.length === item.count && latest === item.latest;
      if (!same || !equal(await chainOf(mine), fromBase64(item.chain))) {
        throw new BundleProblem("older_chain");
      }
    }
  }

  // One bundle on its own: its checkpoint signed and witnessed k-of-n, every entry proven into
  // it, and for v2 its completeness. Returns {head, entries, complete}.
  async function verifyAlone(bundle, pinned) {
    if (!bundle || ![V1, V2].includes(bundle.format) || !Array.isArray(bundle.entries)) {
      throw new BundleProblem("format");
    }
    const head = await openBundleHead(bundle, pinned);
    if (head.witnessed.length < (pinned.quorum || 0)) {
      throw new BundleProblem("witnesses", null, `${head.witnessed.length}/${pinned.quorum}`);
    }
    const entries = await provenEntries(bundle.entries, head);
    if (bundle.format === V1) return { head, entries, complete: null };
    const complete = await checkCompleteness(bundle, head, entries);
    // Checked on its own, as the CLI does: a malformed proof is a malformed file, not a rewrite.
    if (!consistencyWellFormed(bundle.consistency, head)) throw new BundleProblem("format");
    return { head, entries, complete };
  }

  // The older bundle must pass the same checks under the same trust (as `check-proof --older`
  // does); its failure is marked as its own, so the reader knows which file is at fault.
  async function verifyOlder(older, pinned) {
    try {
      return await verifyAlone(older, pinned);
    } catch (error) {
      const problem = error instanceof BundleProblem ? error : new BundleProblem("format");
      problem.inOlder = true;
      throw problem;
    }
  }

  // bundle.verify_against_older, check for check and in its order: both v2, the newer tree
  // extends the older, every older entry is in the newer unchanged, and each older key's
  // chain is a prefix of its newer chain. (Same origin needs no check: both heads opened
  // under the one pinned log key, whose name is the origin.)
  async function checkAgainstOlder(bundle, newer, older, before) {
    if (!newer.complete || !before.complete) throw new BundleProblem("older_format");
    await checkConsistency(bundle, newer.head, before.head);
    checkOlderEntries(newer.entries, before.entries);
    await checkOlderChains(bundle.completeness.keys, newer.entries, older.completeness.keys);
  }

  // A downloaded proof bundle, checked against a trust ({vkey, witnesses, quorum}; a bare vkey
  // string pins the log key only): its checkpoint signed and witnessed k-of-n, every entry
  // proven into it, and for v2 its completeness; given `older` (an earlier bundle, checked the
  // same way), the newer extends it: its tree, every older entry, each older key's chain.
  // Returns {count, size, witnessed, complete, consistentWith}; throws a BundleProblem naming
  // what failed.
  async function checkBundle(bundle, trust, older = null) {
    const pinned = typeof trust === "string" ? { vkey: trust, witnesses: [], quorum: 0 } : trust;
    const newer = await verifyAlone(bundle, pinned);
    let consistentWith = null;
    if (older) {
      const before = await verifyOlder(older, pinned);
      await checkAgainstOlder(bundle, newer, older, before);
      consistentWith = before.head.size;
    }
    const { head, entries, complete } = newer;
    return { count: entries.length, size: head.size, witnessed: head.witnessed, complete, consistentWith };
  }

  // What the page remembers between visits: the last verified head {size, root (base64)}.
  // Compares it with `head` through `fetchProof(old, new)` (the server's consistency proof, as
  // base64 hashes): "same", "extended", or "rollback" / "fork" (the log is not append-only).
  async function compareWithRemembered(remembered, head, fetchProof) {
    const root = fromBase64(remembered.root);
    if (remembered.size > head.size) return "rollback";
    if (remembered.size === head.size) return equal(root, head.root) ? "same" : "fork";
    let proof;
    try {
      proof = (await fetchProof(remembered.size, head.size)).map(fromBase64);
    } catch {
      return "unproven";
    }
    return (await verifyConsistency(remembered.size, head.size, proof, root, head.root)) ? "extended" : "fork";
  }

  // The subject map's primitives over base64 and hex, for test vectors (docs/ledger.md §12).
  const subjectMap = {
    async verifyProof(keyHex, valueHash, proof, root) {
      const key = fromHex(keyHex);
      const leaf = valueHash === null ? null : await mapLeaf(key, fromBase64(valueHash));
      return mapProofVerifies(key, leaf, proof, fromBase64(root));
    },
    async chain(entries) {
      const given = entries.map(({ index, leaf_hash: leaf }) => ({ index, leaf: fromBase64(leaf) }));
      return toBase64(await chainOf(given));
    },
    valueHash: async (n, latest, chain) => toBase64(await valueHash(n, latest, fromBase64(chain))),
  };

  return {
    subjectMap,
    openCheckpoint,
    entryIncluded,
    fingerprint,
    readTrust,
    checkBundle,
    compareWithRemembered,
    verifyConsistency,
    BundleProblem,
    toBase64,
  };
})();
