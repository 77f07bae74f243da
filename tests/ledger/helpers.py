"""Building ledgers for the ledger tests: records, batched appends, a checkpoint key."""

from __future__ import annotations

import random
from pathlib import Path

import sqlalchemy as sa

from gateway.devtools import devca
from gateway.kernel.ledger import checkpoint
from gateway.storage.db import Database, ledger_entries
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
