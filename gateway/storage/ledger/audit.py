"""``enlace ledger verify``: recompute the ledger's tree from storage and name every discrepancy.

One pass in index order over a single snapshot, reading every table as a stream (memory is
bounded by constants, not by the ledger's size). Storage holds a chain of commitments, each
checked against the next (docs/ledger.md §8):

    record body ─H→ entry leaf hash ─=→ committed leaf (ledger_nodes level 0)
    committed leaves ─tree→ stored interior nodes, compact range, and every signed checkpoint

Entries are compared with the committed leaves position by position. A body that no longer
hashes to its leaf hash is *modified*; a committed leaf with no entry is *deleted*; an entry at
a position the tree never committed is *inserted*; a committed record found at another position
is *reordered* (a record replaced in place by one never committed is *modified* as well).
The tree is recomputed from the committed leaves, so a tampered entry is named at its index
instead of as a cascade of mismatching nodes and roots; tampering with the nodes themselves
shows up as *node* findings, against the compact range as *state* and against signed roots as
*checkpoint*. What storage copies out of each record for queries — the subjects index the
citizen view searches and the entry's columns (client, service, …) — is compared with the
record, and every early disclosure must be named by a ``ledger.disclose`` admin record. The
subject map is recomputed from the records and every map head checked against it, and the
covert entries' lookup rows against their records (``map_audit``; the map in memory: a few
hundred bytes per subject key).

A consistent rewrite (bodies, leaf hashes, nodes and state together, with the checkpoints
that covered it deleted) leaves storage self-consistent: only signed heads kept outside
storage catch it, given as ``trusted`` (the gateway's kept ``checkpoint.last`` by default,
and any ``--trusted-checkpoint``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import checkpoint, merkle
from gateway.storage.db import (
    ledger_checkpoints,
    ledger_covert,
    ledger_entries,
    ledger_nodes,
    ledger_state,
    ledger_subjects,
)
from gateway.storage.ledger import driver, subjectmap
from gateway.storage.ledger.map_audit import MapCheck

__all__ = ["KINDS", "MAX_FINDINGS", "MAX_TRACKED", "Finding", "Report", "verify"]

KINDS = (
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "node",
    "state",
    "checkpoint",
    "subjects",
    "column_mismatch",
    "unrecorded_disclosure",
    "map_head",
    "covert",
)
#: Findings kept in a report (runs of consecutive indexes count once); the rest are counted.
MAX_FINDINGS = 10_000
#: Misplaced records remembered to tell "reordered" from "deleted"/"inserted"/"modified".
MAX_TRACKED = 100_000
_PAGE = 2_000
_END = 1 << 64
_EXTRA_NODE = "stored node not in the tree"
_TRUSTED_DIFFERS = "trusted checkpoint's root differs from the tree's: history was rewritten"
_STRAY_SUBJECTS = "subject index rows for a missing entry"
_STRAY_COVERT = "covert lookup rows for a missing entry"
_COLUMNS = ("kind", "recorded_at", "exchange_id", "client", "service", "outcome")
#: Early disclosures (gateway.storage.disclosure; named here, not imported, to keep the ledger
#: free of the citizen view): each row must be named by a ``ledger.disclose`` admin record.
_disclosures = sa.table("ledger_disclosures", sa.column("idx"))


def _decoded(body: str) -> dict[str, Any] | None:
    """A stored body as the JSON object it should be, else None."""
    try:
        decoded = json.loads(body)
    except (ValueError, TypeError):
        return None
    return decoded if isinstance(decoded, dict) else None


@dataclass
class Finding:
    """A discrepancy at entry ``index`` (for ``count`` consecutive entries or nodes)."""

    kind: str
    index: int
    detail: str
    count: int = 1
    level: int | None = None  # node findings: the node's level; index is its first leaf
    moved_to: int | None = None  # reordered: where the record committed at ``index`` now is

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Report:
    tree_size: int
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    signatures_checked: bool = False
    #: The sizes of the trusted checkpoints (kept outside storage) checked against, smallest
    #: first, and the largest of them (None: none given).
    trusted_sizes: list[int] = field(default_factory=list)
    trusted_size: int | None = None
    #: False when more misplaced records existed than MAX_TRACKED: some kinds may be coarser.
    complete: bool = True
    findings: list[Finding] = field(default_factory=list)
    dropped: int = 0
    #: Map heads whose covers, keys and root were checked against the recomputed map.
    map_heads: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings and not self.dropped

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["findings"] = [f.to_dict() for f in self.findings]
        return data


class _Findings:
    """Collects findings, merging runs of consecutive indexes of the same kind."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._runs: dict[tuple[str, str, int | None], Finding] = {}

    def add(
        self,
        kind: str,
        index: int,
        detail: str,
        *,
        level: int | None = None,
        moved_to: int | None = None,
        count: int = 1,
    ) -> None:
        key = (kind, detail, level)
        last = self._runs.get(key)
        step = 1 << (level or 0)
        if (
            last is not None
            and index == last.index + last.count * step
            and (moved_to is None or last.moved_to == moved_to - last.count)
        ):
            last.count += count
            return
        finding = Finding(kind, index, detail, count=count, level=level, moved_to=moved_to)
        self._runs[key] = finding
        if len(self._report.findings) < MAX_FINDINGS:
            self._report.findings.append(finding)
        else:
            self._report.dropped += 1


class _Stream:
    """A server-side (PostgreSQL) or lazily stepped (SQLite) cursor with one row of lookahead."""

    def __init__(self, conn: Connection, query: sa.Select) -> None:
        result = conn.execute(query.execution_options(stream_results=True, yield_per=_PAGE))
        self._rows: Iterator[Any] = itertools.chain.from_iterable(result.partitions())
        self.head: Any = next(self._rows, None)

    def key(self) -> int:
        return _END if self.head is None else self.head[0]

    def pop(self) -> Any:
        row, self.head = self.head, next(self._rows, None)
        return row


class _Auditor:
    def __init__(
        self,
        conn: Connection,
        verifier: checkpoint.NoteVerifier | None,
        trusted: Sequence[checkpoint.Checkpoint],
        covert_key: bytes | None = None,
    ) -> None:
        self.conn = conn
        self.verifier = verifier
        self.trusted = sorted(trusted, key=lambda head: head.size)
        #: Indexes named by ``ledger.disclose`` records: what the disclosure check needs.
        self.disclosed: set[int] = set()
        size, packed = conn.execute(
            sa.select(ledger_state.c.size, ledger_state.c.compact_range)
        ).one()
        self.size = size
        self.stored_range = bytes(packed)
        self.report = Report(
            tree_size=size,
            signatures_checked=verifier is not None,
            trusted_sizes=[head.size for head in self.trusted],
            trusted_size=max((head.size for head in trusted), default=None),
        )
        self.found = _Findings(self.report)
        self.maps = MapCheck(
            lambda kind, index, detail: self.found.add(kind, index, detail), covert_key
        )
        self.covert = _Stream(
            conn,
            sa.select(ledger_covert.c.idx, ledger_covert.c.subject).order_by(
                ledger_covert.c.idx, ledger_covert.c.subject
            ),
        )
        self.tree: merkle.CompactRange | None = merkle.CompactRange()
        self.levels: dict[int, _Stream] = {}
        self.misplaced: list[tuple[int, bytes | None, bytes | None]] = []
        self.subjects = _Stream(
            conn,
            sa.select(ledger_subjects.c.idx, ledger_subjects.c.subject).order_by(
                ledger_subjects.c.idx, ledger_subjects.c.subject
            ),
        )
        self.heads = _Stream(
            conn,
            sa.select(
                ledger_checkpoints.c.size, ledger_checkpoints.c.root, ledger_checkpoints.c.note
            ).order_by(ledger_checkpoints.c.size),
        )

    def _level(self, level: int) -> _Stream:
        if level not in self.levels:
            self.levels[level] = _Stream(
                self.conn,
                sa.select(ledger_nodes.c.idx, ledger_nodes.c.hash)
                .where(ledger_nodes.c.level == level)
                .order_by(ledger_nodes.c.idx),
            )
        return self.levels[level]

    def run(self) -> Report:
        entries = _Stream(
            self.conn,
            sa.select(
                ledger_entries.c.idx,
                ledger_entries.c.leaf_hash,
                ledger_entries.c.body,
                *(ledger_entries.c[name] for name in _COLUMNS),
            ).order_by(ledger_entries.c.idx),
        )
        leaves = self._level(0)
        self._check_heads()  # a checkpoint of the empty tree
        position = 0
        while True:
            nxt = min(entries.key(), leaves.key())
            if nxt == _END:
                break
            if nxt > position:
                self._absent(position, nxt)
            entry = entries.pop() if entries.key() == nxt else None
            leaf = leaves.pop()[1] if leaves.key() == nxt else None
            self._position(nxt, entry, None if leaf is None else bytes(leaf))
            position = max(position, nxt + 1)
        if position < self.size:
            self._absent(position, self.size)
        self._classify_misplaced()
        self._finish()
        self.report.findings.sort(key=lambda f: (f.index, KINDS.index(f.kind)))
        return self.report

    # --- entries against committed leaves ----------------------------------------------------

    def _absent(self, begin: int, end: int) -> None:
        """Positions with neither an entry nor a committed leaf."""
        end = min(end, self.size)
        if begin < end:
            self.found.add("deleted", begin, "no entry and no committed leaf", count=end - begin)
            self._grow(begin, None)

    def _position(self, index: int, entry: Any, committed: bytes | None) -> None:
        if index < 0:  # no tree has a negative position
            if entry is not None:
                self.found.add("inserted", index, "entry at a negative index")
            if committed is not None:
                self.found.add("node", index, _EXTRA_NODE, level=0)
            return
        claimed = None if entry is None else self._entry(index, entry, committed)
        if index >= self.size and committed is not None:
            self.found.add("node", index, "stored leaf beyond the tree", level=0)
            committed = None
        if committed is None and index < self.size:
            self.found.add("node", index, "committed leaf is missing", level=0)
        if index < self.size:
            self._grow(index, committed if committed is not None else claimed)
        if claimed != committed:
            self._misplaced(index, claimed, committed)

    def _entry(self, index: int, entry: Any, committed: bytes | None) -> bytes:
        """Check the entry at ``index`` itself and feed it to the map; its claimed leaf hash."""
        self.report.entries += 1
        claimed = bytes(entry.leaf_hash)
        if merkle.leaf_hash(entry.body.encode()) != claimed:
            self.found.add("modified", index, "body does not hash to its leaf hash")
        decoded = self._check_copies(index, entry)
        if index < self.size:
            self.maps.entry(index, decoded, committed or claimed)
        return claimed

    def _misplaced(self, index: int, claimed: bytes | None, committed: bytes | None) -> None:
        if len(self.misplaced) < MAX_TRACKED:
            self.misplaced.append((index, claimed, committed))
            return
        self.report.complete = False
        self._classify(index, claimed, committed, {}, {})

    def _classify_misplaced(self) -> None:
        committed_at = {c: i for i, _, c in self.misplaced if c is not None}
        claimed_at = {c: i for i, c, _ in self.misplaced if c is not None}
        for index, claimed, committed in self.misplaced:
            self._classify(index, claimed, committed, committed_at, claimed_at)

    def _classify(
        self,
        index: int,
        claimed: bytes | None,
        committed: bytes | None,
        committed_at: dict[bytes, int],
        claimed_at: dict[bytes, int],
    ) -> None:
        """Name what happened at a position whose entry is not the committed record."""
        moved = claimed is not None and claimed in committed_at
        if committed is not None:
            elsewhere = claimed_at.get(committed)
            if elsewhere is not None:
                self.found.add(
                    "reordered", index, "committed record is at another index", moved_to=elsewhere
                )
            elif claimed is None or moved:
                self.found.add("deleted", index, "committed record is gone")
            else:
                self.found.add("modified", index, "record replaced by one never committed")
        if claimed is not None and not moved and (committed is None or committed in claimed_at):
            self.found.add("inserted", index, "entry was never committed to the tree")

    def _check_copies(self, index: int, entry: Any) -> dict[str, Any] | None:
        """What storage copies out of a record (the subjects index, the covert lookup, the
        entry's columns) must say what the record says: queries filter on the copies. Returns
        the decoded record."""
        decoded = _decoded(entry.body)
        self._check_subjects(index, decoded)
        self._check_covert(index, decoded)
        try:
            columns = None if decoded is None else driver.entry_columns(decoded)
        except KeyError:
            columns = None
        differ = [n for n in _COLUMNS if columns is None or getattr(entry, n) != columns[n]]
        if differ:
            self.found.add("column_mismatch", index, f"{', '.join(differ)} differ from the record")
        self._note_disclosure(decoded)
        return decoded

    def _check_covert(self, index: int, decoded: dict[str, Any] | None) -> None:
        """The covert lookup rows of entry ``index`` against the record (``MapCheck.covert``)."""
        while self.covert.key() < index:
            self.found.add("covert", self.covert.pop()[0], _STRAY_COVERT)
        citizens = []
        while self.covert.key() == index:
            citizens.append(self.covert.pop()[1])
        self.maps.covert(index, decoded, citizens)

    def _check_subjects(self, index: int, decoded: dict[str, Any] | None) -> None:
        """The subject index rows of entry ``index`` against the record's subjects."""
        while self.subjects.key() < index:
            self.found.add("subjects", self.subjects.pop()[0], _STRAY_SUBJECTS)
        stored = []
        while self.subjects.key() == index:
            stored.append(self.subjects.pop()[1])
        try:
            expected = None if decoded is None else sorted(set(decoded.get("subjects") or ()))
        except TypeError:  # subjects of a type no index could hold
            expected = None
        if stored != expected:
            self.found.add("subjects", index, "subject index differs from the record")

    def _note_disclosure(self, decoded: dict[str, Any] | None) -> None:
        """Remember the indexes a ``ledger.disclose`` admin record names."""
        if decoded is None or (decoded.get("kind"), decoded.get("action")) != (
            "admin",
            "ledger.disclose",
        ):
            return
        details = decoded.get("details")
        named = details.get("indexes") if isinstance(details, dict) else None
        if isinstance(named, list):
            self.disclosed.update(i for i in named if type(i) is int)

    # --- the tree ----------------------------------------------------------------------------

    def _grow(self, index: int, leaf: bytes | None) -> None:
        """Append the committed leaf at ``index`` (< size) and check what the tree stores."""
        if self.tree is None:
            return
        if leaf is None:
            self.tree = None  # nothing to recompute from: later nodes and heads go unchecked
            self.found.add("state", index, "tree cannot be recomputed from here on")
            return
        for level, node, value in self.tree.append(leaf)[1:]:
            self._check_node(level, node, value)
        self._check_heads()

    def _check_node(self, level: int, node: int, value: bytes) -> None:
        self.report.nodes += 1
        stored = self._level(level)
        while stored.key() < node:
            self.found.add("node", stored.pop()[0] << level, _EXTRA_NODE, level=level)
        if stored.key() != node:
            self.found.add("node", node << level, "stored node is missing", level=level)
        elif bytes(stored.pop()[1]) != value:
            self.found.add("node", node << level, "stored node differs", level=level)

    def _check_heads(self) -> None:
        assert self.tree is not None
        while self.heads.key() <= self.tree.size:
            size, root, note = self.heads.pop()
            self.report.checkpoints += 1
            self._check_signature(size, bytes(root), note.encode())
            if size == self.tree.size and bytes(root) != self.tree.root():
                self.found.add("checkpoint", size, "signed root differs from the tree's")
        for trusted in self.trusted:
            if trusted.size == self.tree.size and trusted.root_hash != self.tree.root():
                self.found.add("checkpoint", trusted.size, _TRUSTED_DIFFERS)

    def _check_signature(self, size: int, root: bytes, note: bytes) -> None:
        if self.verifier is None:
            return
        try:
            head = checkpoint.parse_checkpoint(checkpoint.open_note(note, [self.verifier]).body)
        except checkpoint.NoteError:
            self.found.add("checkpoint", size, "note does not verify with the checkpoint key")
            return
        if (head.origin, head.size, head.root_hash) != (self.verifier.name, size, root):
            self.found.add("checkpoint", size, "note does not match its stored size and root")

    def _finish(self) -> None:
        """After the last position: what storage holds beyond the tree, and the state row."""
        while self.subjects.key() != _END:
            self.found.add("subjects", self.subjects.pop()[0], _STRAY_SUBJECTS)
        while self.covert.key() != _END:
            self.found.add("covert", self.covert.pop()[0], _STRAY_COVERT)
        stored = subjectmap.state(self.conn)
        self.maps.stored_state(stored.head, stored.keys, stored.root)
        self.report.map_heads = self.maps.heads
        if self.tree is not None:  # every node the tree has was checked: the rest is extra
            self._extra_nodes()
        last_signed = max(self.size, self._remaining_heads())
        for trusted in self.trusted:
            if trusted.size > self.size:
                self.found.add(
                    "checkpoint", trusted.size, "trusted checkpoint is larger than the tree"
                )
                last_signed = max(last_signed, trusted.size)
        if last_signed > self.size:  # a signed head proves they existed
            gone = last_signed - self.size
            self.found.add("deleted", self.size, "covered by a signed checkpoint", count=gone)
        if self.tree is not None and self.tree.to_bytes() != self.stored_range:
            self.found.add("state", self.size, "stored compact range differs from the tree's")
        self._check_disclosures()

    def _extra_nodes(self) -> None:
        """Stored nodes the recomputed tree does not have, at the levels read and above."""
        for level, stored in self.levels.items():
            while stored.key() != _END:
                self.found.add("node", stored.pop()[0] << level, _EXTRA_NODE, level=level)
        beyond = self.conn.execute(
            sa.select(ledger_nodes.c.level, ledger_nodes.c.idx)
            .where(ledger_nodes.c.level > max(self.levels))
            .order_by(ledger_nodes.c.level, ledger_nodes.c.idx)
            .limit(MAX_FINDINGS)
        )
        for level, node in beyond:
            self.found.add("node", node << level, _EXTRA_NODE, level=level)

    def _remaining_heads(self) -> int:
        """Check the checkpoints larger than the tree; the largest size signed (0 if none)."""
        last_signed = 0
        while self.heads.key() != _END:
            size, root, note = self.heads.pop()
            self.report.checkpoints += 1
            self._check_signature(size, bytes(root), note.encode())
            if self.tree is not None:
                self.found.add("checkpoint", size, "signed checkpoint is larger than the tree")
            last_signed = max(last_signed, size)
        return last_signed

    def _check_disclosures(self) -> None:
        """Every early disclosure must be named by a ``ledger.disclose`` record."""
        disclosures = sa.select(_disclosures.c.idx).order_by(_disclosures.c.idx)
        rows = self.conn.execute(
            disclosures.execution_options(stream_results=True, yield_per=_PAGE)
        )
        for (index,) in rows:
            if index not in self.disclosed:
                self.found.add(
                    "unrecorded_disclosure", index, "disclosed with no ledger.disclose record"
                )


def verify(
    conn: Connection,
    verifier: checkpoint.NoteVerifier | None = None,
    *,
    trusted: Sequence[checkpoint.Checkpoint] = (),
    covert_key: bytes | None = None,
) -> Report:
    """Audit the whole ledger on ``conn``; run it inside one transaction to read one snapshot.

    Checkpoint signatures are checked when ``verifier`` (the gateway's checkpoint key) is given.
    ``trusted`` are checkpoints obtained outside storage (already verified by the caller): the
    tree rebuilt from storage must reach each one's size with its root. With ``covert_key``
    (the ledger covert key), each covert lookup row's key is recomputed and checked.
    """
    return _Auditor(conn, verifier, trusted, covert_key).run()
