"""Overload protection of the exchange path: what one client, one address, or everyone at once
may have the gateway do.

* ``InFlight``: a global cap on exchanges in flight; past it an exchange is shed before any
  work (``503 Server.Overloaded``, signed but not ledgered: nothing was done).
* ``ClientLimiter``: per verified client subsystem (``X-Road-Client``), a rate (GCRA: a token
  bucket of rate and burst, kept as one theoretical arrival time, ``gcra``) and a cap on its
  exchanges in flight, the defaults from the settings and a client's own from the registry
  (``enlace client limit``); past either ``429 Client.RateLimited``, ledgered like any refusal.
  With Redis the rate is decided once for every process instead (``shared_rates``, the same
  ``gcra`` in Redis); the exchanges in flight are always this process's.
* ``UnsignedFloods``: requests whose signature did not verify, per address (IPv6: its /64);
  past the bucket they are answered ``429`` without a ledger entry each, and counted, so that
  ``drain`` gives one aggregate entry per address per interval.

Every limit here counts in this process only; time (monotonic seconds) is a parameter. The
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


#: Seconds by which a request may be early and still on time: the rounding of the sums below
#: (a burst at one instant must not lose its last request to it). The Redis script's is 1 µs.
SLACK = 1e-6


def gcra(tat: float, now: float, interval: float, burst: int) -> tuple[float, float]:
    """One request against a client's theoretical arrival time ``tat`` (GCRA), regaining one
    request every ``interval`` seconds up to ``burst``: the TAT after it, and 0 (admitted) or
    the seconds until one would be (refused: the TAT unchanged). A token bucket holding
    ``burst - (tat - now) / interval`` tokens, to ``SLACK``; ``gateway/storage/rates.py`` runs
    the same in Redis. A TAT beyond a full ``burst`` ahead (left by a stricter limit since
    changed) counts as an empty bucket: a client's new limit holds from its next request."""
    tat = min(tat, now + burst * interval)
    counted = max(tat, now) + interval
    wait = counted - now - burst * interval
    if wait > SLACK:
        return tat, wait
    return counted, 0.0


def rate_refused(limit: Limit, wait: float) -> EnlaceError:
    """The refusal of an exchange past its client's rate, ``wait`` seconds before the next."""
    return EnlaceError(
        "Client.RateLimited",
        f"at most {limit.rate:g} exchanges a second (burst {limit.burst})",
        retry_after=max(1, math.ceil(wait)),
    )


class ClientLimiter:
    """Per client: a rate (GCRA) and the exchanges in flight."""

    def __init__(self, default: Limit, max_clients: int = throttle.MAX_CLIENTS) -> None:
        self.default = default
        self._max_clients = max_clients
        self._tats: OrderedDict[str, float] = OrderedDict()  # theoretical arrival times
        self._in_flight: dict[str, int] = {}

    def admit(self, client: str, own: ClientLimit | None, now: float) -> None:
        """Count one exchange of ``client`` in, or refuse it with ``Client.RateLimited``; an
        admitted exchange must be ``release``d when it ends."""
        limit = self.default.overridden(own)
        self.enter(client, limit)
        wait = self.spend(client, limit, now)
        if wait:
            self.release(client)
            raise rate_refused(limit, wait)

    def enter(self, client: str, limit: Limit) -> None:
        """Count one exchange of ``client`` in flight, or refuse it past its concurrency (the
        first check: a refusal spends none of its rate); ``release`` it when it ends."""
        busy = self._in_flight.get(client, 0)
        if busy >= limit.concurrency:
            raise EnlaceError(
                "Client.RateLimited",
                f"at most {limit.concurrency} exchanges of one client at once",
                retry_after=BUSY_RETRY_AFTER,
            )
        self._in_flight[client] = busy + 1

    def spend(self, client: str, limit: Limit, now: float) -> float:
        """One exchange against ``client``'s rate in this process: 0, or the seconds to wait."""
        tat, wait = gcra(self._tats.pop(client, now), now, 1 / limit.rate, limit.burst)
        self._tats[client] = tat  # most recently seen last
        if len(self._tats) > self._max_clients:
            self._tats.popitem(last=False)
        return wait

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
