"""The checkpoint signer's election: one process signs checkpoints at a time.

See docs/ledger.md §4, "Many processes".

Owns the signer role of one gateway process. On PostgreSQL the role is a session advisory lock
(``pg_try_advisory_lock``) held on a dedicated autocommit connection for as long as that
connection lives: a process that dies, or whose link drops, loses it with its session, and the
next process to ask (each asks once per checkpoint interval) takes it over. On SQLite only one
gateway process may use the database (``gateway.storage.exclusive``), so it always signs.

Correctness does not rest on the election: ``publisher.sign_checkpoint`` signs under the
sequencing lock, over the committed tree, only a head extending the newest stored one, so two
signers for a moment (a link that dropped unseen) sign consistent heads. The election keeps the
work, and the witnesses' cosigning, to one process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger("enlace.ledger")

#: The advisory lock's key: "Enlace checkpoint signer" (any constant the deployment shares).
SIGNER_LOCK = 0x456E6C6163650001


class SignerElection:
    """Whether this process is the checkpoint signer; ``holds`` asks again if it is not."""

    def __init__(self, engine: Engine, key: int = SIGNER_LOCK) -> None:
        self._engine = engine
        self._key = key
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Any = None
        self._lock = threading.Lock()
        #: The last answer, for ``/healthz`` (no database round trip there).
        self.signer = not self._postgres

    def holds(self) -> bool:
        """True if this process holds the signer role now, trying to take it if not. A lost
        connection is a lost role (the server released the lock with the session)."""
        if not self._postgres:
            return True
        with self._lock:
            try:
                held = self._confirm() if self._conn is not None else self._try_take()
            except Exception as exc:  # the database is away: not the signer until it is back
                log.warning("signer election failed", extra={"error": type(exc).__name__})
                self._drop()
                held = False
            if held != self.signer:
                log.info("checkpoint signer role " + ("taken" if held else "lost"))
            self.signer = held
            return held

    def _try_take(self) -> bool:
        conn = self._engine.raw_connection()
        try:
            conn.driver_connection.autocommit = True  # type: ignore[union-attr]
            with contextlib.closing(conn.cursor()) as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
                row = cursor.fetchone()
            taken = bool(row and row[0])
            if not taken:
                # Back to the pool as it came: an autocommit connection there would end the
                # next user's transaction after each statement — the ledger writer's, whose
                # state-row lock then orders nothing (duplicate indexes, a false corrupt).
                conn.driver_connection.autocommit = False  # type: ignore[union-attr]
        except BaseException:
            conn.invalidate()  # never back to the pool in an unknown mode
            raise
        if taken:
            self._conn = conn  # kept: the role lives as long as this session
        else:
            conn.close()
        return taken

    def _confirm(self) -> bool:
        """The session still exists and still holds the lock."""
        with contextlib.closing(self._conn.cursor()) as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = %s",
                (self._key,),
            )
            row = cursor.fetchone()
        held = bool(row and row[0])
        if not held:
            self._drop()
        return held

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # a broken connection is dropped either way
                conn.invalidate()

    def release(self) -> None:
        """Give up the role (an exiting process): the others take it at their next try."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception), contextlib.closing(self._conn.cursor()) as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
                self._drop()
            self.signer = not self._postgres
