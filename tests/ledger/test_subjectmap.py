"""The subject map's pure core: the incremental tree against the specification's Root(S, d),
membership and both kinds of absence proven, tampered proofs refused."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.kernel.ledger import subjectmap as sm


def _key(n: int) -> bytes:
    return hashlib.sha256(b"subject %d" % n).digest()


def _value(n: int) -> bytes:
    return sm.Value.first(n, hashlib.sha256(b"leaf %d" % n).digest()).hash()


def _applied(batches: list[dict[bytes, bytes]]) -> tuple[sm.MemoryStore, dict[bytes, bytes]]:
    store, pairs = sm.MemoryStore(), {}
    for batch in batches:
        # Read a depth at a time (a store on disk: only the positions asked for), the update
        # is the one that looks nodes up in memory as it goes.
        def read(positions):  # type: ignore[no-untyped-def]
            return {p: store.nodes[p] for p in positions if p in store.nodes}

        assert sm.update(read, batch, store.root) == sm.update(store.nodes, batch, store.root)
        store.set(batch)
        pairs.update(batch)
    return store, pairs


def _reference_nodes(pairs: dict[bytes, bytes], depth: int, path: bytes) -> dict:
    if not pairs:
        return {}
    if len(pairs) == 1:
        ((key, value),) = pairs.items()
        return {(depth, path): sm.MapNode(sm.map_leaf(key, value), key, value)}
    sides: tuple[dict, dict] = ({}, {})
    for key, value in pairs.items():
        sides[sm.bit(key, depth)][key] = value
    nodes = {(depth, path): sm.MapNode(sm.reference_root(pairs, depth))}
    for side in (0, 1):
        child = next(iter(sides[side]), None)
        if child is not None:
            nodes.update(_reference_nodes(sides[side], depth + 1, sm.prefix(child, depth + 1)))
    return nodes


def test_bits_and_prefixes() -> None:
    key = bytes([0b10110000]) + bytes(31)
    assert [sm.bit(key, i) for i in range(5)] == [1, 0, 1, 1, 0]
    assert sm.prefix(key, 0) == b""
    assert sm.prefix(key, 3) == bytes([0b10100000])
    assert sm.prefix(key, 8) == bytes([0b10110000])
    assert sm.prefix(bytes([0xFF, 0xFF]) + bytes(30), 9) == bytes([0xFF, 0x80])


def test_value_and_chain_follow_the_spec() -> None:
    leaf = bytes(range(32))
    chain = hashlib.sha256(b"\x12" + bytes(32) + (5).to_bytes(8, "big") + leaf).digest()
    assert sm.chain_step(sm.EMPTY, 5, leaf) == chain
    value = sm.Value.first(5, leaf)
    assert value == sm.Value(1, 5, chain)
    assert (
        value.hash()
        == hashlib.sha256(
            b"\x13" + (1).to_bytes(8, "big") + (5).to_bytes(8, "big") + chain
        ).digest()
    )
    second = value.extend(9, leaf)
    assert second == sm.Value(2, 9, sm.chain_step(chain, 9, leaf))


def test_empty_and_single() -> None:
    store = sm.MemoryStore()
    assert store.set({}) == sm.EMPTY
    key, value = _key(1), _value(1)
    assert store.set({key: value}) == sm.map_leaf(key, value)
    proof = sm.prove(store.read, key)
    assert proof == sm.MapProof(())
    sm.verify(store.root, key, value, proof)
    assert sm.prove(sm.MemoryStore().read, key) == sm.MapProof(())
    sm.verify(sm.EMPTY, key, None, sm.MapProof(()))


@pytest.mark.parametrize("seed", range(8))
def test_incremental_matches_reference_on_random_sets(seed: int) -> None:
    rng = random.Random(seed)
    batches = []
    known: list[int] = []
    for _ in range(rng.randint(1, 12)):
        batch = {}
        for _ in range(rng.randint(0, 40)):
            n = rng.choice(known) if known and rng.random() < 0.3 else rng.randrange(10**9)
            known.append(n)
            batch[_key(n)] = _value(rng.randrange(10**6))
        batches.append(batch)
    store, pairs = _applied(batches)
    assert store.root == sm.reference_root(pairs)
    # Exactly the non-empty nodes of Root(S, 0) are stored, none left over from earlier trees.
    assert store.nodes == _reference_nodes(pairs, 0, b"")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32)),
        max_size=5,
    )
)
def test_incremental_matches_reference_hypothesis(batches: list[dict[bytes, bytes]]) -> None:
    store, pairs = _applied(batches)
    assert store.root == sm.reference_root(pairs)
    for key, value in pairs.items():
        sm.verify(store.root, key, value, sm.prove(store.read, key))


def test_keys_sharing_a_long_prefix() -> None:
    a = bytes(31) + b"\x00"
    b = bytes(31) + b"\x01"  # they differ at bit 255 only
    store, pairs = _applied([{a: _value(1)}, {b: _value(2)}])
    assert store.root == sm.reference_root(pairs)
    proof = sm.prove(store.read, b)
    assert len(proof.siblings) == 256
    sm.verify(store.root, b, _value(2), proof)


def test_membership_and_both_kinds_of_absence() -> None:
    rng = random.Random(7)
    pairs = {_key(n): _value(n) for n in rng.sample(range(10**6), 200)}
    store, _ = _applied([pairs])
    for key, value in list(pairs.items())[:50]:
        proof = sm.prove(store.read, key)
        assert proof.terminal is None
        sm.verify(store.root, key, value, proof)
        with pytest.raises(sm.MapProofError):
            sm.verify(store.root, key, _value(10**7), proof)
        with pytest.raises(sm.MapProofError):
            sm.verify(store.root, key, None, proof)
    kinds = set()
    for n in range(10**7, 10**7 + 200):
        key = _key(n)
        proof = sm.prove(store.read, key)
        kinds.add(proof.terminal is None)
        sm.verify(store.root, key, None, proof)
        with pytest.raises(sm.MapProofError):
            sm.verify(store.root, key, _value(1), proof)
        assert sm.MapProof.from_json(proof.to_json()) == proof
    assert kinds == {True, False}  # empty nodes and other keys' leaves both ended a proof


def test_tampered_proofs_are_refused() -> None:
    pairs = {_key(n): _value(n) for n in range(64)}
    store, _ = _applied([pairs])
    key = _key(3)
    proof = sm.prove(store.read, key)
    sm.verify(store.root, key, pairs[key], proof)
    flipped = bytearray(proof.siblings[0])
    flipped[0] ^= 1
    tampered = [
        sm.MapProof((bytes(flipped), *proof.siblings[1:])),
        sm.MapProof(proof.siblings[:-1]),
        sm.MapProof((*proof.siblings, sm.EMPTY)),
        sm.MapProof(proof.siblings, (_key(4), pairs[_key(4)])),
    ]
    for bad in tampered:
        with pytest.raises(sm.MapProofError):
            sm.verify(store.root, key, pairs[key], bad)
    # An absence proof naming the key itself, or a terminal off the key's path, is refused.
    absent = _key(999)
    end = sm.prove(store.read, absent)
    if end.terminal is not None:
        with pytest.raises(sm.MapProofError):
            sm.verify(store.root, end.terminal[0], None, end)
    with pytest.raises(sm.MapProofError):
        sm.verify(store.root, absent, None, sm.MapProof(end.siblings, (key, pairs[key])))


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"siblings": []},
        {"siblings": "x", "terminal": None},
        {"siblings": ["AAAA"], "terminal": None},
        {"siblings": [], "terminal": {"key": "AB" * 32, "value": "A" * 43 + "="}},
        {"siblings": [], "terminal": {"key": "ab" * 32}},
        {"siblings": [], "terminal": None, "extra": 1},
    ],
)
def test_malformed_proofs(data: object) -> None:
    with pytest.raises(sm.MapProofError):
        sm.MapProof.from_json(data)


def test_reads_one_call_per_depth() -> None:
    pairs = {_key(n): _value(n) for n in range(1000)}
    store, _ = _applied([pairs])
    calls = []

    def read(positions):  # type: ignore[no-untyped-def]
        calls.append(len(positions))
        return store.read(positions)

    changes = {_key(n): _value(n + 1) for n in range(0, 1000, 10)}
    root, writes = sm.update(read, changes, store.root)
    assert len(calls) <= 30  # depth of a 1000-key tree, not one call per node
    store.nodes.update(writes)
    pairs.update(changes)
    assert root == sm.reference_root(pairs)


def _rows(rng: random.Random, people: list[str], start: int, count: int) -> list:
    """Subject rows of ``count`` entries from index ``start``, one to three people each (and
    now and then a subject that is no key)."""
    rows = []
    for index in range(start, start + count):
        named = rng.sample(people, rng.randint(1, 3)) + (["not-a-key"] if index % 7 == 0 else [])
        leaf = hashlib.sha256(b"leaf %d" % index).digest()
        rows += [(who, index, leaf) for who in sorted(named)]
    return rows


def _stored(rng: random.Random, people: list[str], count: int):  # type: ignore[no-untyped-def]
    """A map folded from ``count`` entries and stored: its store, values and fold of nothing."""
    first = sm.fold(sm.Folded(sm.EMPTY, 0), {}, {}, _rows(rng, people, 0, count))
    store = sm.MemoryStore()
    store.nodes.update(first.nodes)
    return store, dict(first.values), sm.Folded(first.root, first.keys)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("on_disk", [False, True])
def test_a_fold_in_two_steps_equals_the_fold_in_one(seed: int, on_disk: bool) -> None:
    # Phase 1 folds the entries up to ``cut`` without writing; phase 2 goes on from it over the
    # same stored map: the same values, nodes, root and key count as one fold of them all.
    rng = random.Random(seed)
    people = [f"{rng.getrandbits(256):064x}" for _ in range(rng.randint(1, 60))]
    store, values, stored = _stored(rng, people, rng.randint(0, 80))
    rows = _rows(rng, people + [f"{rng.getrandbits(256):064x}" for _ in range(20)], 100, 60)
    cut = next((n for n, row in enumerate(rows) if row[1] >= 100 + rng.randint(0, 60)), len(rows))

    def read(positions):  # type: ignore[no-untyped-def]
        return {p: store.nodes[p] for p in positions if p in store.nodes}

    source = read if on_disk else store.nodes
    kept = dict(store.nodes)
    whole = sm.fold(stored, source, values, rows)
    first = sm.fold(stored, source, values, rows[:cut])
    later = {s: v for s, v in values.items() if s not in first.values}
    two = sm.fold(first, source, later, rows[cut:])
    assert store.nodes == kept  # a fold writes nothing
    assert (two.root, two.keys, two.values, two.nodes) == (
        whole.root,
        whole.keys,
        whole.values,
        whole.nodes,
    )
    pairs = {sm.key_of(k): v.hash() for k, v in {**values, **two.values}.items()}
    assert two.root == sm.reference_root(pairs) and two.keys == len(pairs)
    store.nodes.update(two.nodes)
    assert store.nodes == _reference_nodes(pairs, 0, b"")


VECTORS = Path(__file__).resolve().parent.parent / "data" / "completeness-vectors.json"


def test_the_published_test_vectors() -> None:
    """tests/data/completeness-vectors.json (docs/ledger.md §12) is what this code computes."""
    data = json.loads(VECTORS.read_text())
    assert base64.b64decode(data["empty_root"]) == sm.EMPTY
    pairs = {}
    for subject in data["subjects"]:
        chain, value = sm.EMPTY, None
        for entry, step in zip(subject["entries"], subject["chain_steps"], strict=True):
            leaf = base64.b64decode(entry["leaf_hash"])
            chain = sm.chain_step(chain, entry["index"], leaf)
            assert base64.b64encode(chain).decode() == step
            value = sm.Value(len(subject["chain_steps"]), entry["index"], chain)
        assert value is not None
        assert (value.count, value.latest) == (subject["count"], subject["latest"])
        assert base64.b64encode(value.hash()).decode() == subject["value_hash"]
        pairs[sm.key_of(subject["key"])] = value.hash()
    root = sm.reference_root(pairs)
    assert base64.b64encode(root).decode() == data["root"] == data["map_head_record"]["root"]
    assert sm.MemoryStore().set(pairs) == root
    kinds = set()
    for case in data["proofs"]:
        proof = sm.MapProof.from_json(case["proof"])
        value = case["value_hash"] and base64.b64decode(case["value_hash"])
        sm.verify(root, sm.key_of(case["key"]), value or None, proof)
        kinds.add(case["kind"])
    assert kinds == {"membership", "absence-empty", "absence-terminal"}
