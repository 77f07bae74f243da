"""The HTTP connection guard: what a slow or greedy peer may hold of the server.

uvicorn bounds the idle time between requests, but (with httptools) neither the size of a
request's headers, nor the time they take to arrive, nor how many connections one address
holds: a few thousand connections that each send a byte now and then would hold every slot of
``limit_concurrency`` forever, and everyone else would be answered an unsigned 503. This
protocol (uvicorn's httptools one, extended) adds all three:

* a **header deadline**: from the connection's opening (after the TLS handshake), and from the
  first byte of each further request on it, its headers must be complete within
  ``header_timeout`` seconds, else the connection is aborted (no TLS close handshake is waited
  for: the peer is the slow one);
* a **head cap**: a request whose line and headers pass ``MAX_HEAD`` bytes before they are
  complete has its connection aborted: httptools sets no bound of its own, and the exchange's
  own limit (``parse.MAX_HEADERS_TOTAL``, a signed refusal) is checked only once the headers
  are all in memory;
* a **cap per address** (IPv6: its /64, as ``throttle.client_key``): a peer already holding
  ``max_connections_per_address`` connections has a new one aborted at once. A trusted proxy
  (``ENLACE_TRUSTED_PROXIES``) is not capped: it carries every client's connections and caps
  them per client itself (docs/nginx/enlace.conf's ``limit_conn``); the header deadline and
  ``limit_concurrency`` still hold for it.

The body's own deadline is the exchange's (``exchange/parse.py``), answered as a signed
refusal.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Collection
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.kernel.settings import Settings
from gateway.server.exchange.parse import MAX_HEADERS_TOTAL
from gateway.server.throttle import client_key

#: Bytes of a request line and headers received before they are complete: the exchange's own
#: limit with room for the request line (httptools refuses a longer URL itself).
MAX_HEAD = MAX_HEADERS_TOTAL + 96 * 1024


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a head cap and a cap per address;
    a server uses a subclass made by ``guarded_protocol`` (its own settings and count)."""

    header_timeout: float
    per_address: int
    open_by_address: Counter[str]
    proxies: Collection[ipaddress.IPv4Network | ipaddress.IPv6Network]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address: str | None = None  # counted against, once accepted
        self._deadline: asyncio.TimerHandle | None = None
        self._heading = False  # between a request's first byte and the end of its headers
        self._head = 0  # bytes received since, in the chunks after the first

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else None
        address = client_key(host)
        if self.open_by_address[address] >= self.per_address and not self._proxy(host):
            transport.abort()  # type: ignore[attr-defined]
            return
        self.open_by_address[address] += 1
        self._address = address
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def _proxy(self, host: str | None) -> bool:
        if not self.proxies or not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return  # refused at once: never counted, never served
        self._disarm()
        self.open_by_address[self._address] -= 1
        if not self.open_by_address[self._address]:
            del self.open_by_address[self._address]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first byte of a further request on a kept-alive connection
        # A chunk counts if the headers were begun before it and are not done after it: the
        # chunk they begin in may also end the previous request's body, however long.
        heading = self._heading
        super().data_received(data)
        if heading and self._heading:
            self._head += len(data)
            if self._head > MAX_HEAD and not self.transport.is_closing():
                self.transport.abort()

    def on_message_begin(self) -> None:
        self._heading, self._head = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._heading = False
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.abort()


def guarded_protocol(settings: Settings) -> type[GuardedProtocol]:
    """The protocol class for one server: its connections share one count per address."""
    limits = {
        "header_timeout": settings.header_timeout,
        "per_address": settings.max_connections_per_address,
        "open_by_address": Counter(),
        "proxies": [ipaddress.ip_network(n) for n in settings.trusted_proxies],
    }
    return type("GuardedProtocol", (GuardedProtocol,), limits)
