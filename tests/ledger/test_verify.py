"""Tampering with the stored ledger, on SQLite and PostgreSQL: ``enlace ledger verify`` names
the index and the kind of every change, and exits non-zero."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gateway.cli.common import CliError
from gateway.cli.main import app
from gateway.kernel import pki
from gateway.kernel.ledger import checkpoint, merkle, record
from gateway.storage import disclosure
from gateway.storage.db import (
    Database,
    ledger_checkpoints,
    ledger_entries,
    ledger_nodes,
    ledger_state,
    ledger_subjects,
)
from gateway.storage.ledger import publisher, sequencer
from gateway.storage.ledger.errors import LedgerCorrupt
from tests.factories import exchange_record
from tests.ledger.helpers import (
    checkpoint_key,
    exchange,
    fill,
    rewrite_consistently,
    sign,
    truncate_consistently,
)

SIZE = 40


def verify(database: Database, vkey_file, *extra: str) -> tuple[int, dict[str, Any]]:  # noqa: ANN001
    result = CliRunner().invoke(
        app,
        ["ledger", "verify", "--json", "--database-url", database.url, "--vkey", str(vkey_file)]
        + list(extra),
    )
    return result.exit_code, json.loads(result.stdout)


def found(report: dict[str, Any]) -> set[tuple]:
    return {
        (f["kind"], f["index"], f.get("count", 1), f.get("moved_to")) for f in report["findings"]
    }


@pytest.fixture
def ledger(database: Database, signer) -> Database:  # noqa: ANN001
    """Checkpoints of sizes 25 and SIZE, each closed by its map head (at 24 and SIZE - 1);
    every other index n holds ``exchange(n)``."""
    fill(database, 24)
    sign(database, signer)
    fill(database, SIZE - 26, start=25)
    sign(database, signer)
    return database


def run(ledger: Database, *statements: Any) -> None:
    with ledger.write.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def move(ledger: Database, old: int, new: int) -> None:
    run(ledger, sa.update(ledger_entries).where(ledger_entries.c.idx == old).values(idx=new))


def test_an_untouched_ledger_verifies(ledger, vkey_file):
    status, report = verify(ledger, vkey_file)
    assert status == 0 and report["ok"]
    assert report["entries"] == report["tree_size"] == SIZE
    assert report["checkpoints"] == 2 and report["signatures_checked"]
    assert report["nodes"] == SIZE - SIZE.bit_count()  # every interior node was compared


def edit_body(ledger: Database) -> None:
    tampered = record.canonical({**exchange(17), "purpose": "fraude"}).decode()
    run(ledger, sa.update(ledger_entries).where(ledger_entries.c.idx == 17).values(body=tampered))


def edit_body_and_leaf(ledger: Database) -> None:
    tampered = record.canonical({**exchange(17), "purpose": "fraude"})
    run(
        ledger,
        sa.update(ledger_entries)
        .where(ledger_entries.c.idx == 17)
        .values(body=tampered.decode(), leaf_hash=merkle.leaf_hash(tampered)),
    )


def delete_row(ledger: Database) -> None:
    run(ledger, sa.delete(ledger_entries).where(ledger_entries.c.idx == 17))


def swap_rows(ledger: Database) -> None:
    move(ledger, 9, -1)
    move(ledger, 30, 9)
    move(ledger, -1, 30)


def insert_entry(ledger: Database, index: int, n: int) -> None:
    body = record.canonical(exchange(n))
    run(
        ledger,
        sa.insert(ledger_entries).values(
            idx=index,
            leaf_hash=merkle.leaf_hash(body),
            kind="exchange",
            recorded_at="2026-01-01T00:00:00.000000Z",
            outcome="allowed",
            body=body.decode(),
        ),
    )


def insert_row_at_end(ledger: Database) -> None:
    insert_entry(ledger, SIZE, 99)


def insert_row_in_middle(ledger: Database) -> None:
    """Make room at 12 by renumbering everything after it, then slip a record in."""
    idx = ledger_entries.c.idx
    run(ledger, sa.update(ledger_entries).where(idx >= 12).values(idx=idx + 1000))
    run(ledger, sa.update(ledger_entries).where(idx >= 1000).values(idx=idx - 999))
    insert_entry(ledger, 12, 98)


def truncate_tail(ledger: Database) -> None:
    """Drop the last three entries with their leaves and roll the size back: only the signed
    checkpoint still remembers them."""
    with ledger.write.begin() as conn:
        conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx >= SIZE - 3))
        conn.execute(
            sa.delete(ledger_nodes).where(ledger_nodes.c.level == 0, ledger_nodes.c.idx >= SIZE - 3)
        )
        conn.execute(sa.update(ledger_state).values(size=SIZE - 3))


def insert_row_at_negative_index(ledger: Database) -> None:
    insert_entry(ledger, -5, 97)


CASES: dict[str, tuple[Callable[[Database], None], set[tuple]]] = {
    "edited body": (edit_body, {("modified", 17, 1, None)}),
    "edited body and leaf hash": (edit_body_and_leaf, {("modified", 17, 1, None)}),
    "deleted row": (delete_row, {("deleted", 17, 1, None), ("subjects", 17, 1, None)}),
    "swapped rows": (
        swap_rows,
        {
            ("reordered", 9, 1, 30),
            ("reordered", 30, 1, 9),
            ("subjects", 9, 1, None),
            ("subjects", 30, 1, None),
        },
    ),
    "inserted at the end": (insert_row_at_end, {("inserted", SIZE, 1, None)}),
    "inserted at a negative index": (insert_row_at_negative_index, {("inserted", -5, 1, None)}),
    "inserted in the middle": (
        insert_row_in_middle,
        {("inserted", 12, 1, None), ("reordered", 12, SIZE - 12, 13)},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_tampered_records_are_named(ledger, vkey_file, case):
    tamper, expected = CASES[case]
    tamper(ledger)
    status, report = verify(ledger, vkey_file)
    assert status == 1 and not report["ok"]
    kinds = {"modified", "deleted", "inserted", "reordered"}
    named = {f for f in found(report) if f[0] in kinds or f in expected}
    assert named == expected


def test_a_truncated_tail_is_caught_by_the_signed_checkpoint(ledger, vkey_file):
    truncate_tail(ledger)
    status, report = verify(ledger, vkey_file)
    assert status == 1
    assert ("deleted", SIZE - 3, 3, None) in found(report)
    assert ("checkpoint", SIZE, 1, None) in found(report)


def test_tampered_nodes_state_checkpoints_and_subjects_are_named(ledger, vkey_file):
    with ledger.read.connect() as conn:
        ten = publisher.latest_checkpoint(conn)
    assert ten is not None
    forged_note = ten.note.replace(b"\n\n", b"\nx\n\n", 1)
    run(
        ledger,
        sa.update(ledger_nodes)
        .where(ledger_nodes.c.level == 2, ledger_nodes.c.idx == 3)
        .values(hash=b"\x07" * 32),
        sa.delete(ledger_nodes).where(ledger_nodes.c.level == 1, ledger_nodes.c.idx == 10),
        sa.update(ledger_checkpoints)
        .where(ledger_checkpoints.c.size == 25)
        .values(root=b"\x00" * 32),
        sa.update(ledger_checkpoints)
        .where(ledger_checkpoints.c.size == SIZE)
        .values(note=forged_note.decode()),
        sa.delete(ledger_subjects).where(ledger_subjects.c.idx == 5),
        sa.update(ledger_state).values(compact_range=merkle.CompactRange().to_bytes()),
    )
    status, report = verify(ledger, vkey_file)
    assert status == 1
    assert {(f["kind"], f["index"], f.get("level")) for f in report["findings"]} >= {
        ("node", 12, 2),
        ("node", 20, 1),
        ("checkpoint", 25, None),
        ("checkpoint", SIZE, None),
        ("subjects", 5, None),
        ("state", SIZE, None),
    }
    # The records themselves are intact: nothing is reported against them.
    assert not {f["kind"] for f in report["findings"]} & {"modified", "deleted", "inserted"}


# --- a consistent rewrite: only a signed head kept outside storage catches it ----------------


def trusted_note(ledger: Database, size: int, folder) -> str:  # noqa: ANN001
    """A signed checkpoint kept outside storage (as a witness or a bundle's reader keeps it)."""
    with ledger.read.connect() as conn:
        note = conn.execute(
            sa.select(ledger_checkpoints.c.note).where(ledger_checkpoints.c.size == size)
        ).scalar_one()
    path = folder / f"checkpoint-{size}"
    path.write_text(note)
    return str(path)


def test_a_consistent_rewrite_is_caught_against_a_trusted_checkpoint(ledger, vkey_file, tmp_path):
    trusted = trusted_note(ledger, 25, tmp_path)
    status, report = verify(ledger, vkey_file, "--trusted-checkpoint", trusted)
    assert status == 0 and report["trusted_size"] == 25
    rewrite_consistently(ledger, 5)
    status, report = verify(ledger, vkey_file, "--no-kept")
    # Tree storage alone cannot tell (docs/ledger.md §8), but the map heads logged since do:
    # their roots commit to record 5's leaf hash in its subject's chain.
    assert status == 1
    assert found(report) == {("map_head", 24, 1, None), ("map_head", SIZE - 1, 1, None)}
    status, report = verify(ledger, vkey_file, "--trusted-checkpoint", trusted)
    assert status == 1
    assert ("checkpoint", 25, 1, None) in found(report)


def test_a_trusted_checkpoint_beyond_the_ledger_is_a_finding(ledger, vkey_file, tmp_path):
    trusted = trusted_note(ledger, SIZE, tmp_path)
    truncate_tail(ledger)
    run(ledger, sa.delete(ledger_checkpoints).where(ledger_checkpoints.c.size == SIZE))
    status, report = verify(ledger, vkey_file, "--trusted-checkpoint", trusted)
    assert status == 1
    assert found(report) >= {("checkpoint", SIZE, 1, None), ("deleted", SIZE - 3, 3, None)}


def test_a_trusted_checkpoint_must_verify(ledger, vkey_file, tmp_path):
    forged = tmp_path / "forged"
    forged.write_text(Path(trusted_note(ledger, 25, tmp_path)).read_text().replace("25", "24", 1))
    result = CliRunner().invoke(
        app,
        ["ledger", "verify", "--database-url", ledger.url, "--vkey", str(vkey_file)]
        + ["--trusted-checkpoint", str(forged)],
    )
    # main() prints CliError as "error [code]: …" with exit status 2
    assert isinstance(result.exception, CliError) and result.exception.code == "ledger.checkpoint"
    assert "invalid signature" in str(result.exception)


def test_the_gateway_will_not_sign_over_a_rewritten_history(database, tmp_path):
    """It anchors on its own copy of its last signed checkpoint, not on the database's rows."""
    signer, _ = checkpoint_key(tmp_path / "pki")
    last = pki.PkiDir(tmp_path / "pki").checkpoint_last
    fill(database, 24)
    assert publisher.sign_checkpoint_kept(database.write, signer, last).size == 25  # first run
    fill(database, SIZE - 26, start=25)
    assert publisher.sign_checkpoint_kept(database.write, signer, last).size == SIZE
    kept = last.read_bytes()
    assert checkpoint.open_checkpoint(kept, signer.verifier()).size == SIZE
    rewrite_consistently(database, 5)
    fill(database, 2, start=SIZE)
    with pytest.raises(LedgerCorrupt, match="not an extension of signed checkpoint 40"):
        publisher.sign_checkpoint_kept(database.write, signer, last)
    with database.read.connect() as conn:
        assert publisher.latest_checkpoint(conn) is None  # nothing signed over the forgery
    assert last.read_bytes() == kept


# --- copies of the records that queries filter on ----------------------------------------------


def test_edited_columns_and_subject_rows_are_named(ledger, vkey_file):
    e, s = ledger_entries.c, ledger_subjects.c
    run(
        ledger,
        sa.update(ledger_entries).where(e.idx == 17).values(client="MX/GOB/OTRO/x"),
        sa.update(ledger_entries).where(e.idx == 3).values(outcome="refused", service="y"),
        sa.update(ledger_entries).where(e.idx == 30).values(recorded_at="2020-01-01T00:00:00Z"),
        sa.update(ledger_subjects).where(s.idx == 8).values(subject="f" * 64),
    )
    status, report = verify(ledger, vkey_file)
    assert status == 1
    assert found(report) == {
        ("column_mismatch", 3, 1, None),
        ("column_mismatch", 17, 1, None),
        ("column_mismatch", 30, 1, None),
        ("subjects", 8, 1, None),
    }
    details = {f["index"]: f["detail"] for f in report["findings"]}
    assert details[3] == "service, outcome differ from the record"


def test_every_disclosure_needs_its_ledger_record(ledger, vkey_file):
    with ledger.write.begin() as conn:
        hidden = [exchange_record(n, hidden_until="2999-01-01") for n in (SIZE, SIZE + 1)]
        covert = sequencer.append(conn, hidden)
    disclosure.disclose(
        ledger, [disclosure.Covert(covert[0].index, dt.date(2999, 1, 1))], "court order", {}
    )
    status, report = verify(ledger, vkey_file)
    assert status == 0
    run(ledger, sa.insert(disclosure.ledger_disclosures).values(idx=SIZE + 1, disclosed_at="t"))
    status, report = verify(ledger, vkey_file)
    assert status == 1
    assert found(report) == {("unrecorded_disclosure", SIZE + 1, 1, None)}


# --- the gateway's kept last signed checkpoint: checked by default ----------------------------


@pytest.fixture
def kept(database: Database, tmp_path: Path) -> tuple[Database, Path, Path]:
    """A ledger of SIZE entries signed (and kept) at 25 and SIZE by a PKI of its own (map
    heads at 24 and SIZE - 1)."""
    folder = tmp_path / "pki"
    signer, vkey = checkpoint_key(folder)
    last = pki.PkiDir(folder).checkpoint_last
    fill(database, 24)
    publisher.sign_checkpoint_kept(database.write, signer, last)
    fill(database, SIZE - 26, start=25)
    publisher.sign_checkpoint_kept(database.write, signer, last)
    return database, folder, vkey


def test_default_verify_checks_the_kept_checkpoint(kept):
    database, folder, vkey = kept
    status, report = verify(database, vkey, "--pki-dir", str(folder))
    assert status == 0 and report["kept_checkpoint"]["size"] == SIZE
    result = CliRunner().invoke(
        app, ["ledger", "verify", "--database-url", database.url, "--pki-dir", str(folder)]
    )
    assert result.exit_code == 0
    assert f"checked against the kept last signed checkpoint of size {SIZE}" in result.stdout


def test_a_consistent_rewrite_with_its_checkpoints_deleted_is_caught_by_default(kept):
    database, folder, vkey = kept
    rewrite_consistently(database, 5)
    status, report = verify(database, vkey, "--pki-dir", str(folder))
    assert status == 1
    map_heads = {("map_head", 24, 1, None), ("map_head", SIZE - 1, 1, None)}
    assert found(report) == {("checkpoint", SIZE, 1, None), *map_heads}
    status, report = verify(database, vkey, "--pki-dir", str(folder), "--no-kept")
    # Storage alone: only the map heads logged after record 5 tell (docs/ledger.md §8).
    assert status == 1 and report["kept_checkpoint"] is None and found(report) == map_heads


def test_a_truncation_with_its_checkpoints_deleted_is_caught_by_default(kept):
    database, folder, vkey = kept
    truncate_consistently(database, 30)
    status, report = verify(database, vkey, "--pki-dir", str(folder))
    assert status == 1
    assert found(report) >= {("checkpoint", SIZE, 1, None), ("deleted", 30, SIZE - 30, None)}


def test_trusted_checkpoints_may_be_given_several_times(ledger, vkey_file, tmp_path):
    notes = [trusted_note(ledger, size, tmp_path) for size in (25, SIZE)]
    given = [arg for note in notes for arg in ("--trusted-checkpoint", note)]
    status, report = verify(ledger, vkey_file, *given)
    assert status == 0 and report["trusted_sizes"] == [25, SIZE]
    rewrite_consistently(ledger, 30)  # beyond the first, below the second
    status, report = verify(ledger, vkey_file, *given)
    expected = {("checkpoint", SIZE, 1, None), ("map_head", SIZE - 1, 1, None)}
    assert status == 1 and found(report) == expected
