"""Overload protection of the exchange path: what one client, one address, or everyone at once
may have the gateway do.

* ``InFlight``: a global cap on exchanges in flight; past it an exchange is shed before any
  work (``503 Server.Overloaded``, signed but not ledgered: nothing was done).
* ``ClientLimiter``: per verified client subsystem (``X-Road-Client``), a token bucket (rate,
  burst) and a cap on its exchanges in flight, the defaults from the settings and a client's
  own from the registry (``enlace client limit``); past either ``429 Client.RateLimited``,
  ledgered like any refusal.
* ``UnsignedFloods``: requests whose signature did not verify, per address (IPv6: its /64);
  past the bucket they are answered ``429`` without a ledger entry each, and counted, so that
  ``drain`` gives one aggregate entry per address per interval.

Every limit counts in this process only; time (monotonic seconds) is a parameter. The bucket
tables keep at most ``throttle.MAX_CLIENTS`` keys, forgetting the quietest first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from gateway.kernel.errors import EnlaceError
from gateway.server import throttle
from gateway.storage.registry import ClientLimit

#: What a client waits before asking again when it has too many exchanges in flight, or
#: everyone has: they end within a source time-out, usually far sooner.
BUSY_RETRY_AFTER = 1


@dataclass(frozen=True)
class Limit:
    rate: float  # requests a second, regained
    burst: int
    concurrency: int

    def overridden(self, own: ClientLimit | None) -> Limit:
        """These limits with a client's own, where it has one."""
        if own is None:
            return self
        return Limit(
            own.rate if own.rate is not None else self.rate,
            own.burst if own.burst is not None else self.burst,
            own.concurrency if own.concurrency is not None else self.concurrency,
        )


class InFlight:
    """A count of exchanges being served, and the cap beyond which new ones are shed."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.count = 0

    def enter(self) -> bool:
        if self.count >= self.cap:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        self.count -= 1


class ClientLimiter:
    """Per client: a token bucket and the exchanges in flight."""

    def __init__(self, default: Limit, max_clients: int = throttle.MAX_CLIENTS) -> None:
        self.default = default
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._in_flight: dict[str, int] = {}

    def admit(self, client: str, own: ClientLimit | None, now: float) -> None:
        """Count one exchange of ``client`` in, or refuse it with ``Client.RateLimited``; an
        admitted exchange must be ``release``d when it ends."""
        limit = self.default.overridden(own)
        busy = self._in_flight.get(client, 0)
        if busy >= limit.concurrency:
            raise EnlaceError(
                "Client.RateLimited",
                f"at most {limit.concurrency} exchanges of one client at once",
                retry_after=BUSY_RETRY_AFTER,
            )
        tokens, then = self._buckets.pop(client, (float(limit.burst), now))
        tokens, wait = throttle.spend(tokens, now - then, limit.rate, limit.burst)
        self._buckets[client] = (tokens, now)  # most recently seen last
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        if wait:
            raise EnlaceError(
                "Client.RateLimited",
                f"at most {limit.rate:g} exchanges a second (burst {limit.burst})",
                retry_after=math.ceil(wait),
            )
        self._in_flight[client] = busy + 1

    def release(self, client: str) -> None:
        left = self._in_flight.pop(client) - 1
        if left:
            self._in_flight[client] = left


class UnsignedFloods:
    """Which unverified requests are ledgered one by one, and a count of the rest by address."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self._attempts = throttle.AttemptLimiter(per_minute, burst)
        self._counts: dict[str, int] = {}

    def suppressed(self, peer: str | None, now: float) -> int:
        """0 if this request from ``peer`` is to be ledgered as usual; else the seconds after
        which the next one will be (it is counted instead)."""
        key = throttle.client_key(peer)
        wait = self._attempts.take(key, now)
        if not wait:
            return 0
        if key in self._counts or len(self._counts) < throttle.MAX_CLIENTS:
            self._counts[key] = self._counts.get(key, 0) + 1
        else:
            self._counts["*"] = self._counts.get("*", 0) + 1  # the table is full: in one line
        return max(1, math.ceil(wait))

    def drain(self) -> dict[str, int]:
        """The requests not ledgered since the last drain, by address; the count restarts."""
        counts, self._counts = self._counts, {}
        return counts
