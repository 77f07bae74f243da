"""Replay claims shared by every gateway process: a PostgreSQL table, or Redis when configured.

Owns ``replay_claims`` (a key's SHA-256, unique, and when its claim expires, in milliseconds
since the epoch) and the Redis keys ``enlace:replay:<hex>``. A key is claimed once per window,
by whichever process stores it first: ``claim`` stores a batch of keys in one statement (one
pipeline on Redis) and answers which of them this call claimed; a key still claimed by anyone
(another process, this one before a restart) is not among them. An expired claim may be taken
again (the signature window refuses the request by then anyway); ``purge`` deletes expired rows
(Redis expires its keys itself). Decisions — which request a key belongs to, what a refusal
is — are the caller's (``gateway.server.replay_claims``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from gateway.storage.db import replay_claims

REDIS_PREFIX = b"enlace:replay:"


class ClaimStore(Protocol):
    def claim(self, keys: Sequence[bytes], expires_ms: int, now_ms: int) -> set[bytes]: ...

    def purge(self, now_ms: int) -> int: ...

    def close(self) -> None: ...


_CLAIM = (
    f"INSERT INTO {replay_claims.name} (key, expires_at) "
    "SELECT * FROM unnest(%s::bytea[], %s::int8[]) "
    f"ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at "
    f"WHERE {replay_claims.name}.expires_at <= %s RETURNING key"
)


class PostgresClaims:
    """Claims in ``replay_claims``, on one connection of ``engine`` kept for the purpose."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None

    def _run(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        try:
            with contextlib.closing(self._conn.cursor()) as cursor:
                cursor.execute(statement, params)
                rows = cursor.fetchall() if cursor.description else [(cursor.rowcount,)]
            self._conn.commit()  # durable: a restarted process must still refuse them
        except BaseException:
            self.close()  # the next batch gets a fresh connection
            raise
        return rows

    def claim(self, keys: Sequence[bytes], expires_ms: int, now_ms: int) -> set[bytes]:
        """Claim ``keys`` (distinct) until ``expires_ms``; the ones this call claimed."""
        if not keys:
            return set()
        rows = self._run(_CLAIM, (list(keys), [expires_ms] * len(keys), now_ms))
        return {bytes(key) for (key,) in rows}

    def purge(self, now_ms: int) -> int:
        statement = f"DELETE FROM {replay_claims.name} WHERE expires_at <= %s"
        return int(self._run(statement, (now_ms,))[0][0])

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.invalidate()


#: ``SET key 1 NX PX ttl`` for every key, in one command (a pipeline of SETs cost ~60 µs of
#: client CPU per key); 1 for each key set, 0 for each already there.
_REDIS_CLAIM = """
local ttl, claimed = ARGV[1], {}
for i, key in ipairs(KEYS) do
  claimed[i] = redis.call('SET', key, '1', 'NX', 'PX', ttl) and 1 or 0
end
return claimed
"""


class RedisClaims:
    """Claims as Redis keys (``SET NX PX``), one script call per batch."""

    def __init__(self, url: str, timeout: float) -> None:
        import redis  # only a deployment that configures Redis needs the package

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._client.register_script(_REDIS_CLAIM)

    def claim(self, keys: Sequence[bytes], expires_ms: int, now_ms: int) -> set[bytes]:
        if not keys:
            return set()
        ttl = max(1, expires_ms - now_ms)
        names = [REDIS_PREFIX + key for key in keys]
        stored = self._script(keys=names, args=[ttl])
        return {key for key, done in zip(keys, stored, strict=True) if done}

    def purge(self, now_ms: int) -> int:
        return 0  # Redis expires the keys itself

    def close(self) -> None:
        self._client.close()


def open_store(engine: Engine, redis_url: str | None, timeout: float) -> ClaimStore | None:
    """The shared store: Redis if configured, else PostgreSQL's table; None on SQLite, whose one
    gateway process (``exclusive``) needs only its own cache, seeded from the ledger."""
    if redis_url:
        return RedisClaims(redis_url, timeout)
    if engine.dialect.name == "postgresql":
        return PostgresClaims(engine)
    return None
