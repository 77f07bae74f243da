"""Tests for kernel.ledger.merkle against RFC 9162's recursive definitions and CT vectors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.kernel.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MissingNodeError,
    NodeId,
    NodeRef,
    ProofError,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    node_range,
    perfect_subtrees,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- Reference implementation, transcribed from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 --------


def ref_k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n])."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = ref_k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n."""
    return ref_subproof(m, d, True)


# --- Fixtures: a node store filled by CompactRange, and a reader that polices its callers ------

MAX_N = 70
DATA = [f"enlace leaf {i}".encode() for i in range(MAX_N)]


def build_store(data: Sequence[bytes]) -> dict[NodeId, bytes]:
    store: dict[NodeId, bytes] = {}
    cr = CompactRange()
    for d in data:
        for level, index, h in cr.append(leaf_hash(d)):
            assert (level, index) not in store
            store[(level, index)] = h
    return store


STORE = build_store(DATA)


class Reader:
    """A node reader over a store that only lets the caller see a tree of ``size`` leaves."""

    def __init__(self, store: Mapping[NodeId, bytes], size: int) -> None:
        self.store, self.size = store, size
        self.calls: list[list[NodeId]] = []

    def __call__(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        ids = list(ids)
        self.calls.append(ids)
        assert ids == sorted(set(ids)), "ids must be sorted and unique"
        for node in ids:
            assert node_range(node)[1] <= self.size, f"{node} reaches beyond size {self.size}"
        return {node: self.store[node] for node in ids}


Args = tuple[Any, ...]


def flip(h: bytes, byte: int = 0) -> bytes:
    return h[:byte] + bytes([h[byte] ^ 0x10]) + h[byte + 1 :]


# --- Known vectors -------------------------------------------------------------------------

# RFC 6962 test leaves and roots per size, as in certificate-transparency-go and
# transparency-dev/merkle (proof/verify_test.go).
CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243",
             "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (index, size, proof) from the same suite (which numbers leaves from 1).
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CT_CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip

CT_STORE = build_store(CT_LEAVES)


def test_empty_tree_and_empty_leaf_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert CompactRange().root() == EMPTY_ROOT
    assert root(0, Reader({}, 0)) == EMPTY_ROOT
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_ct_roots_per_size() -> None:
    cr = CompactRange()
    for n, want in enumerate(CT_ROOTS, start=1):
        cr.append(leaf_hash(CT_LEAVES[n - 1]))
        assert ref_mth(CT_LEAVES[:n]).hex() == want
        assert cr.root().hex() == want
        assert root(n, Reader(CT_STORE, n)).hex() == want


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_ct_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    got = inclusion_proof(index, size, Reader(CT_STORE, size))
    assert [h.hex() for h in got] == proof
    verify_inclusion(
        leaf_hash(CT_LEAVES[index]), index, size, got, bytes.fromhex(CT_ROOTS[size - 1])
    )


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_ct_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    got = consistency_proof(old, new, Reader(CT_STORE, new))
    assert [h.hex() for h in got] == proof
    verify_consistency(
        old, new, got, bytes.fromhex(CT_ROOTS[old - 1]), bytes.fromhex(CT_ROOTS[new - 1])
    )


# --- Exhaustive agreement with the reference for every size up to MAX_N -----------------------


def inclusion_forgeries(
    leaf: bytes, index: int, size: int, proof: list[bytes], root_hash: bytes
) -> list[tuple[str, Args]]:
    # No "size + 1": when the path shape is unchanged the same hashes verify, which is inherent in
    # RFC 9162 (the signed checkpoint, not the proof, binds the size to the root).
    cases: list[tuple[str, Args]] = [
        ("index + 1", (leaf, index + 1, size, proof, root_hash)),
        ("index ^ 1", (leaf, index ^ 1, size, proof, root_hash)),
        ("size * 2", (leaf, index, size * 2, proof, root_hash)),
        ("flipped leaf", (flip(leaf), index, size, proof, root_hash)),
        ("flipped root", (leaf, index, size, proof, flip(root_hash, 31))),
        ("extended", (leaf, index, size, [*proof, root_hash], root_hash)),
        ("prepended", (leaf, index, size, [root_hash, *proof], root_hash)),
    ]
    if index > 0:
        cases.append(("index - 1", (leaf, index - 1, size, proof, root_hash)))
    if size // 2 > index:
        cases.append(("size // 2", (leaf, index, size // 2, proof, root_hash)))
    for i in range(len(proof)):
        forged = [*proof]
        forged[i] = flip(forged[i], i % 32)
        cases.append((f"flipped proof[{i}]", (leaf, index, size, forged, root_hash)))
    if proof:
        cases.append(("truncated", (leaf, index, size, proof[:-1], root_hash)))
    return cases


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_inclusion_proofs_match_reference_and_verify(n: int) -> None:
    expected_root = ref_mth(DATA[:n])
    assert root(n, Reader(STORE, n)) == expected_root
    for index in range(n):
        reader = Reader(STORE, n)
        proof = inclusion_proof(index, n, reader)
        assert len(reader.calls) == (1 if n > 1 else 0)
        assert proof == ref_path(index, DATA[:n])
        leaf = leaf_hash(DATA[index])
        verify_inclusion(leaf, index, n, proof, expected_root)
        for name, args in inclusion_forgeries(leaf, index, n, proof, expected_root):
            with pytest.raises(ProofError):
                verify_inclusion(*args)
                pytest.fail(f"forgery accepted: {name}")


def consistency_forgeries(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> list[tuple[str, Args]]:
    cases: list[tuple[str, Args]] = [
        ("old - 1", (old - 1, new, proof, old_root, new_root)),
        ("new * 2", (old, new * 2, proof, old_root, new_root)),
        ("flipped old root", (old, new, proof, flip(old_root), new_root)),
        ("flipped new root", (old, new, proof, old_root, flip(new_root, 31))),
        ("swapped roots", (old, new, proof, new_root, old_root)),
        ("empty proof", (old, new, [], old_root, new_root)),
        ("extended", (old, new, [*proof, new_root], old_root, new_root)),
        ("prepended", (old, new, [old_root, *proof], old_root, new_root)),
        ("truncated", (old, new, proof[:-1], old_root, new_root)),
    ]
    if old + 1 < new:
        cases.append(("old + 1", (old + 1, new, proof, old_root, new_root)))
    for i in range(len(proof)):
        forged = [*proof]
        forged[i] = flip(forged[i], i % 32)
        cases.append((f"flipped proof[{i}]", (old, new, forged, old_root, new_root)))
    return cases


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_consistency_proofs_match_reference_and_verify(n: int) -> None:
    new_root = ref_mth(DATA[:n])
    for old in range(1, n + 1):
        reader = Reader(STORE, n)
        proof = consistency_proof(old, n, reader)
        old_root = ref_mth(DATA[:old])
        if old == n:
            assert proof == [] and reader.calls == []
            verify_consistency(old, n, proof, old_root, new_root)
            continue
        assert len(reader.calls) == 1
        assert proof == ref_proof(old, DATA[:n])
        verify_consistency(old, n, proof, old_root, new_root)
        for name, args in consistency_forgeries(old, n, proof, old_root, new_root):
            with pytest.raises(ProofError):
                verify_consistency(*args)
                pytest.fail(f"forgery accepted: {name}")


# --- Verifier edge cases -------------------------------------------------------------------


def test_inclusion_rejects_bad_arguments() -> None:
    h = leaf_hash(b"x")
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(h, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(h, 1, 1, [], h)
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(h, -1, 1, [], h)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(b"short", 0, 1, [], h)
    with pytest.raises(ProofError, match="proof element 0"):
        verify_inclusion(h, 0, 2, [b""], h)
    verify_inclusion(h, 0, 1, [], h)  # a single-leaf tree's root is its leaf hash


def test_consistency_trivial_cases() -> None:
    r1, r2 = ref_mth(DATA[:1]), ref_mth(DATA[:2])
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, r2)
    verify_consistency(2, 2, [], r2, r2)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 2, [], r1, r2)
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(2, 2, [], r1, r2)
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(2, 2, [r2], r2, r2)
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 2, [r2], EMPTY_ROOT, r2)
    with pytest.raises(ProofError, match="cannot prove"):
        verify_consistency(2, 1, [r1], r2, r1)
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(1, 2, [], r1, r2)


def test_generators_reject_bad_arguments() -> None:
    reader = Reader(STORE, MAX_N)
    with pytest.raises(ValueError):
        inclusion_proof(3, 3, reader)
    with pytest.raises(ValueError):
        inclusion_proof(0, 0, reader)
    with pytest.raises(ValueError):
        consistency_proof(4, 3, reader)
    with pytest.raises(ValueError):
        root(-1, reader)
    assert consistency_proof(0, 9, reader) == []
    assert reader.calls == []


def test_missing_or_bad_node_from_reader() -> None:
    with pytest.raises(MissingNodeError, match=r"\(0, 1\)"):
        inclusion_proof(0, 2, lambda ids: {})
    with pytest.raises(MissingNodeError, match="bytes"):
        root(1, lambda ids: {(0, 0): b"short"})


# --- Node planning ---------------------------------------------------------------------------


def test_perfect_subtrees() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_subtrees(3, 13) == [(0, 3), (2, 1), (2, 2), (0, 12)]
    for begin in range(0, 40):
        for end in range(begin, 80):
            nodes = perfect_subtrees(begin, end)
            covered = [i for node in nodes for i in range(*node_range(node))]
            assert covered == list(range(begin, end))
    with pytest.raises(ValueError):
        perfect_subtrees(5, 4)


def test_node_refs_mark_ephemeral_right_border_nodes() -> None:
    # Leaf 0 of 7: siblings are leaf 1, [2, 4) and the ephemeral right half [4, 7).
    refs = inclusion_proof_nodes(0, 7)
    assert [(r.begin, r.end) for r in refs] == [(1, 2), (2, 4), (4, 7)]
    assert [r.ephemeral for r in refs] == [False, False, True]
    assert refs[2].nodes == ((1, 2), (0, 6))
    assert consistency_proof_nodes(3, 7) == [
        NodeRef(2, 3, ((0, 2),)),
        NodeRef(3, 4, ((0, 3),)),
        NodeRef(0, 2, ((1, 0),)),
        NodeRef(4, 7, ((1, 2), (0, 6))),
    ]
    with pytest.raises(ValueError, match="not a node"):
        NodeRef.for_range(1, 3)


# --- CompactRange ----------------------------------------------------------------------------


def test_compact_range_roots_and_emitted_nodes() -> None:
    cr = CompactRange()
    emitted: dict[NodeId, bytes] = {}
    for n in range(1, MAX_N + 1):
        for level, index, h in cr.append(leaf_hash(DATA[n - 1])):
            emitted[(level, index)] = h
        assert cr.size == n
        assert cr.root() == ref_mth(DATA[:n])
        # Exactly the perfect subtrees that lie inside [0, n), each with its MTH.
        perfect = {(lv, i) for lv in range(n.bit_length()) for i in range(n >> lv)}
        assert set(emitted) == perfect
        for node, h in emitted.items():
            assert h == ref_mth(DATA[slice(*node_range(node))])
        assert [(lv, i) for lv, i, _ in cr.frontier()] == perfect_subtrees(0, n)
        assert CompactRange.from_reader(n, Reader(STORE, n)) == cr


def test_compact_range_append_reports_completed_parents() -> None:
    cr = CompactRange()
    for d in DATA[:7]:
        cr.append(leaf_hash(d))
    created = cr.append(leaf_hash(DATA[7]))
    assert [(lv, i) for lv, i, _ in created] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert cr.hashes == [created[-1][2]]


def test_compact_range_serialisation_round_trip() -> None:
    cr = CompactRange()
    for size in range(0, 40):
        assert CompactRange.from_bytes(cr.to_bytes()) == cr
        assert CompactRange.from_dict(json.loads(json.dumps(cr.to_dict()))) == cr
        assert len(cr.to_bytes()) == 8 + 32 * size.bit_count()
        cr.append(leaf_hash(DATA[size]))


def test_compact_range_rejects_malformed_state() -> None:
    h = leaf_hash(b"x")
    with pytest.raises(ValueError):
        CompactRange(3, [h])  # size 3 needs two hashes
    with pytest.raises(ValueError):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError):
        CompactRange(-1, [])
    with pytest.raises(ValueError):
        CompactRange.from_bytes(b"\x00" * 7)
    with pytest.raises(ValueError):
        CompactRange.from_bytes((1).to_bytes(8, "big") + h + b"x")
    with pytest.raises(ValueError):
        CompactRange.from_dict({"size": "1", "hashes": [h.hex()]})
    with pytest.raises(ValueError):
        CompactRange.from_dict({"size": 1, "hashes": ["zz"]})
    with pytest.raises(ValueError):
        CompactRange().append(b"short")


# --- Property tests --------------------------------------------------------------------------


class PseudoHashes(dict[NodeId, bytes]):
    """Deterministic stand-in hashes for every node of a huge tree, computed on demand."""

    def __missing__(self, node: NodeId) -> bytes:
        return hashlib.sha256(repr(node).encode()).digest()


def ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fetch_count_is_logarithmic(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=10**6), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    old = data.draw(st.integers(min_value=1, max_value=size), label="old")
    bound = 2 * ceil_log2(size)

    reader = Reader(PseudoHashes(), size)
    proof = inclusion_proof(index, size, reader)
    assert len(reader.calls) == (1 if size > 1 else 0)
    assert sum(map(len, reader.calls)) <= bound
    # Known closed form of an RFC 9162 inclusion path length (also used by Trillian/sigstore).
    inner = (index ^ (size - 1)).bit_length()
    assert len(proof) == inner + (index >> inner).bit_count()

    reader = Reader(PseudoHashes(), size)
    proof = consistency_proof(old, size, reader)
    assert len(reader.calls) == (0 if old == size else 1)
    assert sum(map(len, reader.calls)) <= bound
    assert len(proof) <= ceil_log2(size) + 1

    reader = Reader(PseudoHashes(), size)
    root(size, reader)
    assert reader.calls == [sorted(perfect_subtrees(0, size))]


BIG_N = 3000
BIG_DATA = [i.to_bytes(4, "big") for i in range(BIG_N)]
BIG_STORE = build_store(BIG_DATA)


def roots_per_size(data: Sequence[bytes]) -> list[bytes]:
    cr = CompactRange()
    roots = [cr.root()]
    for d in data:
        cr.append(leaf_hash(d))
        roots.append(cr.root())
    return roots


BIG_ROOTS = roots_per_size(BIG_DATA)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_proofs_in_a_larger_tree_verify(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=BIG_N), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    old = data.draw(st.integers(min_value=0, max_value=size), label="old")
    reader = Reader(BIG_STORE, size)
    assert root(size, reader) == BIG_ROOTS[size]
    proof = inclusion_proof(index, size, reader)
    verify_inclusion(leaf_hash(BIG_DATA[index]), index, size, proof, BIG_ROOTS[size])
    proof = consistency_proof(old, size, reader)
    verify_consistency(old, size, proof, BIG_ROOTS[old], BIG_ROOTS[size])
