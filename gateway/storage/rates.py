"""Client rates shared by every gateway process, in Redis: one GCRA state per client.

Owns the Redis keys ``enlace:rate:<log>:<client>``, each a client's theoretical arrival time (TAT,
microseconds on Redis's clock) and the script that decides a batch of requests against them.
The algorithm is GCRA (the generic cell rate algorithm), the token bucket of
``gateway.server.limits.gcra`` kept as one number: a request is admitted if, once it is
counted, the TAT is at most ``burst`` emission intervals (1 / rate) ahead of now, and then
moves the TAT one interval on; a refusal moves nothing and answers how long until one would be
admitted. The script runs a batch in its order, on Redis's own clock (``TIME``: the gateways'
clocks never meet), and sets each key once with an expiry when its TAT is reached (an expired
key is a full bucket). Which limits apply, and what a refusal is, are the caller's
(``gateway.server.shared_rates``). ``<log>`` is the deployment's ledger (its checkpoint key's
name and key ID): every gateway of one deployment shares a client's budget, and two
deployments on one Redis database do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

REDIS_PREFIX = "enlace:rate:"

#: One request to decide: the client's key, its emission interval (seconds) and its burst.
Request = tuple[str, float, int]


class RateStore(Protocol):
    def spend(self, requests: Sequence[Request]) -> list[float]: ...

    def close(self) -> None: ...


#: KEYS[i] a client's key; ARGV[2i-1], ARGV[2i] its emission interval (µs) and burst. Answers,
#: for each request in order, 0 (admitted) or the µs until one would be (rounded up).
_SPEND = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tats, changed, waits = {}, {}, {}
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tats[key]
  if tat == nil then
    tat = tonumber(redis.call('GET', key)) or now
  end
  tat = math.min(tat, now + burst * interval)  -- at worst empty under the limit now in force
  local next_tat = math.max(tat, now) + interval
  local wait = next_tat - now - burst * interval
  if wait > 1 then  -- 1 µs of slack for the sums' rounding, as in gcra
    waits[i] = math.ceil(wait)
  else
    tat, changed[key], waits[i] = next_tat, true, 0
  end
  tats[key] = tat
end
for key in pairs(changed) do
  local tat = tats[key]
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
end
return waits
"""


class RedisRates:
    """Client rates as Redis keys, one script call per batch."""

    def __init__(self, url: str, timeout: float, log: str) -> None:
        import redis  # only a deployment that configures Redis needs the package

        self.prefix = f"{REDIS_PREFIX}{log}:"
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._client.register_script(_SPEND)

    def spend(self, requests: Sequence[Request]) -> list[float]:
        """Decide ``requests`` in order: for each, 0 (admitted, counted) or the seconds until
        one of its client's would be."""
        if not requests:
            return []
        keys = [self.prefix + client for client, _, _ in requests]
        args: list[float | int] = []
        for _, interval, burst in requests:
            args += [interval * 1e6, burst]
        waits = self._script(keys=keys, args=args)
        return [wait / 1e6 for wait in waits]

    def close(self) -> None:
        self._client.close()


def open_rates(redis_url: str | None, timeout: float, log: str) -> RateStore | None:
    """The shared rates of the ledger ``log``: Redis if configured; else None (each process
    counts its own)."""
    return RedisRates(redis_url, timeout, log) if redis_url else None
