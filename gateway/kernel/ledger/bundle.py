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
from gateway.kernel.ledger import checkpoint, merkle

__all__ = [
    "FORMAT",
    "MAX_ENTRIES",
    "BundleError",
    "BundleEntry",
    "VerifiedBundle",
    "make_bundle",
    "verify_bundle",
]

FORMAT = "enlace.ledger-bundle/v1"
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
class VerifiedBundle:
    checkpoint: checkpoint.Checkpoint
    #: Key names whose signatures verified: the log's first, then witnesses'.
    signed_by: tuple[str, ...]
    entries: tuple[BundleEntry, ...]


def make_bundle(note: bytes, entries: Iterable[BundleEntry]) -> dict[str, Any]:
    """The JSON-ready bundle of ``entries`` proven against the signed checkpoint ``note``."""
    return {
        "format": FORMAT,
        "checkpoint": note.decode(),
        "entries": [
            {
                "index": e.index,
                "record": e.record.decode(),
                "leaf_hash": b64encode(e.leaf_hash),
                "inclusion_proof": [b64encode(h) for h in e.inclusion_proof],
            }
            for e in entries
        ],
    }


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
    canonical, hash to its leaf hash, and be included in the checkpoint's tree.
    """
    if bundle.get("format") != FORMAT:
        raise BundleError(f"not a {FORMAT} bundle")
    note, items = bundle.get("checkpoint"), bundle.get("entries")
    if not isinstance(note, str) or not isinstance(items, list):
        raise BundleError("a bundle needs a checkpoint note and a list of entries")
    if len(items) > MAX_ENTRIES:
        raise BundleError(f"a bundle holds at most {MAX_ENTRIES} entries")
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
    entries = tuple(_entry(item, head) for item in items)
    return VerifiedBundle(head, (verifier.name, *witnessed), entries)
