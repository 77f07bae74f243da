"""Proofs read from storage: inclusion and consistency proofs, and proof bundles (v1: given
entries; v2: every entry of given subject keys, complete up to a checkpoint, docs/ledger.md §12).

Each proof reads the O(log n) stored subtrees it needs with one query (``driver.read_nodes``);
the maths lives in ``gateway.kernel.ledger.merkle``, and the bundle format and its verification
are pure (``gateway.kernel.ledger.bundle``). Only committed leaves have nodes, so a proof asked
beyond the ledger is ``OutOfRange`` and a proof missing nodes inside it is ``LedgerCorrupt``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.encoding import b64decode
from gateway.kernel.ledger import bundle, merkle, subjectmap
from gateway.kernel.ledger.bundle import (
    MAX_ENTRIES,
    BundleEntry,
    BundleError,
    ProvenKey,
    make_bundle,
)
from gateway.storage.db import ledger_subjects
from gateway.storage.ledger import driver
from gateway.storage.ledger import subjectmap as maps
from gateway.storage.ledger.errors import LedgerCorrupt, OutOfRange
from gateway.storage.ledger.publisher import StoredCheckpoint


def _missing(conn: Connection, tree_size: int, what: str) -> Exception:
    """Nodes a proof needs are not stored: the tree is not that big (yet), or storage lost them.

    Only committed leaves have nodes, and a proof's nodes cover its whole tree, so a proof of a
    tree beyond the ledger always misses one: the happy path needs no size query.
    """
    current = driver.size(conn)
    if tree_size > current:
        return OutOfRange(f"tree size {tree_size} is beyond the ledger's {current} entries")
    return LedgerCorrupt(f"tree nodes for {what} are missing from storage")


def inclusion_proof(conn: Connection, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
    """The leaf hash of entry ``index`` and its inclusion proof in the tree of ``tree_size``.

    Leaf and proof come from one node query.
    """
    if not 0 <= index < tree_size:
        raise OutOfRange(f"index {index} is not in a tree of size {tree_size}")
    leaf_id = (0, index)
    fetched: dict[merkle.NodeId, bytes] = {}

    def read(nodes: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        fetched.update(driver.read_nodes(conn, [*nodes, leaf_id]))
        return fetched

    try:
        path = merkle.inclusion_proof(index, tree_size, read)
        if leaf_id not in fetched:  # a one-leaf tree has an empty proof and asked for nothing
            read([])
        return fetched[leaf_id], path
    except (merkle.MissingNodeError, KeyError):
        raise _missing(conn, tree_size, f"entry {index}") from None


def consistency_proof(conn: Connection, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from the tree of ``old_size`` to the tree of ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise OutOfRange(f"cannot prove consistency from size {old_size} to {new_size}")
    if old_size in (0, new_size):  # an empty proof: nothing is read, so check the size
        if new_size > driver.size(conn):
            raise _missing(conn, new_size, "the tree")
        return []
    try:
        return merkle.consistency_proof(old_size, new_size, driver.node_reader(conn))
    except merkle.MissingNodeError:
        raise _missing(conn, new_size, f"sizes {old_size} to {new_size}") from None


def _proven(conn: Connection, wanted: Sequence[int], size: int) -> list[BundleEntry]:
    """The entries at ``wanted`` (sorted, below ``size``) with inclusion proofs in that tree."""
    bodies = driver.read_bodies(conn, wanted)
    plans = {i: merkle.inclusion_proof_nodes(i, size) for i in wanted}
    needed = {(0, i) for i in wanted} | {
        n for plan in plans.values() for ref in plan for n in ref.nodes
    }
    hashes = driver.read_nodes(conn, sorted(needed))
    entries = []
    for index in wanted:
        if index not in bodies:
            raise BundleError("the entry is missing from storage", index)
        try:
            path = tuple(ref.hash(hashes) for ref in plans[index])
            leaf = hashes[(0, index)]
        except (merkle.MissingNodeError, KeyError):
            raise BundleError("tree nodes for the entry are missing from storage", index) from None
        entries.append(BundleEntry(index, bodies[index], leaf, path))
    return entries


def build_bundle(
    conn: Connection, indexes: Iterable[int], head: StoredCheckpoint
) -> dict[str, Any]:
    """The bundle of the entries at ``indexes`` proven against the stored checkpoint ``head``.

    Records come from the entries table as stored and proofs from the tree: if a record was
    tampered with, the bundle is still built and fails verification at that entry, which is
    what its reader must see. Raises BundleError for an entry the checkpoint does not cover or
    that storage no longer has.
    """
    wanted = sorted(set(indexes))
    if len(wanted) > MAX_ENTRIES:
        raise BundleError(f"a bundle holds at most {MAX_ENTRIES} entries")
    for index in wanted:
        if not 0 <= index < head.size:
            raise BundleError(f"not covered by the checkpoint of size {head.size}", index)
    return make_bundle(head.note, _proven(conn, wanted, head.size))


class MapMoved(Exception):
    """The stored subject map is not the one closing the checkpoint asked for (another
    checkpoint was signed meanwhile): build again against the newest checkpoint."""


def _key_indexes(conn: Connection, key: str, below: int) -> list[int]:
    s = ledger_subjects.c
    query = sa.select(s.idx).where(s.subject == key, s.idx < below).order_by(s.idx)
    return list(conn.execute(query).scalars())


def _check_keys(map_head: BundleEntry, keys: Sequence[ProvenKey]) -> None:
    """Every key's proof against the map head's root, as a verifier will check it: a map read
    while another checkpoint was folded would not verify (``MapMoved``: build again)."""
    try:
        root = b64decode(json.loads(map_head.record)["root"])
        for key in keys:
            value = key.value()
            digest = None if value is None else value.hash()
            subjectmap.verify(root, subjectmap.key_of(key.key), digest, key.proof)
    except (KeyError, ValueError, subjectmap.MapProofError) as exc:
        raise MapMoved(f"a map proof does not verify against the map head: {exc}") from None


def build_complete_bundle(
    conn: Connection,
    keys: Sequence[tuple[str, str]],
    head: StoredCheckpoint,
    consistency_from: int | None = None,
) -> dict[str, Any]:
    """The v2 bundle of every entry of ``keys`` ((hex key, role) pairs) up to the complete
    checkpoint ``head``, with each key's map proof; optionally a consistency proof from the
    size ``consistency_from``. ``MapMoved`` if the stored map has moved past ``head``'s (retry
    with the newest checkpoint); the keys' values are checked against the map head's root."""
    closing = head.size - 1
    if closing < 0 or maps.state(conn).head != closing:
        raise MapMoved(f"the stored map does not close the checkpoint of size {head.size}")
    proven_keys, wanted = [], set()
    for key, role in keys:
        value, proof = maps.prove(conn, key)
        indexes = _key_indexes(conn, key, closing)
        if len(indexes) != (0 if value is None else value.count):
            raise MapMoved(f"key entries and map value disagree at size {head.size}")
        wanted.update(indexes)
        proven_keys.append(
            ProvenKey(
                key,
                role,
                0 if value is None else value.count,
                None if value is None else value.latest,
                subjectmap.EMPTY if value is None else value.chain,
                proof,
            )
        )
    if len(wanted) > MAX_ENTRIES:
        raise BundleError(f"a bundle holds at most {MAX_ENTRIES} entries")
    entries = _proven(conn, sorted(wanted | {closing}), head.size)
    map_head = entries.pop()
    if maps.state(conn).head != closing:  # a checkpoint landed while we read
        raise MapMoved(f"the map moved past the checkpoint of size {head.size}")
    _check_keys(map_head, proven_keys)
    consistency = None
    if consistency_from is not None:
        if not 0 <= consistency_from <= head.size:
            raise OutOfRange(f"cannot prove consistency from size {consistency_from}")
        consistency = (consistency_from, consistency_proof(conn, consistency_from, head.size))
    complete = bundle.completeness(map_head, proven_keys)
    return make_bundle(head.note, entries, complete, consistency)
