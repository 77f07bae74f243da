"""Completeness on a real database (SQLite and PostgreSQL): bundles v2 prove a subject's entries
are all of them up to the checkpoint, absence is proven, covert entries are committed under keys
that link to nobody, ``ledger verify`` checks the map heads, and a newer bundle extends an older."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.kernel.ledger import bundle, checkpoint, record, subjectmap
from gateway.storage.db import (
    Database,
    ledger_covert,
    ledger_entries,
    ledger_map_nodes,
    open_database,
)
from gateway.storage.ledger import audit, driver, proofs, publisher, sequencer
from gateway.storage.ledger import subjectmap as maps
from gateway.storage.ledger.errors import LedgerCorrupt
from tests.factories import exchange_record
from tests.ledger.helpers import rewrite_consistently, sign

ALICE, BOB, CARLOS, NOBODY = (f"{n:02x}" * 32 for n in (0xA1, 0xB0, 0xC4, 0xEE))


def _append(database: Database, records: list[dict]) -> list[sequencer.Appended]:
    with database.write.begin() as conn:
        return sequencer.append(conn, records)


def _exchanges(database: Database, start: int, people: list[list[str]]) -> list[int]:
    appended = _append(
        database, [exchange_record(start + n, subjects=who) for n, who in enumerate(people)]
    )
    return [a.index for a in appended]


@pytest.fixture
def ledger(database: Database, signer: checkpoint.NoteSigner) -> dict[str, list[int]]:
    """Alice, Bob and Carlos in 12 exchanges over two checkpoints; Nobody in none."""
    first = _exchanges(database, 0, [[ALICE], [BOB], [ALICE, BOB], [CARLOS], [ALICE]])
    sign(database, signer)
    second = _exchanges(database, 5, [[BOB], [ALICE], [], [CARLOS, ALICE], [BOB], [ALICE]])
    _append(database, [record.admin("member.add", "MX/GOB/X", {}, "admin:x")])
    sign(database, signer)
    indexes = first + second
    people = [[ALICE], [BOB], [ALICE, BOB], [CARLOS], [ALICE]]
    people += [[BOB], [ALICE], [], [CARLOS, ALICE], [BOB], [ALICE]]
    return {
        who: [i for i, named in zip(indexes, people, strict=True) if who in named]
        for who in (ALICE, BOB, CARLOS, NOBODY)
    }


def _bundle(database: Database, keys: list[tuple[str, str]], **kw: Any) -> dict[str, Any]:
    with database.read.connect() as conn:
        head = publisher.latest_checkpoint(conn)
        assert head is not None
        return proofs.build_complete_bundle(conn, keys, head, **kw)


def _verify(built: dict[str, Any], signer: checkpoint.NoteSigner) -> bundle.VerifiedBundle:
    return bundle.verify_bundle(json.loads(json.dumps(built)), signer.verifier())


def test_a_citizens_bundle_is_complete(database, signer, ledger):
    built = _bundle(database, [(ALICE, "citizen")])
    assert built["format"] == bundle.FORMAT_V2
    verified = _verify(built, signer)
    assert verified.complete
    assert [e.index for e in verified.entries] == ledger[ALICE]
    (key,) = verified.keys
    assert (key.key, key.role, key.count, key.latest) == (
        ALICE,
        "citizen",
        len(ledger[ALICE]),
        ledger[ALICE][-1],
    )
    head = built["completeness"]["map_head"]
    decoded = json.loads(head["record"])
    assert head["index"] == verified.checkpoint.size - 1 == decoded["covers"]
    assert decoded["keys"] == 3  # Alice, Bob, Carlos; the admin record names nobody
    several = _verify(_bundle(database, [(ALICE, "citizen"), (BOB, "citizen")]), signer)
    assert [e.index for e in several.entries] == sorted(set(ledger[ALICE] + ledger[BOB]))


def test_absence_is_proven_for_a_citizen_with_no_entries(database, signer, ledger):
    built = _bundle(database, [(NOBODY, "citizen")])
    verified = _verify(built, signer)
    assert verified.entries == () and verified.keys[0].count == 0
    key = built["completeness"]["keys"][0]
    assert key["latest"] is None and key["chain"] == "A" * 43 + "="
    # Claiming one entry for nobody, or hiding Carlos's entries, does not verify.
    claimed = copy.deepcopy(built)
    claimed["completeness"]["keys"][0].update(count=1, latest=0)
    with pytest.raises(bundle.BundleError, match="terminal|map root"):
        _verify(claimed, signer)
    hidden = _bundle(database, [(CARLOS, "citizen")])
    hidden["entries"] = []
    hidden["completeness"]["keys"][0].update(count=0, latest=None, chain="A" * 43 + "=")
    with pytest.raises(bundle.BundleError, match="does not lead to the map root"):
        _verify(hidden, signer)


def test_a_bundle_with_no_citizen_key_is_complete_about_nobody_and_fails(database, signer, ledger):
    built = _bundle(database, [(ALICE, "citizen")])
    stripped = copy.deepcopy(built)
    stripped["entries"], stripped["completeness"]["keys"] = [], []
    with pytest.raises(bundle.BundleError, match="no key is a citizen's"):
        _verify(stripped, signer)
    covert_only = copy.deepcopy(built)
    covert_only["completeness"]["keys"][0]["role"] = "covert"
    with pytest.raises(bundle.BundleError, match="no key is a citizen's"):
        _verify(covert_only, signer)


@pytest.mark.parametrize(("field", "value"), [("count", -1), ("count", 2**64), ("latest", -5)])
def test_a_count_or_index_out_of_range_is_refused_not_a_crash(
    database, signer, ledger, field, value
):
    built = _bundle(database, [(ALICE, "citizen")])
    built["completeness"]["keys"][0][field] = value
    with pytest.raises(bundle.BundleError, match="bad role or count|latest must be an index"):
        _verify(built, signer)


def _tampered(built: dict[str, Any], change: Any) -> dict[str, Any]:  # noqa: ANN401
    copied = copy.deepcopy(built)
    change(copied)
    return copied


def test_a_bundle_that_omits_adds_or_reorders_an_entry_fails(database, signer, ledger):
    built = _bundle(database, [(ALICE, "citizen")])
    bobs = _bundle(database, [(BOB, "citizen")])["entries"]
    only_bob = next(e for e in bobs if e["index"] not in ledger[ALICE])
    shared = next(e for e in bobs if e["index"] in ledger[ALICE])

    def omit(b: dict) -> None:
        del b["entries"][2]

    def omit_last(b: dict) -> None:
        b["entries"].pop()

    def add_anothers(b: dict) -> None:
        b["entries"].append(only_bob)
        b["entries"].sort(key=lambda e: e["index"])

    def duplicate(b: dict) -> None:
        b["entries"].insert(1, b["entries"][0])

    def reorder(b: dict) -> None:
        b["entries"][0], b["entries"][1] = b["entries"][1], b["entries"][0]

    def count(b: dict) -> None:
        b["completeness"]["keys"][0]["count"] -= 1

    def map_head(b: dict) -> None:
        b["completeness"]["map_head"] = b["entries"][0]

    for change in (omit, omit_last, add_anothers, duplicate, reorder, count, map_head):
        with pytest.raises(bundle.BundleError):
            _verify(_tampered(built, change), signer)
    assert shared in built["entries"]  # an entry of both is in each one's bundle
    _verify(built, signer)


def test_a_newer_bundle_extends_an_older_one(database, signer, ledger, tmp_path, vkey_file):
    older = _bundle(database, [(ALICE, "citizen")])
    old_size = _verify(older, signer).checkpoint.size
    _exchanges(database, 20, [[ALICE], [BOB]])
    sign(database, signer)
    newer = _bundle(database, [(ALICE, "citizen")], consistency_from=old_size)
    assert newer["consistency"]["from"] == old_size
    bundle.verify_against_older(_verify(newer, signer), _verify(older, signer))
    # Without the consistency proof, or with an older entry gone or changed, it fails.
    for change in (
        lambda b: b.pop("consistency"),
        lambda b: b["consistency"]["proof"].reverse(),
    ):
        with pytest.raises(bundle.BundleError):
            bundle.verify_against_older(
                _verify(_tampered(newer, change), signer), _verify(older, signer)
            )
    shorter = _tampered(older, lambda b: b["entries"].pop())
    with pytest.raises(bundle.BundleError):
        bundle.verify_against_older(_verify(newer, signer), _verify(shorter, signer))
    # A malformed field says what is wrong with it: a size out of range, a proof too long.
    for change, said in (
        (lambda b: b["consistency"].update({"from": -1}), "from must be a size"),
        (lambda b: b["consistency"]["proof"].extend(["A" * 43 + "="] * 65), "at most 64"),
    ):
        with pytest.raises(bundle.BundleError, match=said):
            _verify(_tampered(newer, change), signer)
    # The CLI: "complete up to N", and --older.
    new_file, old_file = tmp_path / "new.json", tmp_path / "old.json"
    new_file.write_text(json.dumps(newer))
    old_file.write_text(json.dumps(older))
    runner = CliRunner()
    args = ["ledger", "check-proof", str(new_file), "--vkey", str(vkey_file)]
    result = runner.invoke(app, [*args, "--older", str(old_file)])
    assert result.exit_code == 0, result.output
    size = _verify(newer, signer).checkpoint.size
    assert f"complete up to {size}: {len(ledger[ALICE]) + 1} entries" in result.stdout
    assert "extends the older bundle" in result.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_tampered(newer, lambda b: b["entries"].pop(0))))
    assert (
        runner.invoke(app, ["ledger", "check-proof", str(bad), "--vkey", str(vkey_file)]).exit_code
        == 1
    )
    swapped = runner.invoke(app, [*args[:2], str(old_file), *args[3:], "--older", str(new_file)])
    assert swapped.exit_code == 1 and "larger" in swapped.stdout


def test_a_bundle_is_built_against_the_map_that_closes_its_checkpoint(database, signer, ledger):
    with database.read.connect() as conn:
        stale = publisher.latest_checkpoint(conn)
    _exchanges(database, 30, [[ALICE]])
    sign(database, signer)
    with database.read.connect() as conn, pytest.raises(proofs.MapMoved):
        assert stale is not None
        proofs.build_complete_bundle(conn, [(ALICE, "citizen")], stale)
    _verify(_bundle(database, [(ALICE, "citizen")]), signer)


def _report(database: Database, signer: checkpoint.NoteSigner, key: bytes | None = None):  # noqa: ANN202
    with database.read.connect() as conn, conn.begin():
        return audit.verify(conn, signer.verifier(), covert_key=key)


def _kinds(report: audit.Report) -> set[tuple[str, int]]:
    return {(f.kind, f.index) for f in report.findings}


@pytest.mark.parametrize(
    "forged",
    [
        {"root": "B" * 43 + "="},  # a root other than the map's
        {"keys": 99},
        {"covers": 0},  # not its own index
    ],
)
def test_verify_catches_a_wrong_map_head(database, signer, ledger, forged):
    report = _report(database, signer)
    assert report.ok and report.map_heads == 2
    with database.read.connect() as conn:
        right = maps.state(conn)
        size = conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar_one()
    wrong = {**record.map_head(size, right.keys, right.root), **forged}
    _append(database, [wrong])  # a well-formed record anyone with write access could append
    assert ("map_head", size) in _kinds(_report(database, signer))


def test_covert_entries_are_committed_under_keys_that_link_to_nobody(database, signer, ledger):
    key = b"k" * 32
    exchange_ids = ["covert-1", "covert-2"]
    covert = [record.covert_subject(key, ALICE, xid) for xid in exchange_ids]
    hidden = [
        exchange_record(40 + n, exchange_id=xid, subjects=[q], hidden_until="2999-01-01")
        for n, (xid, q) in enumerate(zip(exchange_ids, covert, strict=True))
    ]

    async def append_covertly() -> list[sequencer.Appended]:
        writer = sequencer.LedgerWriter(database)
        writer.start()
        try:
            return [await writer.append(r, (ALICE,)) for r in hidden]
        finally:
            writer.stop()

    indexes = [a.index for a in asyncio.run(append_covertly())]
    sign(database, signer)
    # Q links to nobody: not the pseudonym, another for each exchange, another under another key.
    assert len(set(covert)) == 2 and ALICE not in covert
    assert record.covert_subject(b"x" * 32, ALICE, "covert-1") != covert[0]
    with database.read.connect() as conn:
        bodies = conn.execute(
            sa.select(ledger_entries.c.body).where(ledger_entries.c.idx.in_(indexes))
        ).scalars()
        assert all(ALICE not in body for body in bodies)
        rows = conn.execute(sa.select(ledger_covert.c.subject, ledger_covert.c.idx)).all()
    assert sorted(rows) == [(ALICE, i) for i in indexes]
    # Alice's own bundle is complete without them; handed over, each verifies with count 1.
    mine = _verify(_bundle(database, [(ALICE, "citizen")]), signer)
    assert not {e.index for e in mine.entries} & set(indexes)
    handed = _verify(
        _bundle(database, [(ALICE, "citizen"), *((q, "covert") for q in covert)]), signer
    )
    assert {k.key: k.count for k in handed.keys if k.role == "covert"} == dict.fromkeys(covert, 1)
    assert set(indexes) <= {e.index for e in handed.entries}
    # verify recomputes each lookup row's key: a row naming another citizen is caught.
    assert _report(database, signer, key).ok
    with database.write.begin() as conn:
        conn.execute(
            sa.update(ledger_covert).where(ledger_covert.c.idx == indexes[0]).values(subject=BOB)
        )
    assert ("covert", indexes[0]) in _kinds(_report(database, signer, key))
    with database.write.begin() as conn:
        conn.execute(sa.insert(ledger_covert).values(subject=ALICE, idx=ledger[ALICE][0]))
    assert ("covert", ledger[ALICE][0]) in _kinds(_report(database, signer))


def test_the_map_matches_the_reference_definition(database, signer, ledger):
    with database.read.connect() as conn:
        state = maps.state(conn)
        values = maps.read_values(conn, [ALICE, BOB, CARLOS])
    pairs = {subjectmap.key_of(k): v.hash() for k, v in values.items()}
    assert state.root == subjectmap.reference_root(pairs)
    assert {k: v.count for k, v in values.items()} == {
        who: len(ledger[who]) for who in (ALICE, BOB, CARLOS)
    }


def _counts(ledger, added: dict[str, int]) -> dict[str, int]:
    """Each citizen's entries: those the fixture's ledger holds, and ``added`` since (NOBODY
    has none in the fixture)."""
    counts = {who: len(ledger[who]) for who in (ALICE, BOB, CARLOS)}
    for who, more in added.items():
        counts[who] = counts.get(who, 0) + more
    return counts


def _map_is_right(database: Database, counts: dict[str, int]) -> None:
    """The stored map holds ``counts`` and its root is the reference definition's."""
    with database.read.connect() as conn:
        state = maps.state(conn)
        values = maps.read_values(conn, counts)
    assert {k: v.count for k, v in values.items()} == counts
    pairs = {subjectmap.key_of(k): v.hash() for k, v in values.items()}
    assert state.root == subjectmap.reference_root(pairs)


def test_the_signers_copy_of_the_map_is_dropped_when_another_signer_folded(
    database, database_url, signer, ledger
):
    # A second gateway on the same database (its own engine, hence its own copy) signs after
    # this one (a take-over): this one's copy no longer matches the stored map state.
    other = open_database(database_url)
    try:
        _exchanges(other, 20, [[ALICE], [NOBODY], [BOB, NOBODY]])
        sign(other, signer)
    finally:
        other.dispose()
    _exchanges(database, 30, [[ALICE], [NOBODY], [CARLOS]])
    sign(database, signer)
    _map_is_right(database, _counts(ledger, {ALICE: 2, BOB: 1, CARLOS: 1, NOBODY: 3}))


def test_a_rolled_back_fold_leaves_nothing_in_the_signers_copy(database, signer, ledger):
    _exchanges(database, 20, [[ALICE], [NOBODY]])

    class Abort(Exception):
        pass

    with pytest.raises(Abort), database.write.begin() as conn:
        maps.close(conn, driver.locked_tree(conn))
        raise Abort
    _exchanges(database, 30, [[NOBODY], [BOB]])
    sign(database, signer)
    _map_is_right(database, _counts(ledger, {ALICE: 1, BOB: 1, NOBODY: 2}))


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every read of stored map nodes or values the fold makes (by table)."""
    reads: list[str] = []
    read_nodes, read_values = maps.read_nodes, maps.read_values

    def nodes(conn, positions):  # type: ignore[no-untyped-def]
        reads.append("nodes")
        return read_nodes(conn, positions)

    def values(conn, subjects):  # type: ignore[no-untyped-def]
        reads.append("values")
        return read_values(conn, subjects)

    monkeypatch.setattr(maps, "read_nodes", nodes)
    monkeypatch.setattr(maps, "read_values", values)
    return reads


def test_a_copy_grown_from_the_empty_map_folds_without_reading_the_store(
    database, signer, ledger, monkeypatch
):
    # ``ledger`` signed twice through this engine, the first fold from the empty map: its copy
    # holds every stored node and value, so what it lacks is absent, and nothing is read.
    reads = _counting_reads(monkeypatch)
    _exchanges(database, 20, [[ALICE], [NOBODY], [BOB, NOBODY]])
    sign(database, signer)
    assert reads == []
    _map_is_right(database, _counts(ledger, {ALICE: 1, BOB: 1, NOBODY: 2}))


def test_a_copy_started_on_a_stored_map_reads_what_it_lacks(
    database, database_url, signer, ledger, monkeypatch
):
    # A restarted signer (a new engine: a new, empty copy) over a map already stored cannot
    # take a missing node for an absent one: it reads, and folds the same map.
    reads = _counting_reads(monkeypatch)
    restarted = open_database(database_url)
    try:
        _exchanges(restarted, 20, [[ALICE], [NOBODY]])
        sign(restarted, signer)
    finally:
        restarted.dispose()
    assert "nodes" in reads and "values" in reads
    _map_is_right(database, _counts(ledger, {ALICE: 1, NOBODY: 1}))


# The two-phase fold (``maps.prefold`` without the lock, then ``close`` under it): the phase
# boundary is where a test calls one and then the other, appending or signing in between.


def _spy_rows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record every read of subject rows the fold makes: (after index, before size)."""
    calls: list[tuple[int, int]] = []
    rows_since = maps._rows_since

    def spy(conn, after, size):  # type: ignore[no-untyped-def]
        calls.append((after, size))
        return rows_since(conn, after, size)

    monkeypatch.setattr(maps, "_rows_since", spy)
    return calls


def _committed(database: Database) -> tuple[int, int]:
    """The committed tree's size and the map head's index."""
    with database.read.connect() as conn:
        return driver.size(conn), maps.state(conn).head


def _sign_prefolded(
    database: Database,
    signer: checkpoint.NoteSigner,
    prefolded: maps.Prefold | None,
    last: bytes | None = None,
) -> publisher.StoredCheckpoint:
    with database.write.begin() as conn:
        return publisher.sign_checkpoint(conn, signer, last=last, prefolded=prefolded)


def _is_the_one_phase_fold(database: Database) -> None:
    """The stored map (state, every node and value) is the fold of every subject row before
    the map head, from the empty map, in one go."""
    with database.read.connect() as conn:
        stored = maps.state(conn)
        rows = maps._rows_since(conn, -1, stored.head)
        nodes = conn.execute(sa.select(ledger_map_nodes)).all()
        values = maps.read_values(conn, {subject for subject, _, _ in rows})
    one = subjectmap.fold(subjectmap.Folded(subjectmap.EMPTY, 0), {}, {}, rows)
    assert (stored.root, stored.keys) == (one.root, one.keys)
    assert values == one.values
    assert {(d, bytes(p)): maps._node(k, h, v) for d, p, h, k, v in nodes} == one.nodes


def test_entries_appended_between_the_two_phases_are_folded(
    database, signer, ledger, vkey_file, monkeypatch
):
    calls = _spy_rows(monkeypatch)
    _exchanges(database, 20, [[ALICE], [NOBODY], [BOB, NOBODY]])
    s0, head = _committed(database)
    prefolded = maps.prefold(database.write)
    assert prefolded is not None and prefolded.size == s0
    _exchanges(database, 30, [[NOBODY], [CARLOS, ALICE]])  # while phase 1 ran
    s1, _ = _committed(database)
    signed = _sign_prefolded(database, signer, prefolded)
    # Phase 1 read the rows before S0, phase 2 only those of [S0, S1).
    assert calls == [(head, s0), (s0 - 1, s1)]
    assert signed.size == s1 + 1 and _committed(database) == (s1 + 1, s1)  # covers [0, S1)
    _map_is_right(database, _counts(ledger, {ALICE: 2, BOB: 1, CARLOS: 1, NOBODY: 3}))
    _is_the_one_phase_fold(database)
    verified = _verify(_bundle(database, [(NOBODY, "citizen")]), signer)
    assert verified.complete and len(verified.entries) == 3
    assert verified.entries[-1].index == s1 - 2  # appended between the phases
    result = CliRunner().invoke(
        app, ["ledger", "verify", "--database-url", database.url, "--vkey", str(vkey_file)]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("who", ["this process", "another gateway"])
def test_a_map_moved_between_the_two_phases_is_folded_again(
    database, database_url, signer, ledger, monkeypatch, who
):
    calls = _spy_rows(monkeypatch)
    _exchanges(database, 20, [[ALICE], [NOBODY]])
    prefolded = maps.prefold(database.write)
    # Another signer closes the map between the phases: the same engine (its copy of the map
    # moves on), or another gateway's (this one's copy no longer matches the stored map).
    other = database if who == "this process" else open_database(database_url)
    try:
        _exchanges(other, 30, [[BOB]])
        sign(other, signer)
    finally:
        if other is not database:
            other.dispose()
    _exchanges(database, 40, [[NOBODY, CARLOS]])
    size, head = _committed(database)
    del calls[:]
    _sign_prefolded(database, signer, prefolded)
    assert calls == [(head, size)]  # phase 1's fold dropped: every row since the map head
    _map_is_right(database, _counts(ledger, {ALICE: 1, BOB: 1, CARLOS: 1, NOBODY: 2}))
    _is_the_one_phase_fold(database)
    assert _report(database, signer).ok


def test_the_two_phases_read_through_the_signers_copy(
    database, database_url, signer, ledger, monkeypatch
):
    # A complete copy reads nothing in either phase; a partial one (a restarted signer) reads
    # what it lacks in phase 1, and in phase 2 only what phase 1 had no need of.
    reads = _counting_reads(monkeypatch)
    _exchanges(database, 20, [[ALICE], [NOBODY]])
    prefolded = maps.prefold(database.write)
    _exchanges(database, 30, [[BOB]])
    _sign_prefolded(database, signer, prefolded)
    assert reads == []
    restarted = open_database(database_url)
    try:
        _exchanges(restarted, 40, [[ALICE], [CARLOS]])
        prefolded = maps.prefold(restarted.write)
        assert "nodes" in reads and "values" in reads
        del reads[:]
        _exchanges(restarted, 50, [[ALICE, CARLOS]])  # keys phase 1 read: no read again
        _sign_prefolded(restarted, signer, prefolded)
        assert reads == []
    finally:
        restarted.dispose()
    _map_is_right(database, _counts(ledger, {ALICE: 3, BOB: 1, CARLOS: 2, NOBODY: 1}))
    _is_the_one_phase_fold(database)


def test_a_history_that_does_not_extend_the_signed_head_is_refused_after_phase_1(
    database, signer, ledger
):
    # Phase 1 folds whatever is stored, without the history check; the check stays under the
    # lock and still refuses, before anything of the fold is written.
    with database.read.connect() as conn:
        last = publisher.latest_checkpoint(conn)
    assert last is not None
    rewrite_consistently(database, 3)  # and deletes the checkpoints: only the kept note is left
    _exchanges(database, 20, [[ALICE]])
    before = _committed(database)
    prefolded = maps.prefold(database.write)
    assert prefolded is not None and prefolded.size == before[0]
    with pytest.raises(LedgerCorrupt, match="not an extension"):
        _sign_prefolded(database, signer, prefolded, last.note)
    assert _committed(database) == before


def test_phase_1_takes_no_lock_and_sees_only_committed_entries(database, signer, ledger):
    _exchanges(database, 20, [[ALICE]])
    size, _ = _committed(database)
    with database.write.begin() as conn:  # an append holding the sequencing lock, uncommitted
        driver.locked_tree(conn)
        sequencer.append(conn, [exchange_record(30, subjects=[BOB])])
        prefolded = maps.prefold(database.write)  # would wait for the lock (here: forever)
    assert prefolded is not None and prefolded.size == size
    assert set(prefolded.folded.values) == {ALICE}
    sign(database, signer)
    _map_is_right(database, _counts(ledger, {ALICE: 1, BOB: 1}))
