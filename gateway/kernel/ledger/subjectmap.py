"""The subject map: a compact sparse Merkle tree from subject pseudonym to that subject's chain.

Owns the maths of completeness (docs/ledger.md §12, "Completeness"; pure, no I/O):

* a subject's **value** (``Value``): how many entries name it, the index of the latest, and a
  hash chain over every one of them (``chain_step``), hashed as ``Value.hash``;
* the **map tree** over (key, value hash) pairs: a leaf "floats up" to the highest node where it
  is alone (``map_leaf``), two or more pairs make an inner node (``inner``); ``reference_root``
  is that definition written out, slow, for tests and independent verifiers;
* the **incremental update** (``update``) of a stored tree, found through a ``NodeSource``: a
  node reader (``NodeReader``, one call per depth touched, so storage answers with one query per
  level) or a mapping of every stored node (a store in memory, looked up as the update goes),
  that returns the new root and the nodes to write: keys are only ever added or changed, never
  removed, so a node position goes empty → leaf → inner and never back, and no stored node
  needs deleting;
* a **fold** (``fold``, ``Folded``): subject rows folded into the chains and the tree, as
  the values and nodes to write, the new root and key count, written nothing yet; a fold can
  go on from an earlier one not yet written (its nodes and values laid over the stored ones,
  ``overlay``), so the bulk of a checkpoint's fold can be computed before the sequencing lock
  and only the entries appended meanwhile under it (docs/ledger.md §12, "Cost");
* **map proofs** (``prove``, ``MapProof``, ``verify``) of membership or absence.

Nodes are addressed by ``NodePos`` = (depth, path): ``path`` is the key's first ``depth`` bits
(``prefix``), as whole bytes with the unused low bits zero.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gateway.kernel.encoding import EncodingError, b64decode, b64encode

__all__ = [
    "EMPTY",
    "KEY_BITS",
    "Folded",
    "MapNode",
    "MapProof",
    "MapProofError",
    "MemoryStore",
    "NodePos",
    "NodeReader",
    "NodeSource",
    "Value",
    "bit",
    "chain_step",
    "fold",
    "fold_chains",
    "inner",
    "is_key",
    "key_of",
    "map_leaf",
    "overlay",
    "prefix",
    "prove",
    "reference_root",
    "update",
    "verify",
]

EMPTY = bytes(32)
KEY_BITS = 256
_CHAIN, _VALUE, _LEAF, _INNER = b"\x12", b"\x13", b"\x10", b"\x11"
#: Depths read per call when walking a key's path for a proof.
_PROOF_WINDOW = 24

NodePos = tuple[int, bytes]


class MapProofError(ValueError):
    """A map proof is malformed or does not verify."""


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _be64(value: int) -> bytes:
    return value.to_bytes(8, "big")


_HEX = frozenset("0123456789abcdef")


def is_key(subject: str) -> bool:
    """Whether a record's subject can be a map key (64 lower-case hex characters): any other
    string is no citizen's pseudonym, and is left out of the map."""
    return len(subject) == 64 and _HEX.issuperset(subject)


def key_of(hex_key: str) -> bytes:
    """The 32-byte key of a pseudonym written as 64 lower-case hex characters."""
    if not isinstance(hex_key, str) or not is_key(hex_key):
        raise ValueError("a subject key is 64 lower-case hex characters")
    return bytes.fromhex(hex_key)


def bit(key: bytes, i: int) -> int:
    """Bit ``i`` of ``key``, most significant first."""
    return (key[i >> 3] >> (7 - (i & 7))) & 1


def prefix(key: bytes, depth: int) -> bytes:
    """The path of the depth-``depth`` node on ``key``'s path: its first ``depth`` bits."""
    path = bytearray(key[: (depth + 7) >> 3])
    if depth & 7:
        path[-1] &= (0xFF << (8 - (depth & 7))) & 0xFF
    return bytes(path)


def chain_step(chain: bytes, index: int, leaf_hash: bytes) -> bytes:
    """c_j = H(0x12 || c_{j-1} || be64(i_j) || leaf_hash(i_j))."""
    return _h(_CHAIN, chain, _be64(index), leaf_hash)


@dataclass(frozen=True, slots=True)
class Value:
    """A subject's entries up to a map head: their number, the latest index, their chain."""

    count: int
    latest: int
    chain: bytes

    def hash(self) -> bytes:
        """V = H(0x13 || be64(n) || be64(i_n) || c_n)."""
        return _h(_VALUE, _be64(self.count), _be64(self.latest), self.chain)

    def extend(self, index: int, leaf_hash: bytes) -> Value:
        """This value with the entry at ``index`` (after ``latest``) appended."""
        return Value(self.count + 1, index, chain_step(self.chain, index, leaf_hash))

    @staticmethod
    def first(index: int, leaf_hash: bytes) -> Value:
        return Value(1, index, chain_step(EMPTY, index, leaf_hash))


def fold_chains(
    values: Mapping[str, Value], rows: Iterable[tuple[str, int, bytes]]
) -> dict[str, Value]:
    """The values of the keys that ``rows`` (subject hex, index, leaf hash; in increasing index
    order) change, extending ``values`` (their values before, for those that had one).
    Subjects that are not keys (``is_key``) are skipped."""
    changed: dict[str, Value] = {}
    for subject, index, leaf in rows:
        if not is_key(subject):
            continue
        before = changed.get(subject) or values.get(subject)
        if before is not None and index <= before.latest:
            raise ValueError(f"subject rows out of order at index {index}")
        changed[subject] = (
            Value.first(index, leaf) if before is None else before.extend(index, leaf)
        )
    return changed


def map_leaf(key: bytes, value_hash: bytes) -> bytes:
    return _h(_LEAF, key, value_hash)


def inner(left: bytes, right: bytes) -> bytes:
    return _h(_INNER, left, right)


def reference_root(pairs: Mapping[bytes, bytes], depth: int = 0) -> bytes:
    """Root(S, d) exactly as specified (key → value hash), recursively: slow, for checking."""
    if not pairs:
        return EMPTY
    if len(pairs) == 1:
        ((key, value),) = pairs.items()
        return map_leaf(key, value)
    sides: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
    for key, value in pairs.items():
        sides[bit(key, depth)][key] = value
    return inner(reference_root(sides[0], depth + 1), reference_root(sides[1], depth + 1))


class MapNode(NamedTuple):
    """A stored node: its hash; a leaf also has its key and value hash (None for inner)."""

    hash: bytes
    key: bytes | None = None
    value: bytes | None = None


#: A mapping holding the stored nodes at the given positions, where a position that is missing
#: or None is empty; it may hold other positions too (a store in memory hands over its dict).
NodeReader = Callable[[Sequence[NodePos]], Mapping[NodePos, MapNode | None]]
#: Where an update finds the stored nodes: a reader (a store on disk, read one call per depth),
#: or a mapping of every stored node (a store in memory; missing or None: empty).
NodeSource = NodeReader | Mapping[NodePos, MapNode | None]


def _flip(path: bytes, bit_index: int) -> bytes:
    """``path`` with bit ``bit_index`` (its last one) inverted: the sibling's path."""
    flipped = bytearray(path)
    flipped[bit_index >> 3] ^= 1 << (7 - (bit_index & 7))
    return bytes(flipped)


# The update works on keys as integers, sorted once: the keys below a node are a contiguous
# range of that list, split between its children by one binary search, so an update costs per
# node it touches, not per key and depth. A node is then (depth, path as an integer).


def _pos(depth: int, path: int) -> NodePos:
    """The stored position of the node at ``depth`` whose path is the integer ``path``."""
    size = (depth + 7) >> 3
    return depth, (path << (size * 8 - depth)).to_bytes(size, "big")


def _split(keys: Sequence[int], lo: int, hi: int, depth: int, path: int) -> int:
    """Where the keys[lo:hi] below node (depth, path) with bit ``depth`` = 1 begin."""
    return bisect.bisect_left(keys, ((path << 1) | 1) << (KEY_BITS - 1 - depth), lo, hi)


class _Update:
    """One update: the recursion over the stored nodes it looks at, collecting the nodes to
    write. The nodes come from a mapping of the whole store (looked up as the recursion goes)
    or are read first through a ``NodeReader``, one call per depth (``_prefetch``)."""

    def __init__(self, source: NodeSource, changes: Mapping[bytes, bytes]) -> None:
        self.values = {int.from_bytes(k, "big"): v for k, v in changes.items()}
        self.keys = sorted(self.values)
        self.writes: dict[NodePos, MapNode] = {}
        self.stored = self._prefetch(source) if callable(source) else source

    def _prefetch(self, read: NodeReader) -> dict[NodePos, MapNode]:
        """Read the nodes on the changed keys' paths down to the first leaf or empty one, and
        those paths' siblings (whose subtrees do not change: only their hashes are needed)."""
        stored: dict[NodePos, MapNode] = {}
        groups = [(0, len(self.keys), 0)]  # (lo, hi, path) of the changed nodes at this depth
        paths = [0]  # the positions to read at this depth: the groups' and their siblings
        depth = 0
        while paths:
            positions = dict(zip(paths, (_pos(depth, path) for path in paths), strict=True))
            found = read(list(positions.values()))
            stored.update((at, node) for at in positions.values() if (node := found.get(at)))
            below: list[tuple[int, int, int]] = []
            paths = []
            for lo, hi, path in groups:
                node = stored.get(positions[path])
                if node is None or node.key is not None:
                    continue  # empty or a leaf: nothing is stored below it
                mid = _split(self.keys, lo, hi, depth, path)
                below += [
                    (a, b, c) for a, b, c in ((lo, mid, 2 * path), (mid, hi, 2 * path + 1)) if a < b
                ]
                paths += (2 * path, 2 * path + 1)
            groups = below
            depth += 1
        return stored

    def _kept(self, depth: int, path: int) -> bytes:
        kept = self.stored.get(_pos(depth, path))
        return kept.hash if kept is not None else EMPTY

    def subtree(self, depth: int, path: int, lo: int, hi: int) -> bytes:
        """The new hash of the stored node at (depth, path), keys[lo:hi] changing below it."""
        at = _pos(depth, path)
        node = self.stored.get(at)
        if node is None:
            return self.fresh(depth, path, lo, hi, None)
        if node.key is not None:  # a leaf: it and the changes make a new subtree
            key = int.from_bytes(node.key, "big")
            extra = None if key in self.values else (key, node.value or EMPTY)
            return self.fresh(depth, path, lo, hi, extra)
        mid, left = _split(self.keys, lo, hi, depth, path), 2 * path
        digest = inner(
            self.subtree(depth + 1, left, lo, mid) if lo < mid else self._kept(depth + 1, left),
            self.subtree(depth + 1, left + 1, mid, hi)
            if mid < hi
            else self._kept(depth + 1, left + 1),
        )
        self.writes[at] = MapNode(digest)
        return digest

    def fresh(
        self, depth: int, path: int, lo: int, hi: int, extra: tuple[int, bytes] | None
    ) -> bytes:
        """The hash of a subtree where nothing is stored yet, holding keys[lo:hi] and
        ``extra`` (a key and value hash moved down from a leaf)."""
        count = hi - lo + (extra is not None)
        if count == 0:
            return EMPTY
        if count == 1:
            key, value = extra if extra is not None else (self.keys[lo], self.values[self.keys[lo]])
            raw = key.to_bytes(KEY_BITS // 8, "big")
            digest = map_leaf(raw, value)
            self.writes[_pos(depth, path)] = MapNode(digest, raw, value)
            return digest
        mid = _split(self.keys, lo, hi, depth, path)
        sides: list[tuple[int, bytes] | None] = [None, None]
        if extra is not None:
            sides[(extra[0] >> (KEY_BITS - 1 - depth)) & 1] = extra
        digest = inner(
            self.fresh(depth + 1, 2 * path, lo, mid, sides[0]),
            self.fresh(depth + 1, 2 * path + 1, mid, hi, sides[1]),
        )
        self.writes[_pos(depth, path)] = MapNode(digest)
        return digest


def update(
    source: NodeSource, changes: Mapping[bytes, bytes], root: bytes | None = None
) -> tuple[bytes, dict[NodePos, MapNode]]:
    """Set ``changes`` (key → value hash) in the stored tree; the new root and the nodes to
    write (an upsert per position). ``root`` is the current root, returned as it is when
    nothing changes (None: read it)."""
    if not changes:
        if root is None:
            stored = source([(0, b"")]) if callable(source) else source
            found = stored.get((0, b""))
            root = found.hash if found is not None else EMPTY
        return root, {}
    for key in changes:
        if len(key) != KEY_BITS // 8:
            raise ValueError("a subject key is 32 bytes")
    work = _Update(source, changes)
    new_root = work.subtree(0, 0, 0, len(work.keys))
    return new_root, work.writes


class _Overlay(Mapping[NodePos, MapNode | None]):
    """Nodes ``top`` over the nodes ``below``, read-only: a position is looked up in ``top``
    first."""

    def __init__(
        self, top: Mapping[NodePos, MapNode], below: Mapping[NodePos, MapNode | None]
    ) -> None:
        self.top, self.below = top, below

    def __getitem__(self, at: NodePos) -> MapNode | None:
        return self.top[at] if at in self.top else self.below[at]

    def __iter__(self) -> Iterator[NodePos]:
        return iter(self.top.keys() | self.below.keys())

    def __len__(self) -> int:
        return len(self.top.keys() | self.below.keys())


def overlay(source: NodeSource, nodes: Mapping[NodePos, MapNode]) -> NodeSource:
    """``source`` with ``nodes`` (newer, not stored yet) over it: the stored tree as it will be
    once they are written."""
    if not nodes:
        return source
    if not callable(source):
        return _Overlay(nodes, source)
    read = source

    def reader(positions: Sequence[NodePos]) -> Mapping[NodePos, MapNode | None]:
        return _Overlay(nodes, read([at for at in positions if at not in nodes]))

    return reader


@dataclass(frozen=True)
class Folded:
    """A fold over a stored map, not written yet: the root and number of keys after it, and
    the values and nodes it changes (to write, an upsert each). ``Folded(root, keys)`` of the
    stored map is the fold of nothing."""

    root: bytes
    keys: int
    values: Mapping[str, Value] = field(default_factory=dict)
    nodes: Mapping[NodePos, MapNode] = field(default_factory=dict)


def fold(
    base: Folded,
    source: NodeSource,
    stored: Mapping[str, Value],
    rows: Iterable[tuple[str, int, bytes]],
) -> Folded:
    """``base`` with ``rows`` (subject hex, index, leaf hash; in increasing index order, after
    every row ``base`` folded) folded on top. ``source`` and ``stored`` are the stored map's
    nodes and the stored values of the rows' subjects (at least of those ``base`` did not
    change): ``base``'s are laid over them."""
    before = {**stored, **base.values}
    changed = fold_chains(before, rows)
    changes = {bytes.fromhex(k): v.hash() for k, v in changed.items()}  # keys: is_key
    root, nodes = update(overlay(source, base.nodes), changes, base.root)
    return Folded(
        root,
        base.keys + len(changed.keys() - before.keys()),
        {**base.values, **changed},
        {**base.nodes, **nodes},
    )


class MemoryStore:
    """A map's nodes in a dict: for verifiers that rebuild a map, and tests."""

    def __init__(self) -> None:
        self.nodes: dict[NodePos, MapNode] = {}
        self.root = EMPTY

    def read(self, positions: Sequence[NodePos]) -> Mapping[NodePos, MapNode]:
        return self.nodes

    def set(self, changes: Mapping[bytes, bytes]) -> bytes:
        """Apply ``changes`` (key → value hash) and return the new root."""
        self.root, writes = update(self.nodes, changes, self.root)
        self.nodes.update(writes)
        return self.root


@dataclass(frozen=True)
class MapProof:
    """The siblings along a key's path (from depth 1's down) and, for an absence proof ending at
    another key's leaf, that leaf's key and value hash."""

    siblings: tuple[bytes, ...]
    terminal: tuple[bytes, bytes] | None = None

    def to_json(self) -> dict[str, Any]:
        end = self.terminal
        return {
            "siblings": [b64encode(s) for s in self.siblings],
            "terminal": None if end is None else {"key": end[0].hex(), "value": b64encode(end[1])},
        }

    @classmethod
    def from_json(cls, data: Any) -> MapProof:
        """Parse the JSON form; ``MapProofError`` if malformed."""
        if not isinstance(data, Mapping) or set(data) != {"siblings", "terminal"}:
            raise MapProofError("a map proof is an object with siblings and terminal")
        siblings, end = data["siblings"], data["terminal"]
        if not isinstance(siblings, list) or len(siblings) > KEY_BITS:
            raise MapProofError(f"siblings must be a list of at most {KEY_BITS} hashes")
        terminal = None
        if end is not None:
            if not isinstance(end, Mapping) or set(end) != {"key", "value"}:
                raise MapProofError("terminal is null or an object with key and value")
            try:
                terminal = (key_of(end["key"]), _hash32(end["value"]))
            except (ValueError, TypeError):
                raise MapProofError("terminal key or value is malformed") from None
        return cls(tuple(_hash32(s) for s in siblings), terminal)


def _hash32(text: Any) -> bytes:
    try:
        raw = b64decode(text, canonical=True) if isinstance(text, str) else b""
    except EncodingError:
        raw = b""
    if len(raw) != 32:
        raise MapProofError("not a base64 32-byte hash")
    return raw


def prove(read: NodeReader, key: bytes) -> MapProof:
    """The proof of ``key``'s membership or absence in the stored tree (a read per 24 depths)."""
    siblings: list[bytes] = []
    cache: Mapping[NodePos, MapNode | None] = {}
    for depth in range(KEY_BITS + 1):
        if depth % _PROOF_WINDOW == 0:
            window = range(depth, min(depth + _PROOF_WINDOW, KEY_BITS + 1))
            wanted = [(d, prefix(key, d)) for d in window]
            wanted += [(d + 1, _flip(prefix(key, d + 1), d)) for d in window if d < KEY_BITS]
            cache = read(wanted)  # a window's depths look at that window's nodes only
        node = cache.get((depth, prefix(key, depth)))
        if node is None:
            return MapProof(tuple(siblings))
        if node.key is not None:
            if node.key == key:
                return MapProof(tuple(siblings))
            return MapProof(tuple(siblings), (node.key, node.value or EMPTY))
        other = cache.get((depth + 1, _flip(prefix(key, depth + 1), depth)))
        siblings.append(other.hash if other is not None else EMPTY)
    raise MapProofError("the stored map has no leaf or empty node on the key's path")


def verify(root: bytes, key: bytes, value_hash: bytes | None, proof: MapProof) -> None:
    """Check ``proof`` against ``root``: membership of ``key`` with ``value_hash``, or (None)
    its absence. Raises ``MapProofError`` if it does not verify."""
    m = len(proof.siblings)
    if len(key) != KEY_BITS // 8 or m > KEY_BITS:
        raise MapProofError("malformed key or proof")
    if value_hash is not None:
        if proof.terminal is not None:
            raise MapProofError("a membership proof has no terminal")
        node = map_leaf(key, value_hash)
    elif proof.terminal is None:
        node = EMPTY
    else:
        other, other_value = proof.terminal
        if other == key:
            raise MapProofError("an absence proof cannot end at the key itself")
        if prefix(other, m) != prefix(key, m):
            raise MapProofError("the terminal leaf is not on the key's path")
        node = map_leaf(other, other_value)
    for j in range(m - 1, -1, -1):
        sibling = proof.siblings[j]
        node = inner(node, sibling) if bit(key, j) == 0 else inner(sibling, node)
    if node != root:
        raise MapProofError("the map proof does not lead to the map root")
