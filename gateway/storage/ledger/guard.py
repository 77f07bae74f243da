"""The history guard: a gateway's log key signs nothing over a history its last signed head
does not extend (docs/ledger.md §4, "Failing closed").

Owns one gateway process's verdict on its ledger: sound until the stored tree is found not to
be an append-only extension of the last signed checkpoint (the publisher's anchor: the kept
``checkpoint.last``, else the newest stored checkpoint), then corrupt, with the reason, until
the process restarts — an operator must look before anything is signed again.

* Appends (receipts): the writer calls ``check`` with the locked tree before each batch. The
  fast path is the tree this process produced last (no I/O); a larger tree — another gateway's
  or the CLI's appends — must extend the last tree this process verified (no note to read or
  verify: that tree extends the last signed head already): ``check_by_leaves`` appends the few
  leaves since to its frontier (one read in the writer's own transaction), else ``check``
  proves it consistent (one node query); any other tree — the first batch, a rewrite of
  storage — is proven consistent with the last signed head, so no receipt is ever issued over
  a tree that does not extend it.
* Checkpoints: ``sign`` signs through the publisher, which refuses inconsistent heads; a refusal
  makes the guard corrupt.
* Publication: ``published`` is the newest stored checkpoint, verified with the log key and
  never smaller than the largest this process has known signed (its kept note at start, then
  every checkpoint it signed or served): the checkpoint endpoint never goes back, and proofs are
  answered up to its size only, never the live unsigned one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import checkpoint, merkle
from gateway.storage.ledger import publisher
from gateway.storage.ledger.errors import LedgerCorrupt

log = logging.getLogger("enlace.ledger")

#: The error code under which a corrupt ledger refuses exchanges and says so.
CODE = "Server.LedgerCorrupt"
#: Most leaves ``check_by_leaves`` appends (a few ms of hashing) before a proof is cheaper.
MAX_LEAVES = 1024

LeafReader = Callable[[int, int], Sequence[bytes]]
"""The stored leaf hashes of entries [start, end), in order; a shorter list if some are absent."""


class HistoryGuard:
    """Fails closed on a history inconsistent with the last signed head (module docstring)."""

    def __init__(self, signer: checkpoint.NoteSigner, last_file: Path) -> None:
        self._signer = signer
        self._last_file = last_file
        self._lock = threading.Lock()
        self._signing = threading.Lock()
        self._verified: merkle.CompactRange | None = None  # the tree last checked
        self._published: publisher.StoredCheckpoint | None = None
        self._floor = 0
        self.reason: str | None = None
        try:
            kept = publisher.last_signed(signer, self._kept(), None)
        except LedgerCorrupt as exc:
            self.fail(str(exc))
        else:
            self._floor = 0 if kept is None else kept.size

    def _kept(self) -> bytes | None:
        return self._last_file.read_bytes() if self._last_file.exists() else None

    def fail(self, reason: str) -> LedgerCorrupt:
        """Mark the ledger corrupt (the first reason stays) and return the error to raise."""
        with self._lock:
            first = self.reason is None
            if first:
                self.reason = reason
        if first:
            log.critical(
                "ledger history is inconsistent with the last signed checkpoint: "
                "refusing exchanges and signing nothing",
                extra={"code": CODE, "reason": reason},
            )
        return LedgerCorrupt(self.reason)

    def ensure_sound(self) -> None:
        """Raise ``LedgerCorrupt`` once the ledger was found corrupt."""
        if self.reason is not None:
            raise LedgerCorrupt(self.reason)

    def check(self, conn: Connection, tree: merkle.CompactRange) -> None:
        """Before appending to ``tree`` (the locked frontier): it must extend the last signed
        head. Raises ``LedgerCorrupt`` (and stays corrupt) if not."""
        self.ensure_sound()
        verified = self._verified
        if verified is not None and tree.to_bytes() == verified.to_bytes():
            return
        anchor: checkpoint.Checkpoint | None
        try:
            if verified is not None and tree.size > verified.size:
                # ``verified`` extends the last signed head: extending it is enough.
                anchor = checkpoint.Checkpoint(self._signer.name, verified.size, verified.root())
            else:
                latest = publisher.latest_checkpoint(conn)
                anchor = publisher.last_signed(self._signer, self._kept(), latest)
            if anchor is not None:
                publisher.check_extends(conn, anchor, tree.size, tree.root())
        except LedgerCorrupt as exc:
            raise self.fail(str(exc)) from None
        self._verified = tree

    def check_by_leaves(self, tree: merkle.CompactRange, leaves: LeafReader) -> bool:
        """``check`` without a proof, when ``tree`` is the last verified tree plus at most
        ``MAX_LEAVES`` leaves: they are appended to the verified frontier, which must then be
        ``tree``'s (``LedgerCorrupt`` if not) — the same guarantee as a consistency proof,
        from one read of the leaves since. True if so decided; False if the caller must
        ``check`` (no verified tree or not a larger one, too many leaves, leaves missing)."""
        self.ensure_sound()
        verified = self._verified
        if verified is None or not 0 < tree.size - verified.size <= MAX_LEAVES:
            return False
        read = leaves(verified.size, tree.size)
        if len(read) != tree.size - verified.size or any(
            len(leaf) != merkle.HASH_SIZE for leaf in read
        ):
            return False
        grown = merkle.CompactRange(verified.size, list(verified.hashes))
        for leaf in read:
            grown.append(leaf)
        if grown.hashes != tree.hashes:
            raise self.fail(
                f"stored tree {tree.size} is not the verified tree {verified.size} "
                "extended by its stored leaves"
            )
        self._verified = tree
        return True

    def extended(self, tree: merkle.CompactRange) -> None:
        """``tree`` is the checked tree with a batch appended: the next fast path."""
        self._verified = tree

    def sign(
        self,
        engine: sa.Engine,
        via: Callable[[publisher.SigningTimes | None], publisher.StoredCheckpoint] | None = None,
        times: publisher.SigningTimes | None = None,
    ) -> publisher.StoredCheckpoint:
        """Sign a checkpoint of the committed tree (``publisher.sign_checkpoint_kept``), or
        have ``via`` sign it (the same, in another process: ``server.signer_process``);
        ``times``, if given, filled in with how long its phases took."""
        self.ensure_sound()
        # One signer at a time (the periodic one, a citizen's covering head): the kept head
        # must only ever move forward.
        with self._signing:
            try:
                if via is not None:
                    stored = via(times)
                else:
                    stored = publisher.sign_checkpoint_kept(
                        engine, self._signer, self._last_file, times
                    )
            except LedgerCorrupt as exc:
                raise self.fail(str(exc)) from None
        self._raise_floor(stored.size)
        return stored

    def published(self, conn: Connection) -> publisher.StoredCheckpoint | None:
        """The newest stored checkpoint, verified, never smaller than one known signed."""
        self.ensure_sound()
        latest = publisher.latest_checkpoint(conn)
        cached = self._published
        if latest is not None and (cached is None or cached.note != latest.note):
            self._verify(latest)
        size = 0 if latest is None else latest.size
        if size < self._floor:
            raise self.fail(f"stored checkpoints go back from size {self._floor} to {size}")
        self._published = latest
        self._raise_floor(size)
        return latest

    def signed_size(self, conn: Connection) -> int:
        """The newest signed size: proofs are answered up to it, never beyond."""
        head = self.published(conn)
        return 0 if head is None else head.size

    def _verify(self, stored: publisher.StoredCheckpoint) -> None:
        try:
            head = checkpoint.open_checkpoint(stored.note, self._signer.verifier())
        except checkpoint.NoteError as exc:
            raise self.fail(f"stored checkpoint {stored.size} does not verify: {exc}") from None
        if (head.size, head.root_hash) != (stored.size, stored.root):
            raise self.fail(f"stored checkpoint {stored.size} differs from its signed note")

    def _raise_floor(self, size: int) -> None:
        with self._lock:
            self._floor = max(self._floor, size)
