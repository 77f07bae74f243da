"""Attempt limits for the unauthenticated citizen endpoints (challenge and login).

A token bucket per client address, in memory: ``burst`` attempts at once, regained at
``per_minute``. An IPv6 client is counted by its /64 (what one line or host is usually given;
by single address the limit would mean nothing). The table keeps at most ``max_clients``
buckets and forgets the least recently seen first; a forgotten bucket starts full again, which
only forgives the client that has been quiet longest.

Each gateway process counts on its own. The address is the TCP peer's; forwarding headers are
believed only from a trusted proxy (``ENLACE_TRUSTED_PROXIES``: uvicorn then puts the client's
address in the request, ``run.py``), since anyone else can write them.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

MAX_CLIENTS = 10_000


def client_key(host: str | None) -> str:
    """The bucket a peer address counts against: the address, or its /64 for IPv6."""
    if not host:
        return "-"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # not an IP (a Unix socket, a test client): count it as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def spend(tokens: float, elapsed: float, rate: float, burst: float) -> tuple[float, float]:
    """One token from a bucket that held ``tokens`` ``elapsed`` seconds ago, regaining ``rate``
    a second up to ``burst``: the tokens left, and 0 (spent) or the seconds until one is."""
    tokens = min(burst, tokens + max(0.0, elapsed) * rate)
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) / rate


class AttemptLimiter:
    """Token buckets by client key; time (monotonic seconds) is a parameter."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = MAX_CLIENTS) -> None:
        if per_minute <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate, burst and table size must be positive")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, now: float) -> float:
        """Spend one attempt: 0 if ``client`` may go ahead, else the seconds until it may."""
        tokens, then = self._buckets.pop(client, (self._burst, now))
        tokens, wait = spend(tokens, now - then, self._rate, self._burst)
        self._buckets[client] = (tokens, now)  # most recently seen last
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return wait
