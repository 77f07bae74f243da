"""The Merkle tree in storage, on SQLite and on the real PostgreSQL: appends keep the tree
state, proofs from storage equal RFC 9162's definitions, checkpoints and witnesses."""

from __future__ import annotations

import asyncio
import json
import random
import threading

import pytest
import sqlalchemy as sa
from alembic import command

from gateway.kernel.ids import MemberId
from gateway.kernel.ledger import checkpoint, merkle, record
from gateway.storage import db as dbm
from gateway.storage import registry
from gateway.storage.db import ledger_checkpoints, ledger_entries, ledger_nodes, ledger_state
from gateway.storage.ledger import audit, driver, proofs, publisher, sequencer, witness
from gateway.storage.ledger.errors import LedgerCorrupt, OutOfRange
from gateway.storage.ledger.sequencer import LedgerWriter
from tests.ledger.helpers import bodies, exchange, fill, sign
from tests.unit.test_merkle import ref_mth, ref_path, ref_proof

SIZES = [*range(1, 41), 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 300]


def counts(conn: sa.Connection) -> tuple[int, int, int]:
    entries = conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar_one()
    nodes = conn.execute(sa.select(sa.func.count()).select_from(ledger_nodes)).scalar_one()
    return entries, nodes, driver.size(conn)


def test_proofs_from_storage_equal_the_rfc_definitions(database):
    appended = fill(database, 300)
    data = bodies(database)
    assert [a.index for a in appended] == list(range(300))
    assert [a.leaf_hash for a in appended] == [merkle.leaf_hash(d) for d in data]
    rng = random.Random(7)
    with database.read.connect() as conn:
        for n in SIZES:
            assert merkle.root(n, driver.node_reader(conn)) == ref_mth(data[:n])
            indexes = range(n) if n <= 40 else {0, n - 1, *rng.sample(range(n), 8)}
            for i in indexes:
                leaf, path = proofs.inclusion_proof(conn, i, n)
                assert leaf == merkle.leaf_hash(data[i])
                assert path == ref_path(i, data[:n])
            olds = range(n + 1) if n <= 40 else {0, 1, n - 1, n, *rng.sample(range(n), 6)}
            for m in olds:
                expected = ref_proof(m, data[:n]) if 0 < m < n else []  # RFC: nothing to prove
                assert proofs.consistency_proof(conn, m, n) == expected, (m, n)


def test_every_batch_commits_its_tree_state(database):
    appended = fill(database, 100)
    data = bodies(database)
    # The root handed back with each entry is the root right after its batch was committed.
    for entry in appended:
        assert entry.tree_size > entry.index
        assert entry.root == ref_mth(data[: entry.tree_size])
    with database.read.connect() as conn:
        tree = driver.frontier(conn)
        assert (tree.size, tree.root()) == (100, ref_mth(data))
        assert tree == merkle.CompactRange.from_reader(100, driver.node_reader(conn))
        # Every perfect subtree, leaves included: n leaves + (n - popcount(n)) parents.
        assert counts(conn) == (100, 100 + 100 - (100).bit_count(), 100)


def test_a_proof_is_one_query_of_logarithmic_rows(database):
    fill(database, 257)
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.startswith("SELECT"):
            statements.append(statement)

    with database.read.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", count)
        for index, size in ((0, 257), (128, 257), (255, 256), (100, 200), (256, 257)):
            statements.clear()
            fetched = driver.read_nodes(
                conn,
                sorted({n for ref in merkle.inclusion_proof_nodes(index, size) for n in ref.nodes}),
            )
            assert len(statements) == 1
            assert len(fetched) <= 2 * (size - 1).bit_length()
            statements.clear()
            proofs.inclusion_proof(conn, index, size)
            assert len(statements) == 1  # leaf and path together
            statements.clear()
            proofs.consistency_proof(conn, index, size)
            assert len(statements) == 1  # the nodes, or the size when there are none to read


def test_out_of_range_proofs_are_refused(database):
    fill(database, 10)
    with database.read.connect() as conn:
        for index, size in ((10, 10), (0, 11), (-1, 5), (3, 0)):
            with pytest.raises(OutOfRange):
                proofs.inclusion_proof(conn, index, size)
        for old, new in ((5, 11), (6, 5), (-1, 3)):
            with pytest.raises(OutOfRange):
                proofs.consistency_proof(conn, old, new)


async def test_concurrent_writer_admin_changes_and_checkpoints_keep_the_tree(database, signer):
    writer = LedgerWriter(database, max_batch=16)
    writer.start()
    stop = threading.Event()

    def checkpoints() -> None:
        while not stop.is_set():
            sign(database, signer)

    signing = threading.Thread(target=checkpoints)
    signing.start()
    try:
        tasks = [asyncio.create_task(writer.append(exchange(n))) for n in range(300)]
        await asyncio.gather(
            *(
                asyncio.to_thread(
                    registry.add_member, database, MemberId("MX", "GOB", f"M{n}"), "x"
                )
                for n in range(15)
            )
        )
        results = await asyncio.gather(*tasks)
    finally:
        stop.set()
        signing.join()
        writer.stop()
    final = sign(database, signer)
    data = bodies(database)
    # Map heads, appended by the signing thread amid the writer's and the registry's appends,
    # keep indexes dense: each covers exactly the entries before its own index.
    heads = [i for i, body in enumerate(data) if json.loads(body)["kind"] == "map_head"]
    assert len(data) - len(heads) == 315 and final.size == len(data) and heads[-1] == len(data) - 1
    assert [json.loads(data[i])["covers"] for i in heads] == heads
    assert sorted(r.index for r in results) == sorted(set(r.index for r in results))
    for result in results:
        assert result.root == ref_mth(data[: result.tree_size])
    with database.read.connect() as conn, conn.begin():
        report = audit.verify(conn, signer.verifier())
        heads = list(publisher.checkpoints(conn))
    assert report.ok, report.findings
    assert report.checkpoints == len(heads) >= 2
    assert all(head.root == ref_mth(data[: head.size]) for head in heads)


def test_a_failed_append_leaves_no_entry_node_or_state(database):
    fill(database, 5)
    with database.read.connect() as conn:
        before, state = counts(conn), driver.frontier(conn)
    with pytest.raises(RuntimeError), database.write.begin() as conn:
        sequencer.append(conn, [exchange(5), exchange(6)])
        raise RuntimeError("crash after the append, before the commit")
    # A node already where the next leaf goes: the node insert fails, so the entry insert too.
    with database.write.begin() as conn:
        conn.execute(sa.insert(ledger_nodes).values(level=0, idx=5, hash=b"\x00" * 32))
    with pytest.raises(sa.exc.IntegrityError), database.write.begin() as conn:
        sequencer.append(conn, [exchange(5)])
    with database.read.connect() as conn:
        assert counts(conn) == (before[0], before[1] + 1, before[2])
        assert driver.frontier(conn) == state


def test_inconsistent_state_refuses_appends_and_checkpoints(database, signer):
    fill(database, 6)
    with database.write.begin() as conn:
        conn.execute(sa.update(ledger_state).values(size=7))
    with pytest.raises(LedgerCorrupt), database.write.begin() as conn:
        sequencer.append(conn, [exchange(6)])
    with pytest.raises(LedgerCorrupt):
        sign(database, signer)


def test_checkpoints_are_signed_once_per_size_and_never_inconsistent(database, signer):
    fill(database, 9)
    first = sign(database, signer)
    assert sign(database, signer) == first
    opened = checkpoint.open_note(first.note, [signer.verifier()])
    head = checkpoint.parse_checkpoint(opened.body)
    # Nine entries and the map head closing the checkpoint.
    assert (head.origin, head.size, head.root_hash) == (signer.name, 10, ref_mth(bodies(database)))
    fill(database, 4, start=9)
    second = sign(database, signer)
    assert second.size == 15
    with database.read.connect() as conn:
        assert publisher.latest_checkpoint(conn) == second
        assert [c.size for c in publisher.checkpoints(conn)] == [10, 15]
    # Rewrite history (a leaf and its parents, consistently): the next head would not extend
    # the signed one, so the log refuses to sign it.
    fill(database, 3, start=13)
    with database.write.begin() as conn:
        conn.execute(
            sa.update(ledger_nodes)
            .where(ledger_nodes.c.level == 3, ledger_nodes.c.idx == 0)
            .values(hash=b"\x01" * 32)
        )
    with pytest.raises(LedgerCorrupt):
        sign(database, signer)


def test_witness_cosigns_only_append_only_growth(database, signer, tmp_path):
    log = signer.verifier()
    skey, vkey = witness.Witness.generate("inai.example/witness")
    dpa = witness.Witness.from_skey(skey)
    assert checkpoint.CosignatureVerifier.from_vkey(vkey) == dpa.verifier()
    fill(database, 5)
    sign(database, signer)
    with database.write.begin() as conn:
        first = witness.cosign_latest(conn, dpa, log)
    assert first.added and first.previous_size is None
    with database.write.begin() as conn:
        assert not witness.cosign_latest(conn, dpa, log).added  # idempotent
    state = first.checkpoint.note
    fill(database, 6, start=5)
    sign(database, signer)
    with database.write.begin() as conn:
        second = witness.cosign_latest(conn, dpa, log, state=state)
    assert (second.checkpoint.size, second.previous_size) == (13, 6)  # with the map heads
    opened = checkpoint.open_note(second.checkpoint.note, [log, dpa.verifier()])
    assert opened.verified_names == (log.name, dpa.name)

    # The storage rolls back to before the cosigned head: the witness's own memory catches it.
    with database.write.begin() as conn:
        conn.execute(sa.delete(ledger_checkpoints).where(ledger_checkpoints.c.size == 13))
    with pytest.raises(witness.WitnessError, match="rolled back"), database.write.begin() as conn:
        witness.cosign_latest(conn, dpa, log, state=second.checkpoint.note)
    # A forged head (signed by another key) is never cosigned.
    impostor = checkpoint.NoteSigner.from_skey(checkpoint.generate_key(log.name)[0])
    with database.write.begin() as conn:
        conn.execute(sa.delete(ledger_checkpoints))
    sign(database, impostor)
    with (
        pytest.raises(witness.WitnessError, match="newest checkpoint"),
        database.write.begin() as conn,
    ):
        witness.cosign_latest(conn, dpa, log)


def _old_schema_ledger(url: str, count: int, gap: int | None = None) -> dbm.Database:
    """A database at revision 0001 holding entries written the old way (no tree)."""
    database = dbm.open_database(url)
    cfg = dbm.alembic_config(database.url)
    with database.write.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        rows = []
        for n in range(count):
            made = exchange(n, subjects=[])
            body = record.canonical(made)
            index = n + 1 if gap is not None and n >= gap else n
            rows.append(
                {
                    "idx": index,
                    "leaf_hash": merkle.leaf_hash(body),
                    **driver.entry_columns(made),
                    "body": body.decode(),
                }
            )
        conn.execute(sa.insert(sa.table("ledger_entries", *map(sa.column, rows[0]))), rows)
        conn.execute(sa.text("UPDATE ledger_state SET size = :n"), {"n": count})
    return database


def test_migration_builds_the_tree_of_an_existing_ledger(database_url, signer):
    database = _old_schema_ledger(database_url, 37)
    try:
        dbm.upgrade(database)
        data = bodies(database)
        with database.read.connect() as conn:
            assert driver.frontier(conn).root() == ref_mth(data)
            assert proofs.inclusion_proof(conn, 20, 37)[1] == ref_path(20, data)
        fill(database, 3, start=37)
        with database.read.connect() as conn, conn.begin():
            assert audit.verify(conn).ok
    finally:
        database.dispose()


def test_migration_refuses_a_ledger_with_a_gap(database_url):
    database = _old_schema_ledger(database_url, 10, gap=4)
    try:
        with pytest.raises(RuntimeError, match="no entry 4"):
            dbm.upgrade(database)
    finally:
        database.dispose()
