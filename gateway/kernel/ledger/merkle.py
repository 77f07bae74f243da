"""RFC 9162 Merkle tree hashing, proof generation and proof verification (pure, no I/O).

This module owns the *maths* of the audit ledger's Merkle log (RFC 9162 §2.1, SHA-256):

* hashing: ``leaf_hash`` = H(0x00 || d), ``node_hash`` = H(0x01 || l || r), ``EMPTY_ROOT`` = H("");
* the storage model: the only hashes a log needs to keep are those of *perfect* subtrees, addressed
  by ``NodeId`` = (level, index), where (0, i) is the hash of leaf i and (level, i) covers leaves
  [i * 2**level, (i + 1) * 2**level).  Every other tree node (those on the right border of a tree
  whose size is not a power of two) is *ephemeral* and is recomputed from perfect ones;
* proof planning: ``inclusion_proof_nodes`` / ``consistency_proof_nodes`` say which leaf ranges
  a proof contains and which stored perfect subtrees each one is built from;
* proof generation through a storage-agnostic *node reader* (``NodeReader``): ``inclusion_proof``,
  ``consistency_proof`` and ``root`` make exactly one batched read of O(log n) hashes, so a
  database layer can answer with a single query;
* appending: ``CompactRange`` keeps the O(log n) frontier of [0, size), reports every new perfect
  node an append creates (for the store to persist) and serialises into one small row;
* verification: ``verify_inclusion`` (§2.1.3.2) and ``verify_consistency`` (§2.1.4.2), which raise
  ``ProofError`` on failure.

Persistence and locking belong to ``gateway.storage.ledger`` (driver and sequencer) and the leaf
format to ``record``, not here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleError",
    "MissingNodeError",
    "NodeId",
    "NodeReader",
    "NodeRef",
    "ProofError",
    "consistency_proof",
    "consistency_proof_nodes",
    "inclusion_proof",
    "inclusion_proof_nodes",
    "leaf_hash",
    "node_hash",
    "node_range",
    "perfect_subtrees",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

NodeId = tuple[int, int]
"""(level, index) of a perfect subtree: it covers leaves [index << level, (index + 1) << level)."""

NodeReader = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Batched lookup of stored perfect-subtree hashes; called once per proof or root."""


class MerkleError(Exception):
    """Base class for Merkle tree errors."""


class ProofError(MerkleError):
    """A proof failed verification or was malformed."""


class MissingNodeError(MerkleError, LookupError):
    """The node reader did not return a hash that the computation needs."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def node_range(node: NodeId) -> tuple[int, int]:
    """The leaf range [begin, end) covered by a perfect subtree."""
    level, index = node
    return index << level, (index + 1) << level


def perfect_subtrees(begin: int, end: int) -> list[NodeId]:
    """Decompose [begin, end) into the fewest perfect subtrees, left to right.

    This is the "compact range" of the interval: at most 2 * log2(end - begin) nodes, sizes first
    increasing then decreasing.  For [0, size) it is one node per set bit of ``size``, largest
    first.
    """
    if not 0 <= begin <= end:
        raise ValueError(f"invalid range [{begin}, {end})")
    nodes: list[NodeId] = []
    while begin < end:
        # Largest block that starts aligned at `begin` and still fits before `end`.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def _largest_power_of_two_below(n: int) -> int:
    """RFC 9162's k: the largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True)
class NodeRef:
    """One proof element: the RFC 9162 subtree hash MTH(D[begin:end]).

    ``nodes`` lists the stored perfect subtrees it is built from, left to right.  A single node
    means the element is itself stored; several mean it is an ephemeral right-border node.
    """

    begin: int
    end: int
    nodes: tuple[NodeId, ...]

    @classmethod
    def for_range(cls, begin: int, end: int) -> NodeRef:
        """Reference the RFC tree node covering [begin, end).

        Every node of an RFC 9162 tree starts at a multiple of a power of two that is at least
        its width, so its perfect decomposition has strictly decreasing sizes and its hash is the
        right fold of those subtrees.
        """
        nodes = tuple(perfect_subtrees(begin, end))
        if not nodes or any(a[0] <= b[0] for a, b in pairwise(nodes)):
            raise ValueError(f"[{begin}, {end}) is not a node of an RFC 9162 tree")
        return cls(begin, end, nodes)

    @property
    def ephemeral(self) -> bool:
        """True if the hash is not stored and must be composed from several perfect subtrees."""
        return len(self.nodes) > 1

    def hash(self, hashes: Mapping[NodeId, bytes]) -> bytes:
        """Compute MTH(D[begin:end]) from the hashes of ``nodes``."""
        acc = _lookup(hashes, self.nodes[-1])
        for node in reversed(self.nodes[:-1]):
            acc = node_hash(_lookup(hashes, node), acc)
        return acc


def _lookup(hashes: Mapping[NodeId, bytes], node: NodeId) -> bytes:
    try:
        value = hashes[node]
    except KeyError:
        raise MissingNodeError(f"node reader did not return node {node}") from None
    if len(value) != HASH_SIZE:
        raise MissingNodeError(f"node {node} has {len(value)} bytes, want {HASH_SIZE}")
    return value


def inclusion_proof_nodes(index: int, size: int) -> list[NodeRef]:
    """Plan the RFC 9162 inclusion proof PATH(index, D[size]), ordered leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[NodeRef] = []
    begin, end = 0, size
    # Walk down from the root as the RFC recursion does; the sibling at each split is a proof item.
    while end - begin > 1:
        split = begin + _largest_power_of_two_below(end - begin)
        if index < split:
            siblings.append(NodeRef.for_range(split, end))
            end = split
        else:
            siblings.append(NodeRef.for_range(begin, split))
            begin = split
    siblings.reverse()
    return siblings


def consistency_proof_nodes(old_size: int, new_size: int) -> list[NodeRef]:
    """Plan the RFC 9162 consistency proof PROOF(old_size, D[new_size]), ordered bottom-up.

    Empty when there is nothing to prove (``old_size`` is 0 or equal to ``new_size``).
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove consistency from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    siblings: list[NodeRef] = []
    begin, end = 0, new_size
    # `whole` is SUBPROOF's flag: true while the current subtree is a prefix of the whole tree,
    # whose hash the verifier already knows as the old root.
    whole = True
    while old_size != end:
        split = begin + _largest_power_of_two_below(end - begin)
        if old_size <= split:
            siblings.append(NodeRef.for_range(split, end))
            end = split
        else:
            siblings.append(NodeRef.for_range(begin, split))
            begin = split
            whole = False
    siblings.reverse()
    if not whole:
        siblings.insert(0, NodeRef.for_range(begin, end))
    return siblings


def _read(refs: Sequence[NodeRef], get: NodeReader) -> list[bytes]:
    """Fetch every perfect subtree the refs need in one call and compute their hashes."""
    wanted = sorted({node for ref in refs for node in ref.nodes})
    hashes = get(wanted) if wanted else {}
    return [ref.hash(hashes) for ref in refs]


def inclusion_proof(index: int, size: int, get: NodeReader) -> list[bytes]:
    """Build the inclusion proof of leaf ``index`` in the tree of ``size`` with one read."""
    return _read(inclusion_proof_nodes(index, size), get)


def consistency_proof(old_size: int, new_size: int, get: NodeReader) -> list[bytes]:
    """Build the consistency proof from ``old_size`` to ``new_size`` with one read."""
    return _read(consistency_proof_nodes(old_size, new_size), get)


def root(size: int, get: NodeReader) -> bytes:
    """Compute the root hash MTH(D[size]) with one read of popcount(size) stored hashes."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    if size == 0:
        return EMPTY_ROOT
    return _read([NodeRef.for_range(0, size)], get)[0]


@dataclass
class CompactRange:
    """The Merkle frontier of [0, size): one perfect-subtree hash per set bit of ``size``.

    ``hashes`` are ordered left to right (largest subtree first), matching
    ``perfect_subtrees(0, size)``.  This is all a writer needs to append leaves and compute roots.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"negative tree size {self.size}")
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"size {self.size} needs {self.size.bit_count()} hashes, got {len(self.hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in self.hashes):
            raise ValueError(f"compact range hashes must be {HASH_SIZE} bytes")

    @classmethod
    def from_reader(cls, size: int, get: NodeReader) -> CompactRange:
        """Rebuild the frontier from the node store with one read (e.g. to cross-check a row)."""
        nodes = perfect_subtrees(0, size)
        hashes = get(sorted(nodes)) if nodes else {}
        return cls(size, [_lookup(hashes, node) for node in nodes])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; return every perfect node it completes as (level, index, hash).

        The first item is the leaf itself at level 0; each following one is its parent, created
        because the leaf completed a perfect subtree of twice the size.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        level, index, acc = 0, self.size, leaf
        created = [(level, index, acc)]
        # Each trailing 1-bit of the old size is a left sibling waiting for this right subtree.
        while index & 1:
            acc = node_hash(self.hashes.pop(), acc)
            level, index = level + 1, index >> 1
            created.append((level, index, acc))
        self.hashes.append(acc)
        self.size += 1
        return created

    def root(self) -> bytes:
        """The RFC 9162 root hash MTH(D[size])."""
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def frontier(self) -> list[tuple[int, int, bytes]]:
        """The stored nodes this range holds, as (level, index, hash), left to right."""
        return [
            (level, index, h)
            for (level, index), h in zip(perfect_subtrees(0, self.size), self.hashes, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form: {"size": n, "hashes": [hex, ...]}."""
        return {"size": self.size, "hashes": [h.hex() for h in self.hashes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompactRange:
        """Inverse of ``to_dict``; raises ValueError on malformed input."""
        size, hashes = data.get("size"), data.get("hashes")
        if type(size) is not int or not isinstance(hashes, list):
            raise ValueError("compact range needs an integer 'size' and a list 'hashes'")
        if not all(isinstance(h, str) for h in hashes):
            raise ValueError("compact range hashes must be hex strings")
        return cls(size, [bytes.fromhex(h) for h in hashes])

    def to_bytes(self) -> bytes:
        """Binary form: 8-byte big-endian size followed by the 32-byte hashes."""
        return self.size.to_bytes(8, "big") + b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        """Inverse of ``to_bytes``; raises ValueError on malformed input."""
        if len(data) < 8 or (len(data) - 8) % HASH_SIZE:
            raise ValueError(f"malformed compact range of {len(data)} bytes")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        return cls(size, [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)])


def _check_hashes(**named: bytes) -> None:
    for name, value in named.items():
        if len(value) != HASH_SIZE:
            raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_path(path: Sequence[bytes]) -> None:
    for i, h in enumerate(path):
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof element {i} must be {HASH_SIZE} bytes, got {len(h)}")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Verify an inclusion proof per RFC 9162 §2.1.3.2; raise ProofError if it fails.

    ``leaf`` is the leaf *hash* (see ``leaf_hash``), not the leaf data.
    """
    _check_hashes(leaf_hash=leaf, root_hash=root_hash)
    _check_path(proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip the levels where this node is the right-border node with no sibling.
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root_hash:
        raise ProofError("inclusion proof does not lead to the expected root hash")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Verify a consistency proof per RFC 9162 §2.1.4.2; raise ProofError if it fails.

    The trivial cases the RFC algorithm leaves out are accepted only with an empty proof: equal
    sizes with equal roots, and the empty tree (whose root must be ``EMPTY_ROOT``).
    """
    _check_hashes(old_root=old_root, new_root=new_root)
    _check_path(proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"cannot prove consistency from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        _check_trivial_consistency(old_size, new_size, proof, old_root, new_root)
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    fr, sr = _consistency_roots(old_size, new_size, proof, old_root)
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root hash")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root hash")


def _check_trivial_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """The cases with nothing to prove: from the empty tree, or between equal sizes."""
    if proof:
        raise ProofError("consistency proof must be empty when there is nothing to prove")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise ProofError("old root is not the empty tree's root")
    if old_size == new_size and old_root != new_root:
        raise ProofError("trees of equal size have different roots")


def _consistency_roots(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes
) -> tuple[bytes, bytes]:
    """The old and new roots a non-empty proof leads to, 0 < old_size < new_size (RFC 9162
    §2.1.4.2 steps 1-6); raise ProofError if the proof is too long or too short."""
    path = list(proof)
    # A power-of-two old tree is a node of the new tree, so the prover omits its known hash.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    return fr, sr
