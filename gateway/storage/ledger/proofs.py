"""Proofs read from storage: a proof bundle's entries with their inclusion proofs.

The bundle format and its verification are pure (``gateway.kernel.ledger.bundle``); this module
only reads the records and tree nodes they need.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import merkle
from gateway.kernel.ledger.bundle import MAX_ENTRIES, BundleEntry, BundleError, make_bundle
from gateway.storage.db import ledger_entries
from gateway.storage.ledger import store

_QUERY_CHUNK = 500


def build_bundle(
    conn: Connection, indexes: Iterable[int], head: store.StoredCheckpoint
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
    bodies: dict[int, bytes] = {}
    for start in range(0, len(wanted), _QUERY_CHUNK):
        chunk = wanted[start : start + _QUERY_CHUNK]
        query = sa.select(ledger_entries.c.idx, ledger_entries.c.body).where(
            ledger_entries.c.idx.in_(chunk)
        )
        bodies.update({idx: body.encode() for idx, body in conn.execute(query)})
    plans = {i: merkle.inclusion_proof_nodes(i, head.size) for i in wanted}
    needed = {(0, i) for i in wanted} | {
        n for plan in plans.values() for ref in plan for n in ref.nodes
    }
    hashes = store.read_nodes(conn, sorted(needed))
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
    return make_bundle(head.note, entries)
