"""Building ledgers for the ledger tests: records, batched appends, a checkpoint key."""

from __future__ import annotations

import json
import random
from pathlib import Path

import sqlalchemy as sa

from gateway.devtools import devca
from gateway.kernel.ledger import checkpoint, merkle, record
from gateway.storage.db import (
    Database,
    ledger_checkpoints,
    ledger_entries,
    ledger_nodes,
    ledger_state,
)
from gateway.storage.ledger import publisher, sequencer
from tests.factories import exchange_record


def exchange(n: int, subjects: list[str] | None = None) -> dict:
    return exchange_record(n, subjects=[f"{n % 5:064x}"] if subjects is None else subjects)


def fill(
    database: Database, count: int, *, start: int = 0, seed: int = 1
) -> list[sequencer.Appended]:
    """Append ``count`` exchange records in batches of random sizes (1-17)."""
    rng = random.Random(seed)
    appended: list[sequencer.Appended] = []
    n = start
    while n < start + count:
        batch = [exchange(i) for i in range(n, min(n + rng.randint(1, 17), start + count))]
        with database.write.begin() as conn:
            appended += sequencer.append(conn, batch)
        n += len(batch)
    return appended


def bodies(database: Database) -> list[bytes]:
    """Every stored record body, in index order (the leaf data)."""
    with database.read.connect() as conn:
        rows = conn.execute(sa.select(ledger_entries.c.body).order_by(ledger_entries.c.idx))
        return [body.encode() for (body,) in rows]


def checkpoint_key(folder: Path) -> tuple[checkpoint.NoteSigner, Path]:
    """A gateway checkpoint key made by the PKI initialisation; returns it and the vkey file."""
    made, _ = devca.init_pki(folder, "MX", hosts=["localhost"])
    return made.load_checkpoint_signer(), made.checkpoint_vkey


def sign(database: Database, signer: checkpoint.NoteSigner) -> publisher.StoredCheckpoint:
    with database.write.begin() as conn:
        return publisher.sign_checkpoint(conn, signer)


def rewrite_consistently(ledger: Database, index: int) -> None:
    """Rewrite record ``index`` with its leaf hash, every node and the state, and delete the
    checkpoints that covered it: storage is then self-consistent."""
    with ledger.write.begin() as conn:
        rows = conn.execute(
            sa.select(ledger_entries.c.idx, ledger_entries.c.body).order_by(ledger_entries.c.idx)
        ).all()
        forged = record.canonical({**json.loads(rows[index].body), "purpose": "fraude"})
        tree, nodes = merkle.CompactRange(), []
        for idx, body in rows:
            leaf = merkle.leaf_hash(forged if idx == index else body.encode())
            nodes += [{"level": lv, "idx": i, "hash": h} for lv, i, h in tree.append(leaf)]
        conn.execute(
            sa.update(ledger_entries)
            .where(ledger_entries.c.idx == index)
            .values(body=forged.decode(), leaf_hash=merkle.leaf_hash(forged))
        )
        conn.execute(sa.delete(ledger_nodes))
        conn.execute(sa.insert(ledger_nodes), nodes)
        conn.execute(sa.update(ledger_state).values(compact_range=tree.to_bytes()))
        conn.execute(sa.delete(ledger_checkpoints).where(ledger_checkpoints.c.size > index))


def truncate_consistently(ledger: Database, size: int) -> None:
    """Cut the ledger back to ``size`` entries with its nodes and state, and delete every
    checkpoint: storage is then self-consistent."""
    with ledger.write.begin() as conn:
        conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx >= size))
        leaves = conn.execute(
            sa.select(ledger_entries.c.leaf_hash).order_by(ledger_entries.c.idx)
        ).scalars()
        tree, nodes = merkle.CompactRange(), []
        for leaf in leaves:
            nodes += [{"level": lv, "idx": i, "hash": h} for lv, i, h in tree.append(bytes(leaf))]
        conn.execute(sa.delete(ledger_nodes))
        conn.execute(sa.insert(ledger_nodes), nodes)
        conn.execute(sa.update(ledger_state).values(size=size, compact_range=tree.to_bytes()))
        conn.execute(sa.delete(ledger_checkpoints))
