"""A batch of ledger entries placed at the end of the tree: the rows to store, pure of locking.

Owns how records become rows (``prepare``: canonical JSON, leaf hash, entry columns, subjects)
and how a run of entries is numbered after a tree and extends it (``sequence``), shared by the
sequencer's two paths (``gateway.storage.ledger.sequencer``) and the subject map's map head
(``gateway.storage.ledger.subjectmap``). Taking the sequencing lock and storing the rows is the
caller's: this module does no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

from gateway.kernel.ledger import merkle
from gateway.kernel.ledger import record as rec
from gateway.storage.ledger import driver


@dataclasses.dataclass(frozen=True, slots=True)
class Appended:
    """Where an entry went: its index and leaf hash, and the tree right after its batch."""

    index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes


class Entry(NamedTuple):
    """A record ready to be sequenced: its leaf hash, entry columns and subjects, and the
    pseudonyms of citizens it is recorded for under covert keys (``ledger_covert`` rows)."""

    leaf_hash: bytes
    fields: tuple[Any, ...]  # ``driver.entry_fields``
    subjects: tuple[str, ...]
    covert: tuple[str, ...] = ()


def prepare(record: dict[str, Any], covert: Sequence[str] = ()) -> Entry:
    """Canonicalise and hash a record (no storage, no lock); ``covert``: see ``Entry``."""
    body = rec.canonical(record)
    subjects = tuple(record.get("subjects") or ())
    return Entry(merkle.leaf_hash(body), driver.entry_fields(record, body), subjects, tuple(covert))


@dataclasses.dataclass(frozen=True)
class Batch:
    """Entries placed at the end of a tree: the rows to store, the new frontier, the results."""

    tree: merkle.CompactRange
    rows: driver.Rows
    appended: list[Appended]


def sequence(tree: merkle.CompactRange, entries: Sequence[Entry]) -> Batch:
    """Place ``entries`` after ``tree`` (which is left as it is)."""
    tree = merkle.CompactRange(tree.size, list(tree.hashes))
    rows = driver.Rows()
    placed = []
    for leaf, fields, subjects, covert in entries:
        index = tree.size
        rows.entries.append((index, leaf, *fields))
        rows.subjects += [(subject, index) for subject in subjects]
        if covert:
            rows.covert += [(subject, index) for subject in covert]
        rows.nodes += tree.append(leaf)
        placed.append((index, leaf))
    size, root = tree.size, tree.root()
    return Batch(tree, rows, [Appended(index, leaf, size, root) for index, leaf in placed])
