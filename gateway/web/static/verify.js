"use strict";
// Proof checks in the browser, with WebCrypto only, so that the citizen need not trust the
// server's word that an entry is logged: the C2SP signed checkpoint (Ed25519 signed note) and
// RFC 9162 inclusion proofs, and whole proof bundles (enlace.ledger-bundle/v1) a citizen
// downloaded. The same rules as gateway/kernel/ledger/checkpoint.py, merkle.py and bundle.py
// (which `enlace ledger check-proof` applies offline); docs/ledger.md specifies them.

const EnlaceVerify = (() => {
  const encoder = new TextEncoder();

  function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
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

  // RFC 9162 §2.1.1: leaf = H(0x00 || entry), node = H(0x01 || left || right).
  const leafHash = (text) => sha256(Uint8Array.of(0), encoder.encode(text));
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);

  // A vkey is "<name>+<hex key id>+<base64(0x01 || Ed25519 public key)>"; names have no "+",
  // base64 may.
  async function parseVkey(vkey) {
    const [name, hexId, ...rest] = vkey.split("+");
    const encoded = rest.join("+");
    const raw = fromBase64(encoded || "");
    if (!name || raw.length !== 33 || raw[0] !== 1) throw new Error("bad verifier key");
    const id = (await sha256(encoder.encode(name + "\n"), raw)).slice(0, 4);
    if (hexId !== Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("")) {
      throw new Error("verifier key id does not match its key");
    }
    const key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, [
      "verify",
    ]);
    return { name, id, key };
  }

  // A signed note is its text (ending in a newline), a blank line, then "— <name> <base64>"
  // lines whose payload is a 4-byte key id and the signature. Returns the parsed checkpoint
  // {origin, size, root} once the log's signature over the text verifies; throws otherwise.
  async function openCheckpoint(note, vkey) {
    const verifier = await parseVkey(vkey);
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("not a signed note");
    const text = note.slice(0, split + 1);
    let signed = false;
    for (const line of note.slice(split + 2).split("\n")) {
      if (!line.startsWith("\u2014 ")) continue;
      const [name, encoded] = line.slice(2).split(" ");
      const payload = fromBase64(encoded || "");
      if (name !== verifier.name || !equal(payload.slice(0, 4), verifier.id)) continue;
      const signature = payload.slice(4);
      signed = await crypto.subtle.verify("Ed25519", verifier.key, signature, encoder.encode(text));
      if (!signed) throw new Error("checkpoint signature does not verify");
    }
    if (!signed) throw new Error("checkpoint is not signed by the log's key");
    const [origin, size, root] = text.slice(0, -1).split("\n");
    if (origin !== verifier.name || !/^(0|[1-9][0-9]*)$/.test(size)) {
      throw new Error("malformed checkpoint");
    }
    const rootHash = fromBase64(root);
    if (rootHash.length !== 32) throw new Error("malformed checkpoint root");
    return { origin, size: Number(size), root: rootHash };
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

  // Whether `entry` (its exact record text, index and proof) is in the tree of `head`.
  async function entryIncluded(entry, head) {
    const proof = entry.proof;
    if (!proof || proof.tree_size !== head.size) return false;
    const leaf = await leafHash(entry.leaf);
    const path = proof.inclusion_proof.map(fromBase64);
    return verifyInclusion(leaf, entry.index, head.size, path, head.root);
  }

  // What the page shows of the key: the first 16 bytes of SHA-256 over the vkey text, in hex
  // groups of four (docs/citizen.md says how to compute it from the published key).
  async function fingerprint(vkey) {
    const digest = await sha256(encoder.encode(vkey));
    const hex = Array.from(digest.slice(0, 16), (b) => b.toString(16).padStart(2, "0"));
    return hex.join("").toUpperCase().match(/.{4}/g).join(" ");
  }

  class BundleProblem extends Error {
    constructor(reason, index = null) {
      super(reason);
      this.reason = reason; // "format", "signature" or "entry"
      this.index = index;
    }
  }

  // A downloaded proof bundle: its checkpoint signed by `vkey`, and every entry's record
  // hashing to its leaf and proven into that checkpoint. Returns {count, size}; throws a
  // BundleProblem naming what failed.
  async function checkBundle(bundle, vkey) {
    const entries = bundle && bundle.entries;
    // v2 adds completeness (docs/ledger.md §12), checked by the page's completeness verifier;
    // here, as for v1, the checkpoint and every entry's inclusion.
    const formats = ["enlace.ledger-bundle/v1", "enlace.ledger-bundle/v2"];
    if (!bundle || !formats.includes(bundle.format) || !Array.isArray(entries)) {
      throw new BundleProblem("format");
    }
    let head;
    try {
      head = await openCheckpoint(String(bundle.checkpoint), vkey);
    } catch {
      throw new BundleProblem("signature");
    }
    for (const item of entries) {
      let ok = false;
      try {
        const leaf = await leafHash(String(item.record));
        const path = item.inclusion_proof.map(fromBase64);
        ok =
          equal(leaf, fromBase64(item.leaf_hash)) &&
          Number.isSafeInteger(item.index) &&
          (await verifyInclusion(leaf, item.index, head.size, path, head.root));
      } catch {
        ok = false;
      }
      if (!ok) throw new BundleProblem("entry", item && item.index);
    }
    return { count: entries.length, size: head.size };
  }

  return { openCheckpoint, entryIncluded, fingerprint, checkBundle, BundleProblem };
})();
