"""Replay protection: remember every accepted nonce and X-Road-Id for the signature window.

A request older than the window is already refused by its ``created`` time, so a key only has
to be remembered for that long. The store is per process and bounded: the first filter; the
gateway then claims the keys in the store every process shares (``gateway/server/replay_claims``).
A restarted process is seeded from the ledger (``seed``): the X-Road-Ids of the exchanges it
recorded within the window, so the same signed bytes are refused after a restart too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable


class ReplayCache:
    def __init__(self, window_seconds: float, max_entries: int = 2_000_000) -> None:
        self._window = window_seconds
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[key]

    def first_use(self, *keys: str, now: float | None = None) -> bool:
        """Record the keys; False if any of them was seen within the window (a replay)."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        if any(key in self._seen for key in keys):
            return False
        if len(self._seen) + len(keys) > self._max:
            # Full of live entries: refusing is safer than forgetting (fail closed).
            return False
        for key in keys:
            self._seen[key] = now + self._window
        return True

    def forget(self, *keys: str) -> None:
        """Forget keys ``first_use`` just recorded, for a request that then could not be checked
        everywhere (its shared claim failed): sent again, it is checked again."""
        for key in keys:
            self._seen.pop(key, None)

    def seed(self, keys: Iterable[str], now: float | None = None) -> int:
        """Remember ``keys`` as used now (a restarted process's recent history); their count."""
        now = time.monotonic() if now is None else now
        count = 0
        for key in keys:
            if len(self._seen) >= self._max:
                break
            self._seen[key] = now + self._window
            count += 1
        return count
