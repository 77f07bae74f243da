"""Tampering with the stored ledger, on SQLite and PostgreSQL: ``enlace ledger verify`` names
the index and the kind of every change, and exits non-zero."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.db import (
    Database,
    ledger_checkpoints,
    ledger_entries,
    ledger_nodes,
    ledger_state,
    ledger_subjects,
)
from gateway.ledger import merkle, record, store
from tests.ledger.helpers import exchange, fill, sign

SIZE = 40


def verify(database: Database, vkey_file) -> tuple[int, dict[str, Any]]:  # noqa: ANN001
    result = CliRunner().invoke(
        app,
        ["ledger", "verify", "--json", "--database-url", database.url, "--vkey", str(vkey_file)],
    )
    return result.exit_code, json.loads(result.stdout)


def found(report: dict[str, Any]) -> set[tuple]:
    return {
        (f["kind"], f["index"], f.get("count", 1), f.get("moved_to")) for f in report["findings"]
    }


@pytest.fixture
def ledger(database: Database, signer) -> Database:  # noqa: ANN001
    fill(database, 25)
    sign(database, signer)
    fill(database, SIZE - 25, start=25)
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
        ten = store.latest_checkpoint(conn)
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
