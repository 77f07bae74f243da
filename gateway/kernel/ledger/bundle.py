"""Proof bundles: ledger entries with inclusion proofs against one signed checkpoint.

A bundle is what a citizen (or an auditor) downloads and checks offline, with nothing but the
gateway's checkpoint verifier key (and optionally witness keys). It is JSON::

    {"format": "enlace.ledger-bundle/v1",
     "checkpoint": "<signed checkpoint note, verbatim, with any witness cosignatures>",
     "entries": [{"index": 17,
                  "record": "<the record's RFC 8785 canonical JSON, as a string>",
                  "leaf_hash": "<base64 RFC 9162 leaf hash>",
                  "inclusion_proof": ["<base64 hash>", ...]}, ...]}

Each entry carries exactly what a C2SP ``tlog-proof`` carries (index, inclusion proof from the
leaf's sibling up, checkpoint) with the record as its extra data; the checkpoint is shared.

Format ``enlace.ledger-bundle/v2`` adds ``completeness``: the checkpoint's closing map head
(proven like an entry) and, per subject key, its count, latest index, chain and map proof, so the
entries are shown to be *all* those of the keys up to the checkpoint (docs/ledger.md §12);
optionally ``consistency`` from an older bundle's size, which ``verify_against_older`` checks.
``make_bundle`` and ``verify_bundle`` are pure (no database: an offline verifier imports only
the kernel); ``gateway.storage.ledger.proofs.build_bundle`` reads a bundle from storage.
docs/ledger.md §6 specifies the format and the verification.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from gateway.kernel.encoding import EncodingError, b64decode, b64encode
from gateway.kernel.ledger import checkpoint, merkle, subjectmap

__all__ = [
    "FORMAT",
    "FORMAT_V2",
    "ROLES",
    "ProvenKey",
    "completeness",
    "verify_against_older",
    "MAX_ENTRIES",
    "BundleError",
    "BundleEntry",
    "VerifiedBundle",
    "make_bundle",
    "verify_bundle",
]

FORMAT = "enlace.ledger-bundle/v1"
FORMAT_V2 = "enlace.ledger-bundle/v2"
#: Whose key a v2 bundle proves: the citizen's pseudonym, or a disclosed covert key.
ROLES = frozenset({"citizen", "covert"})
#: Counts and indexes are unsigned 64-bit in the map's value hash; a log never reaches 2^63.
_INDEX_BOUND = 2**63
MAX_KEYS = 10_000
#: Most entries in one bundle, and the longest record accepted in one.
MAX_ENTRIES = 100_000
MAX_RECORD_SIZE = 1 << 20
_MAX_PROOF = 64


class BundleError(Exception):
    """A bundle cannot be built or does not verify; ``index`` names the entry at fault, if any."""

    def __init__(self, message: str, index: int | None = None) -> None:
        self.index = index
        super().__init__(message if index is None else f"entry {index}: {message}")


@dataclass(frozen=True)
class BundleEntry:
    """One proven entry: its index, the record as logged and its decoded form."""

    index: int
    record: bytes
    leaf_hash: bytes
    inclusion_proof: tuple[bytes, ...]

    def decoded(self) -> dict[str, Any]:
        return json.loads(self.record)


@dataclass(frozen=True)
class ProvenKey:
    """A subject key of a v2 bundle: its value in the map head and the proof of it."""

    key: str  # 64 lower-case hex characters
    role: str
    count: int
    latest: int | None
    chain: bytes
    proof: subjectmap.MapProof

    def value(self) -> subjectmap.Value | None:
        """Its map value, None when absent (count 0)."""
        if self.count == 0 or self.latest is None:
            return None
        return subjectmap.Value(self.count, self.latest, self.chain)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "role": self.role,
            "count": self.count,
            "latest": self.latest,
            "chain": b64encode(self.chain),
            "proof": self.proof.to_json(),
        }


@dataclass(frozen=True)
class VerifiedBundle:
    checkpoint: checkpoint.Checkpoint
    #: Key names whose signatures verified: the log's first, then witnesses'.
    signed_by: tuple[str, ...]
    entries: tuple[BundleEntry, ...]
    #: v2: the keys whose entries are proven complete up to ``checkpoint.size`` (else empty).
    keys: tuple[ProvenKey, ...] = ()
    complete: bool = False
    #: v2 with ``consistency``: the older size and the proof from it to this checkpoint.
    consistency: tuple[int, tuple[bytes, ...]] | None = None


def _entry_json(e: BundleEntry) -> dict[str, Any]:
    return {
        "index": e.index,
        "record": e.record.decode(),
        "leaf_hash": b64encode(e.leaf_hash),
        "inclusion_proof": [b64encode(h) for h in e.inclusion_proof],
    }


def completeness(map_head: BundleEntry, keys: Iterable[ProvenKey]) -> dict[str, Any]:
    """The ``completeness`` member of a v2 bundle."""
    return {"map_head": _entry_json(map_head), "keys": [k.to_json() for k in keys]}


def make_bundle(
    note: bytes,
    entries: Iterable[BundleEntry],
    complete: dict[str, Any] | None = None,
    consistency: tuple[int, Sequence[bytes]] | None = None,
) -> dict[str, Any]:
    """The JSON-ready bundle of ``entries`` proven against the signed checkpoint ``note``:
    v1, or v2 with ``complete`` (``completeness(...)``) and an optional consistency proof."""
    built: dict[str, Any] = {
        "format": FORMAT if complete is None else FORMAT_V2,
        "checkpoint": note.decode(),
        "entries": [_entry_json(e) for e in entries],
    }
    if complete is not None:
        built["completeness"] = complete
        if consistency is not None:
            size, proof = consistency
            built["consistency"] = {"from": size, "proof": [b64encode(h) for h in proof]}
    return built


def _hash(value: Any, what: str, index: int | None) -> bytes:
    try:
        raw = b64decode(value) if isinstance(value, str) else b""
    except EncodingError:
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise BundleError(f"{what} is not a base64 SHA-256 hash", index)
    return raw


def _entry(item: Any, head: checkpoint.Checkpoint) -> BundleEntry:
    if not isinstance(item, Mapping):
        raise BundleError("every entry must be an object")
    index = item.get("index")
    if type(index) is not int or not 0 <= index < head.size:
        raise BundleError(f"index {index!r} is not in the checkpoint's tree of {head.size}")
    record, proof = item.get("record"), item.get("inclusion_proof")
    if not isinstance(record, str) or len(record) > MAX_RECORD_SIZE:
        raise BundleError("record must be a string of canonical JSON", index)
    if not isinstance(proof, list) or len(proof) > _MAX_PROOF:
        raise BundleError("inclusion_proof must be a list of hashes", index)
    body = record.encode()
    entry = BundleEntry(
        index,
        body,
        _hash(item.get("leaf_hash"), "leaf_hash", index),
        tuple(_hash(h, "an inclusion proof hash", index) for h in proof),
    )
    if merkle.leaf_hash(body) != entry.leaf_hash:
        raise BundleError("record does not hash to its leaf hash: it was altered", index)
    try:
        canonical = rfc8785.dumps(json.loads(record)) == body
    except (ValueError, TypeError, rfc8785.CanonicalizationError):
        canonical = False
    if not canonical:  # what a reader is shown must be exactly what was hashed
        raise BundleError("record is not RFC 8785 canonical JSON", index)
    try:
        merkle.verify_inclusion(
            entry.leaf_hash, index, head.size, proof=entry.inclusion_proof, root_hash=head.root_hash
        )
    except merkle.ProofError as exc:
        raise BundleError(f"inclusion proof: {exc}", index) from None
    return entry


def _open(
    bundle: Mapping[str, Any],
    verifier: checkpoint.NoteVerifier,
    witnesses: Sequence[checkpoint.CosignatureVerifier],
    quorum: int,
) -> tuple[checkpoint.Checkpoint, tuple[str, ...]]:
    note = bundle.get("checkpoint")
    if not isinstance(note, str):
        raise BundleError("a bundle needs a checkpoint note and a list of entries")
    try:
        opened = checkpoint.open_note(note.encode(), [verifier, *witnesses])
        head = checkpoint.parse_checkpoint(opened.body)
    except (checkpoint.NoteError, ValueError) as exc:
        raise BundleError(f"checkpoint: {exc}") from None
    if verifier.name not in opened.verified_names or head.origin != verifier.name:
        raise BundleError("checkpoint is not signed by this log's key for its origin")
    witnessed = [name for name in opened.verified_names if name != verifier.name]
    if len(witnessed) < quorum:
        raise BundleError(f"checkpoint has {len(witnessed)} witness cosignatures, need {quorum}")
    return head, (verifier.name, *witnessed)


def verify_bundle(
    bundle: Mapping[str, Any],
    verifier: checkpoint.NoteVerifier,
    *,
    witnesses: Sequence[checkpoint.CosignatureVerifier] = (),
    quorum: int = 0,
) -> VerifiedBundle:
    """Check a bundle offline; raise BundleError naming the first thing that fails.

    The checkpoint must be signed by ``verifier`` (the gateway's checkpoint key, whose name is
    the log's origin) and cosigned by at least ``quorum`` of ``witnesses``; every record must be
    canonical, hash to its leaf hash, and be included in the checkpoint's tree. A v2 bundle must
    also prove its entries complete (``_check_completeness``).
    """
    version = bundle.get("format")
    if version not in (FORMAT, FORMAT_V2):
        raise BundleError(f"not a {FORMAT} or {FORMAT_V2} bundle")
    items = bundle.get("entries")
    if not isinstance(items, list):
        raise BundleError("a bundle needs a checkpoint note and a list of entries")
    if len(items) > MAX_ENTRIES:
        raise BundleError(f"a bundle holds at most {MAX_ENTRIES} entries")
    head, signed_by = _open(bundle, verifier, witnesses, quorum)
    entries = tuple(_entry(item, head) for item in items)
    if version == FORMAT:
        return VerifiedBundle(head, signed_by, entries)
    keys = _check_completeness(bundle.get("completeness"), head, entries)
    return VerifiedBundle(head, signed_by, entries, keys, True, _consistency(bundle, head))


def _map_head(data: Any, head: checkpoint.Checkpoint) -> tuple[int, bytes]:
    """The checkpoint's closing map head, proven: its ``covers`` and root."""
    if not isinstance(data, Mapping):
        raise BundleError("completeness: map_head must be an object")
    proven = _entry(data, head)
    if proven.index != head.size - 1:
        raise BundleError("completeness: the map head is not the checkpoint's last entry")
    record = proven.decoded()
    covers, root = record.get("covers"), record.get("root")
    if record.get("kind") != "map_head" or record.get("v") != 1 or covers != proven.index:
        raise BundleError("completeness: the checkpoint's last entry is not its map head")
    return proven.index, _hash(root, "the map root", proven.index)


def _key(item: Any) -> ProvenKey:
    if not isinstance(item, Mapping):
        raise BundleError("completeness: every key must be an object")
    given = item.get("key")
    key = given if isinstance(given, str) else ""
    try:
        subjectmap.key_of(key)
        proof = subjectmap.MapProof.from_json(item.get("proof"))
    except ValueError as exc:
        raise BundleError(f"completeness: key {given!r}: {exc}") from None
    count, latest, role = item.get("count"), item.get("latest"), item.get("role")
    if role not in ROLES or type(count) is not int or not 0 <= count < _INDEX_BOUND:
        raise BundleError(f"completeness: key {key}: bad role or count")
    if (
        (latest is None) != (count == 0)
        or latest is not None
        and not (type(latest) is int and 0 <= latest < _INDEX_BOUND)
    ):
        raise BundleError(f"completeness: key {key}: latest must be an index, null iff count is 0")
    chain = _hash(item.get("chain"), f"key {key}'s chain", None)
    if count == 0 and chain != subjectmap.EMPTY:
        raise BundleError(f"completeness: key {key}: a key without entries has the empty chain")
    return ProvenKey(key, role, count, latest, chain, proof)


def _check_key(key: ProvenKey, root: bytes, mine: Sequence[BundleEntry]) -> None:
    """``key``'s map proof against ``root``, and its entries (in index order) against its value."""
    value = key.value()
    try:
        subjectmap.verify(
            root, bytes.fromhex(key.key), None if value is None else value.hash(), key.proof
        )
    except subjectmap.MapProofError as exc:
        raise BundleError(f"completeness: key {key.key}: {exc}") from None
    chain = subjectmap.EMPTY
    for entry in mine:
        chain = subjectmap.chain_step(chain, entry.index, entry.leaf_hash)
    latest = mine[-1].index if mine else None
    if (len(mine), latest, chain) != (key.count, key.latest, key.chain):
        raise BundleError(
            f"completeness: key {key.key} has {key.count} entries up to the map head, "
            f"the bundle holds {len(mine)} or others: an entry is missing, added or moved"
        )


def _check_completeness(
    data: Any, head: checkpoint.Checkpoint, entries: Sequence[BundleEntry]
) -> tuple[ProvenKey, ...]:
    """Every key's value is proven in the map head closing the checkpoint, and the entries are
    exactly those of the keys up to it, in index order."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise BundleError("completeness: an object with map_head and keys is required")
    covers, root = _map_head(data.get("map_head"), head)
    if len(data["keys"]) > MAX_KEYS:
        raise BundleError(f"completeness: at most {MAX_KEYS} keys")
    keys = tuple(_key(item) for item in data["keys"])
    if len({k.key for k in keys}) != len(keys):
        raise BundleError("completeness: a key is listed twice")
    # Else a bundle of covert keys alone, or of none, would be "complete" about nobody.
    if not any(k.role == "citizen" for k in keys):
        raise BundleError("completeness: no key is a citizen's")
    indexes = [e.index for e in entries]
    if indexes != sorted(set(indexes)):
        raise BundleError("completeness: entries must be in increasing index order, once each")
    if indexes and indexes[-1] >= covers:
        raise BundleError("completeness: an entry is not covered by the map head", indexes[-1])
    subjects = {e.index: _subjects(e) for e in entries}
    for key in keys:
        _check_key(key, root, [e for e in entries if key.key in subjects[e.index]])
    named = {k.key for k in keys}
    for entry in entries:
        if not named & subjects[entry.index]:
            raise BundleError("completeness: the entry belongs to none of the keys", entry.index)
    return keys


def _subjects(entry: BundleEntry) -> set[str]:
    found = entry.decoded().get("subjects")
    return {s for s in found if isinstance(s, str)} if isinstance(found, list) else set()


def _consistency(
    bundle: Mapping[str, Any], head: checkpoint.Checkpoint
) -> tuple[int, tuple[bytes, ...]] | None:
    data = bundle.get("consistency")
    if data is None:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("proof"), list):
        raise BundleError("consistency: an object with from and proof is required")
    size = data.get("from")
    if type(size) is not int or not 0 <= size <= head.size:
        raise BundleError("consistency: from must be a size no larger than the checkpoint's")
    if len(data["proof"]) > _MAX_PROOF:
        raise BundleError(f"consistency: a proof has at most {_MAX_PROOF} hashes")
    return size, tuple(_hash(h, "a consistency proof hash", None) for h in data["proof"])


def verify_against_older(new: VerifiedBundle, old: VerifiedBundle) -> None:
    """Check that ``new`` (a verified v2 bundle) extends ``old`` (an earlier one, verified): its
    tree extends old's (the consistency proof it carries, from old's size), every old entry is
    in it unchanged, and each old key's chain is a prefix of its new chain. BundleError if not.
    """
    if not (new.complete and old.complete):
        raise BundleError("comparing bundles needs two v2 (completeness) bundles")
    if old.checkpoint.origin != new.checkpoint.origin:
        raise BundleError("the two bundles are of different logs")
    _check_extension(new, old)
    present = {e.index: e.record for e in new.entries}
    for entry in old.entries:
        if present.get(entry.index) != entry.record:
            raise BundleError("the older bundle's entry is not in the newer unchanged", entry.index)
    keys = {k.key: k for k in new.keys}
    for key in old.keys:
        newer = keys.get(key.key)
        if newer is None:
            raise BundleError(f"key {key.key} of the older bundle is not in the newer")
        mine = [e for e in new.entries if key.key in _subjects(e)][: key.count]
        chain = subjectmap.EMPTY
        for entry in mine:
            chain = subjectmap.chain_step(chain, entry.index, entry.leaf_hash)
        latest = mine[-1].index if mine else None
        if (len(mine), latest, chain) != (key.count, key.latest, key.chain):
            raise BundleError(f"key {key.key}: the older chain is not a prefix of the newer")


def _check_extension(new: VerifiedBundle, old: VerifiedBundle) -> None:
    before, after = old.checkpoint, new.checkpoint
    if before.size > after.size:
        raise BundleError(f"the older bundle's tree ({before.size}) is larger than the newer's")
    if before.size == after.size:
        if before.root_hash != after.root_hash:
            raise BundleError("the two bundles' checkpoints fork: same size, different roots")
        return
    if new.consistency is None or new.consistency[0] != before.size:
        raise BundleError(f"the newer bundle has no consistency proof from size {before.size}")
    try:
        merkle.verify_consistency(
            before.size, after.size, new.consistency[1], before.root_hash, after.root_hash
        )
    except merkle.ProofError as exc:
        raise BundleError(f"consistency with the older bundle: {exc}") from None
