"""Test vectors for the browser's verifier, derived from the completeness spec alone
(docs/ledger.md, "subject map"): an independent, deliberately naive Python rendering of it — a
small log of canonical records ending in a map head, signed (and cosigned) checkpoints, and
v2 bundles for a citizen with entries, for one with none (absence), and tampered variants; and
pairs of an older and a newer bundle (``OLDER_PAIRS``), honest or from a log that rewrote the
citizen's list, which the Python and the browser's verifiers are both run on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import checkpoint, merkle, trust

EMPTY = bytes(32)
ORIGIN = "localhost/enlace/MX/ledger"


def H(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def be64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def bit(key: bytes, i: int) -> int:
    return (key[i // 8] >> (7 - i % 8)) & 1


def map_leaf(key: bytes, value: bytes) -> bytes:
    return H(b"\x10", key, value)


def map_root(pairs: dict[bytes, bytes], depth: int = 0) -> bytes:
    if not pairs:
        return EMPTY
    if len(pairs) == 1:
        ((key, value),) = pairs.items()
        return map_leaf(key, value)
    left = {k: v for k, v in pairs.items() if bit(k, depth) == 0}
    right = {k: v for k, v in pairs.items() if bit(k, depth) == 1}
    return H(b"\x11", map_root(left, depth + 1), map_root(right, depth + 1))


def map_proof(pairs: dict[bytes, bytes], key: bytes) -> dict[str, Any]:
    """Siblings along ``key``'s path down to where it (or its absence) ends."""
    siblings: list[str] = []
    here, depth = dict(pairs), 0
    while True:
        if not here:
            return {"siblings": siblings, "terminal": None}
        if len(here) == 1:
            ((other, value),) = here.items()
            terminal = None if other == key else {"key": other.hex(), "value": b64encode(value)}
            return {"siblings": siblings, "terminal": terminal}
        b = bit(key, depth)
        side = {k: v for k, v in here.items() if bit(k, depth) == b}
        opposite = {k: v for k, v in here.items() if bit(k, depth) != b}
        siblings.append(b64encode(map_root(opposite, depth + 1)))
        here, depth = side, depth + 1


@dataclass
class Ledger:
    """A log of canonical records ending in a map head, with its checkpoint."""

    signer: checkpoint.NoteSigner = field(
        default_factory=lambda: checkpoint.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    )
    witness_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    witness_name: str = "witness.test/w1"
    records: list[bytes] = field(default_factory=list)

    def append(self, subjects: list[str], n: int) -> None:
        record = {"v": 1, "kind": "exchange", "n": n, "subjects": subjects}
        self.records.append(rfc8785.dumps(record))

    def seal(self, hidden: frozenset[tuple[int, str]] = frozenset()) -> None:
        """Append the map head over every entry so far (its own index is what it covers). Its
        map leaves out the ``hidden`` (index, subject) pairs, as a log rewriting lists would:
        the tree keeps those entries, the subject's list (and bundle) no longer has them."""
        covers = len(self.records)
        chains: dict[str, tuple[int, int, bytes]] = {}
        self.listed: dict[str, list[int]] = {}
        for index, body in enumerate(self.records):
            for subject in json.loads(body).get("subjects", []):
                if (index, subject) in hidden:
                    continue
                n, _, c = chains.get(subject, (0, 0, EMPTY))
                c = H(b"\x12", c, be64(index), merkle.leaf_hash(body))
                chains[subject] = (n + 1, index, c)
                self.listed.setdefault(subject, []).append(index)
        self.chains = chains
        self.pairs = {
            bytes.fromhex(k): H(b"\x13", be64(n), be64(i), c) for k, (n, i, c) in chains.items()
        }
        head = {
            "v": 1,
            "kind": "map_head",
            "recorded_at": "2026-12-01T20:00:00.000000Z",
            "covers": covers,
            "keys": len(self.pairs),
            "root": b64encode(map_root(self.pairs)),
        }
        self.records.append(rfc8785.dumps(head))

    @property
    def size(self) -> int:
        return len(self.records)

    def _nodes(self, size: int) -> dict[merkle.NodeId, bytes]:
        tree, nodes = merkle.CompactRange(), {}
        for body in self.records[:size]:
            for level, index, value in tree.append(merkle.leaf_hash(body)):
                nodes[(level, index)] = value
        self._root = tree.root()
        return nodes

    def note(self, size: int | None = None, *, cosigned: bool = True) -> str:
        size = self.size if size is None else size
        self._nodes(size)
        body = checkpoint.Checkpoint(ORIGIN, size, self._root).body()
        note = checkpoint.sign_note(body, [self.signer])
        if cosigned:
            note += checkpoint.cosign(body, self.witness_name, self.witness_key, int(time.time()))
        return note.decode()

    def inclusion(self, index: int, size: int) -> list[str]:
        nodes = self._nodes(size)
        proof = merkle.inclusion_proof(index, size, lambda ids: {i: nodes[i] for i in ids})
        return [b64encode(h) for h in proof]

    def consistency(self, old: int, new: int) -> list[str]:
        nodes = self._nodes(new)
        proof = merkle.consistency_proof(old, new, lambda ids: {i: nodes[i] for i in ids})
        return [b64encode(h) for h in proof]

    def entry(self, index: int, size: int) -> dict[str, Any]:
        body = self.records[index]
        return {
            "index": index,
            "record": body.decode(),
            "leaf_hash": b64encode(merkle.leaf_hash(body)),
            "inclusion_proof": self.inclusion(index, size),
        }

    def bundle(self, key: str) -> dict[str, Any]:
        """The v2 bundle of every entry the map lists for ``key`` against the current
        checkpoint."""
        size = self.size
        n, latest, chain = self.chains.get(key, (0, None, EMPTY))
        indexes = self.listed.get(key, [])
        return {
            "format": "enlace.ledger-bundle/v2",
            "checkpoint": self.note(size),
            "entries": [self.entry(i, size) for i in indexes],
            "completeness": {
                "map_head": self.entry(size - 1, size),
                "keys": [
                    {
                        "key": key,
                        "role": "citizen",
                        "count": n,
                        "latest": latest,
                        "chain": b64encode(chain),
                        "proof": map_proof(self.pairs, bytes.fromhex(key)),
                    }
                ],
            },
        }

    def trust(self, quorum: int = 1) -> dict[str, Any]:
        witness = checkpoint.CosignatureVerifier(self.witness_name, self.witness_key.public_key())
        policy = trust.WitnessPolicy((witness,), quorum)
        return trust.TrustDocument(self.signer.verifier(), policy).to_json()


def subject(n: int) -> str:
    return hashlib.sha256(f"citizen {n}".encode()).hexdigest()


#: Her entries in the first checkpoint are 1, 6, 11 and 16; a rewriting log hides entry 6.
HIDDEN = frozenset({(6, subject(1))})


def _two_checkpoints(
    ledger: Ledger,
    first: frozenset[tuple[int, str]] = frozenset(),
    then: frozenset[tuple[int, str]] = frozenset(),
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """20 entries about 5 citizens sealed (a checkpoint of 21, whose map hides ``first``), then 6
    more (28, hiding ``then``): subject(1)'s bundle at each, the newer proving consistency from
    the older, and subject(99)'s (none) at the first. The entries are the same whatever the maps
    hide; only the map heads differ."""
    for n in range(20):
        ledger.append([subject(n % 5)] if n % 7 else [], n)
    ledger.seal(first)
    older, nobody = ledger.bundle(subject(1)), ledger.bundle(subject(99))
    older_size = ledger.size
    for n in range(20, 26):
        ledger.append([subject(n % 5)], n)
    ledger.seal(then)
    newer = ledger.bundle(subject(1))
    proof = ledger.consistency(older_size, ledger.size)
    newer["consistency"] = {"from": older_size, "proof": proof}
    return older, nobody, newer


#: (newer, older, the reason both verifiers give; None: the newer extends the older). A reason
#: is a BundleProblem's (verify.js); the older file's own failure is "older: " and its reason.
OLDER_PAIRS: dict[str, tuple[str, str, str | None]] = {
    "honest": ("good", "older", None),
    "forked": ("forked", "older", "consistency"),
    "no proof from the older size": ("absent", "older", "consistency_missing"),
    "swapped": ("older", "good", "older_larger"),
    "older is v1": ("good", "older_v1", "older_format"),
    "older lacks its witness": ("good", "uncosigned", "older: witnesses"),
    "older of another person": ("good", "older_absent", "older_key"),
    # The newer map dropped entry 6, which the older file showed: the tree is consistent and
    # the newer bundle complete for its own map, but an older entry is missing.
    "entry dropped": ("dropped", "older", "older_entry"),
    # The older map hid entry 6 and the newer shows it: nothing of the older file is missing,
    # but the older list (1, 11, 16) is not the start of the newer (1, 6, 11, 16, 22).
    "list rewritten": ("revealed", "hid", "older_chain"),
    # A consistency proof that is not a list of hashes: a malformed file, not a rewritten log.
    "consistency malformed": ("malformed", "older", "format"),
}


def sample() -> tuple[Ledger, dict[str, Any]]:
    """A sealed log of 20 entries about 5 citizens and bundles (and tampered ones) to check,
    and logs from the same keys whose maps rewrite subject(1)'s list (``OLDER_PAIRS``)."""
    ledger = Ledger()
    older, older_absent, good = _two_checkpoints(ledger)
    keys = {"signer": ledger.signer, "witness_key": ledger.witness_key}
    _, _, dropped = _two_checkpoints(Ledger(**keys), then=HIDDEN)
    hid, _, revealed = _two_checkpoints(Ledger(**keys), first=HIDDEN)
    older_v1 = {"format": "enlace.ledger-bundle/v1", "checkpoint": older["checkpoint"]}
    older_v1["entries"] = older["entries"]
    omitted = copy.deepcopy(good)
    del omitted["entries"][1]
    added = copy.deepcopy(good)
    added["entries"].insert(1, ledger.entry(3, ledger.size))  # subject(3)'s, not hers
    reordered = copy.deepcopy(good)
    reordered["entries"][0], reordered["entries"][1] = reordered["entries"][1], good["entries"][0]
    forked = copy.deepcopy(good)
    forked["consistency"]["proof"][0] = b64encode(bytes(32))
    malformed = copy.deepcopy(good)
    malformed["consistency"]["proof"] = b64encode(bytes(32))
    uncosigned = copy.deepcopy(good)
    uncosigned["checkpoint"] = ledger.note(cosigned=False)
    return ledger, {
        "trust": ledger.trust(),
        "older": older,
        "good": good,
        "absent": ledger.bundle(subject(99)),
        "omitted": omitted,
        "added": added,
        "reordered": reordered,
        "forked": forked,
        "malformed": malformed,
        "uncosigned": uncosigned,
        "older_v1": older_v1,
        "older_absent": older_absent,
        "dropped": dropped,
        "hid": hid,
        "revealed": revealed,
    }
