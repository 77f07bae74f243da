"""ENLACE_TRUSTED_PROXIES: forwarding headers believed from those addresses only, and their
connections not capped per address (the proxy caps per client itself)."""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel.settings import Settings, SettingsError
from gateway.server.run import running
from gateway.storage.db import Database, ledger_entries

PROXY, OTHER = "127.0.0.3", "127.0.0.2"
#: A rate so slow that no token comes back during a test: the unsigned budget is exact.
STILL = 1e-6


def test_trusted_proxies_are_addresses_or_networks_and_nothing_else() -> None:
    settings = Settings.from_env(trusted_proxies="127.0.0.1, 10.0.0.0/8,::1")
    assert settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert Settings().trusted_proxies == ()
    for bad in ("*", "proxy.example", "10.0.0.0/33"):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env(trusted_proxies=bad)
        assert refused.value.code == "config.invalid"


def _floods(database: Database) -> dict[str, int]:
    with database.read.connect() as conn:
        bodies = conn.execute(
            sa.select(ledger_entries.c.body).where(ledger_entries.c.kind == "flood")
        ).scalars()
        counts: dict[str, int] = {}
        for body in bodies:
            flood = json.loads(body)
            counts[flood["address"]] = counts.get(flood["address"], 0) + flood["count"]
    return counts


def _unsigned(url: str, context: ssl.SSLContext, source: str, forwarded: str, n: int) -> None:
    transport = httpx.HTTPTransport(verify=context, local_address=source)
    with httpx.Client(transport=transport, timeout=30) as http:
        for _ in range(n):
            answer = http.get(
                f"{url}/r1/{bootstrap.CURP_SERVICE}", headers={"X-Forwarded-For": forwarded}
            )
            assert answer.status_code in (400, 429)


@pytest.mark.parametrize(
    ("trusted", "proxy"),
    [((PROXY,), PROXY), ((), "127.0.0.1")],  # 127.0.0.1: what uvicorn alone would believe
    ids=["proxy-trusted", "none-trusted"],
)
def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    dev: bootstrap.DevInstance, trusted: tuple[str, ...], proxy: str
) -> None:
    burst, sent = 1, 4
    settings = dev.settings.model_copy(
        update={
            "trusted_proxies": trusted,
            "unsigned_per_minute": STILL,
            "unsigned_burst": burst,
            "unsigned_flood_interval": 3600,  # recorded once, when the gateway stops
        }
    )
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with running(settings) as url:
        _unsigned(url, context, proxy, "198.51.100.7", sent)
        _unsigned(url, context, OTHER, "198.51.100.8", sent)
    over = sent - burst
    if trusted:  # the proxy's header names the client; the other peer's header is ignored
        assert _floods(dev.database) == {"198.51.100.7": over, OTHER: over}
    else:  # nobody's header is believed, loopback's neither
        assert _floods(dev.database) == {proxy: over, OTHER: over}


async def _held(port: int, context: ssl.SSLContext, source: str, count: int) -> list[bool]:
    """Open ``count`` connections from ``source`` at once, then ask each for ``/livez``:
    which of them were served (the others were closed on arrival)."""
    streams = [
        await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, local_addr=(source, 0), server_hostname="127.0.0.1"
        )
        for _ in range(count)
    ]

    async def served(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            writer.write(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 60)
        except (ConnectionError, OSError, ssl.SSLError):
            return False
        finally:
            writer.close()
        return line.startswith(b"HTTP/1.1 200")

    return list(await asyncio.gather(*(served(r, w) for r, w in streams)))


def test_a_trusted_proxy_is_not_capped_per_address(dev: bootstrap.DevInstance) -> None:
    cap, opened = 2, 5
    settings = dev.settings.model_copy(
        update={"trusted_proxies": (PROXY,), "max_connections_per_address": cap}
    )
    context = ssl.create_default_context(cafile=str(dev.pki.ca_cert))
    with running(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        from_proxy = asyncio.run(_held(port, context, PROXY, opened))
        from_other = asyncio.run(_held(port, context, OTHER, opened))
    assert from_proxy == [True] * opened
    assert sum(from_other) == cap
