"""The checkpoint publisher: signs the ledger's tree heads and keeps what it signed.

Owns ``ledger_checkpoints`` (every signed note, with the witnesses' cosignature lines appended)
and the gateway's own copy of its last signed note, the ``checkpoint.last`` file.

Invariants: a checkpoint is signed under the sequencing lock, over the committed tree only, and
only once the tree ends with a map head (``gateway.storage.ledger.subjectmap.close``; most of
its fold made before the lock, ``subjectmap.prefold``, nothing written until under it); the
publisher never signs a head that is not an append-only extension of the last one it signed
(``LedgerCorrupt`` instead: a log must never sign inconsistent heads). That last head is the
kept file when there is one — outside the database, so that rewriting storage and deleting its
checkpoints cannot move it — else the newest stored checkpoint; either way its *signed* root is
used, never the ``root`` column. The note formats live in ``gateway.kernel.ledger.checkpoint``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.durable import replace_durably
from gateway.kernel.ledger import checkpoint, merkle
from gateway.storage import db
from gateway.storage.db import ledger_checkpoints
from gateway.storage.ledger import driver, subjectmap
from gateway.storage.ledger.errors import LedgerCorrupt


@dataclasses.dataclass(frozen=True)
class StoredCheckpoint:
    """A signed tree head as stored: ``note`` is the signed note, cosignatures included."""

    size: int
    root: bytes
    note: bytes
    created_at: dt.datetime
    cosigned_at: dt.datetime | None


@dataclasses.dataclass
class SigningTimes:
    """How long one signing took, in seconds, by phase (``sign_checkpoint_kept`` fills it in):
    the fold before the signing transaction, the wait for SQLite's write turn, and the signing
    transaction itself, ``locked``: the sequencing lock (and on SQLite the write turn) is held
    that long, and every append waits for it (on PostgreSQL, which has no write turn, the wait
    for the tree's row lock falls in ``locked``)."""

    fold: float = 0.0
    wait: float = 0.0
    locked: float = 0.0


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back naive; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _checkpoint(row: Any) -> StoredCheckpoint:
    cosigned_at = _utc(row.cosigned_at) if row.cosigned_at is not None else None
    return StoredCheckpoint(
        row.size, bytes(row.root), row.note.encode(), _utc(row.created_at), cosigned_at
    )


def latest_checkpoint(conn: Connection, *, cosigned: bool = False) -> StoredCheckpoint | None:
    """The newest checkpoint (the newest carrying a cosignature if ``cosigned``), if any."""
    query = sa.select(ledger_checkpoints)
    if cosigned:
        query = query.where(ledger_checkpoints.c.cosigned_at.is_not(None))
    row = conn.execute(query.order_by(ledger_checkpoints.c.size.desc()).limit(1)).first()
    return _checkpoint(row) if row else None


def checkpoints(
    conn: Connection, *, cosigned: bool = False, newest_first: bool = False, page: int = 1000
) -> Iterator[StoredCheckpoint]:
    """Every stored checkpoint, oldest first (or newest first), read a page at a time."""
    column = ledger_checkpoints.c.size
    bound: int | None = None
    while True:
        query = sa.select(ledger_checkpoints)
        if cosigned:
            query = query.where(ledger_checkpoints.c.cosigned_at.is_not(None))
        if bound is not None:
            query = query.where(column < bound if newest_first else column > bound)
        rows = conn.execute(
            query.order_by(column.desc() if newest_first else column).limit(page)
        ).all()
        yield from (_checkpoint(row) for row in rows)
        if len(rows) < page:
            return
        bound = rows[-1].size


def _anchor(note: bytes, signer: checkpoint.NoteSigner, what: str) -> checkpoint.Checkpoint:
    try:
        return checkpoint.open_checkpoint(note, signer.verifier())
    except checkpoint.NoteError as exc:
        raise LedgerCorrupt(f"{what} does not verify with the checkpoint key: {exc}") from None


def last_signed(
    signer: checkpoint.NoteSigner, last: bytes | None, latest: StoredCheckpoint | None
) -> checkpoint.Checkpoint | None:
    """The head a new checkpoint must extend: the kept note ``last``, else the newest stored."""
    if last is not None:
        return _anchor(last, signer, "the last signed checkpoint")
    if latest is not None:
        return _anchor(latest.note, signer, f"stored checkpoint {latest.size}")
    return None


def check_extends(conn: Connection, anchor: checkpoint.Checkpoint, size: int, root: bytes) -> None:
    """Refuse (``LedgerCorrupt``) a tree of ``size`` and ``root`` not extending ``anchor``."""
    try:
        proof = merkle.consistency_proof(anchor.size, size, driver.node_reader(conn))
        merkle.verify_consistency(anchor.size, size, proof, anchor.root_hash, root)
    except (ValueError, merkle.MerkleError) as exc:
        raise LedgerCorrupt(
            f"tree of size {size} is not an extension of signed checkpoint {anchor.size}: {exc}"
        ) from None


def sign_checkpoint(
    conn: Connection,
    signer: checkpoint.NoteSigner,
    *,
    last: bytes | None = None,
    prefolded: subjectmap.Prefold | None = None,
) -> StoredCheckpoint:
    """Sign and store a checkpoint of the committed tree, unless one of its size exists.

    The tree is first closed with a map head (``subjectmap.close``: the subject rows appended
    since the previous one folded into the map, on top of ``prefolded``, the fold made before
    the lock, if any) unless its last entry is one, so every signed checkpoint is complete.
    Holds the sequencing lock, and refuses (``LedgerCorrupt``) to sign a head that is not an
    append-only extension of the last signed one: ``last``, the gateway's own copy of the last
    note it signed, else the newest stored checkpoint (see the module docstring).
    """
    head = driver.locked_tree(conn)
    latest = latest_checkpoint(conn)
    anchor = last_signed(signer, last, latest)
    if anchor is not None:
        check_extends(conn, anchor, head.size, head.root())
    # Only complete checkpoints are signed: the tree ends with a map head (docs/ledger.md §12).
    head = subjectmap.close(conn, head, prefolded)
    root = head.root()
    if latest is not None and latest.size == head.size and latest.root == root:
        return latest
    body = checkpoint.Checkpoint(signer.name, head.size, root).body()
    stored = StoredCheckpoint(
        head.size, root, checkpoint.sign_note(body, [signer]), dt.datetime.now(dt.UTC), None
    )
    conn.execute(
        sa.insert(ledger_checkpoints).values(
            size=stored.size,
            root=stored.root,
            note=stored.note.decode(),
            created_at=stored.created_at,
        )
    )
    return stored


def _keep(stored: StoredCheckpoint, signer: checkpoint.NoteSigner, last_file: Path) -> None:
    """Write ``stored`` (without cosignatures) to ``last_file`` unless it already keeps a
    checkpoint as large: another process may have signed (and kept) a larger one meanwhile."""
    current = last_file.read_bytes() if last_file.exists() else None
    if current is not None and _anchor(current, signer, str(last_file)).size >= stored.size:
        return
    body = checkpoint.Checkpoint(signer.name, stored.size, stored.root).body()
    # Durably: a head lost to a crash would let a rolled-back database pass as extending it.
    replace_durably(last_file, checkpoint.sign_note(body, [signer]))  # Ed25519: same bytes


def sign_checkpoint_kept(
    engine: sa.Engine,
    signer: checkpoint.NoteSigner,
    last_file: Path,
    times: SigningTimes | None = None,
) -> StoredCheckpoint:
    """``sign_checkpoint`` in its own transaction, anchored on and then updating ``last_file``
    (the gateway's own copy of its last signed checkpoint; first run: the database's). The
    bulk of the map's fold is made first, without the lock (``subjectmap.prefold``), so
    appends wait only for the entries that arrive meanwhile. ``times``, if given, is filled in
    with how long each phase took (of a signing that fails: those it finished)."""
    times = SigningTimes() if times is None else times
    started = time.perf_counter()
    last = last_file.read_bytes() if last_file.exists() else None
    prefolded = subjectmap.prefold(engine)
    folded = time.perf_counter()
    times.fold = folded - started
    with db.writing(engine):
        turn = time.perf_counter()
        times.wait = turn - folded
        with engine.begin() as conn:
            stored = sign_checkpoint(conn, signer, last=last, prefolded=prefolded)
        times.locked = time.perf_counter() - turn
    _keep(stored, signer, last_file)
    return stored


def add_cosignature(conn: Connection, size: int, line: bytes) -> StoredCheckpoint:
    """Append a witness's cosignature line to the stored checkpoint of ``size``."""
    row = conn.execute(
        sa.select(ledger_checkpoints).where(ledger_checkpoints.c.size == size).with_for_update()
    ).one()
    now = dt.datetime.now(dt.UTC)
    note = row.note + line.decode()
    conn.execute(
        sa.update(ledger_checkpoints)
        .where(ledger_checkpoints.c.size == size)
        .values(note=note, cosigned_at=now)
    )
    return dataclasses.replace(_checkpoint(row), note=note.encode(), cosigned_at=now)
