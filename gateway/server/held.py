"""Over-limit refusals held before they are sent (``Client.RateLimited`` of a verified client).

A closed-loop client that floods is answered 429 as fast as the gateway can sign and ledger,
so it takes the event loop from everyone else. Holding each such refusal for a bounded delay
(``min(Retry-After, ENLACE_CLIENT_THROTTLE_DELAY)``) slows that client to its connections ÷
the delay. The hold happens after the exchange left the global in-flight cap and its client's
concurrency count, so a held refusal takes no one's slot. At most ``cap`` are held at once
(memory); past it a refusal is sent at once. ``release_all`` sends every held one now (stop).
"""

from __future__ import annotations

import asyncio


class HeldRefusals:
    """The refusals being held, a count of all ever held, and their bound."""

    def __init__(self, delay: float, cap: int) -> None:
        self.delay = delay
        self.cap = cap
        self.count = 0  # held now
        self.total = 0  # held since start
        self.unheld = 0  # sent at once because ``cap`` were held
        self._waiters: set[asyncio.Future[None]] = set()

    async def hold(self, retry_after: int) -> bool:
        """Wait ``min(retry_after, delay)`` seconds, unless ``cap`` refusals already wait;
        whether this one was held."""
        seconds = min(float(retry_after), self.delay)
        if seconds <= 0:
            return False
        if self.count >= self.cap:
            self.unheld += 1
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        self.count += 1
        self.total += 1
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            self.count -= 1
            self._waiters.discard(waiter)
        return True

    def release_all(self) -> None:
        """Send every held refusal now (the gateway stops, or a test says so)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
