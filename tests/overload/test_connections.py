"""What a slow or greedy peer may hold of the server: header deadline, cap per address, body
deadline, and an exit on SIGTERM that idle keep-alive clients cannot hold up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel.protocol import headers as h
from gateway.server.guard import MAX_HEAD
from gateway.server.run import free_port, running
from gateway.storage.db import ledger_entries
from tests.e2e.helpers import error_code
from tests.e2e.test_layers import _wait_until_serving

#: Slow connections opened at once. The issue's attack used 2,100; CI machines run several
#: helpers on two cores, so the default is 300 — the server's slots are scaled to the same
#: count (``max_concurrency``), which is what makes it an attack at any size.
#: ``ENLACE_TEST_SLOW_CONNECTIONS=2100`` runs it at full size (it needs ~2,200 descriptors).
SLOW = int(os.environ.get("ENLACE_TEST_SLOW_CONNECTIONS", "300"))
#: A partial request: headers begun, never finished.
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
#: The normal client's own address: another loopback address than the attacker's.
NORMAL_ADDRESS = "127.0.0.2"
#: Generous bounds for a loaded machine; each test states the property it bounds.
BOUND = 60.0


def _tls(dev: bootstrap.DevInstance) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dev.pki.ca_cert))


async def _open_slow(port: int, context: ssl.SSLContext, count: int) -> list[asyncio.StreamReader]:
    """``count`` TLS connections, each with a partial request sent."""

    async def one() -> asyncio.StreamReader:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(PARTIAL)
        await writer.drain()
        asyncio.get_running_loop().create_task(_trickle(writer))
        return reader

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _trickle(writer: asyncio.StreamWriter) -> None:
    """A byte every half second, as the attack did (every 5 s): never a complete header."""
    try:
        while not writer.is_closing():
            await asyncio.sleep(0.5)
            writer.write(b"a")
            await writer.drain()
    except (ConnectionError, OSError):
        pass


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), BOUND) == b""
    except TimeoutError:  # an OSError too: still open after BOUND seconds
        return False
    except (ConnectionError, OSError, ssl.SSLError):
        return True


async def _normal_healthz(url: str, context: ssl.SSLContext, deadline: float) -> float:
    """Seconds until a normal client (its own address) gets an answer of 200."""
    started = time.monotonic()
    transport = httpx.AsyncHTTPTransport(verify=context, local_address=NORMAL_ADDRESS)
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the normal client was starved")


def test_slow_partial_connections_are_closed_and_do_not_starve_a_normal_client(
    dev: bootstrap.DevInstance,
) -> None:
    header_timeout = 2.0
    settings = dev.settings.model_copy(
        update={
            "max_concurrency": SLOW,  # the slow connections alone would take every slot
            "max_connections_per_address": SLOW + 10,  # here the header deadline must do it
            "header_timeout": header_timeout,
        }
    )
    context = _tls(dev)

    async def attack(url: str, port: int) -> tuple[float, list[bool]]:
        slow = await _open_slow(port, context, SLOW)
        waited = await _normal_healthz(url, context, time.monotonic() + BOUND)
        closed = await asyncio.gather(*(_closed_by_server(r) for r in slow))
        return waited, list(closed)

    with running(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        waited, closed = asyncio.run(attack(url, port))
    assert all(closed), f"{closed.count(False)} slow connections were left open"
    assert waited < BOUND


def test_a_peer_holds_at_most_its_cap_of_connections(dev: bootstrap.DevInstance) -> None:
    cap, opened = 20, 60
    settings = dev.settings.model_copy(
        update={"max_connections_per_address": cap, "max_concurrency": cap + 10}
    )
    context = _tls(dev)

    async def attack(url: str, port: int) -> tuple[int, float]:
        slow = await _open_slow(port, context, opened)
        # Those past the cap are closed at once (the others wait for the header deadline).
        refused = await asyncio.gather(
            *(asyncio.wait_for(_closed_by_server(r), 5) for r in slow), return_exceptions=True
        )
        # The 20 held leave room: another address is served at its first attempt.
        waited = await _normal_healthz(url, context, time.monotonic() + 5)
        return sum(r is True for r in refused), waited

    with running(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        refused, _ = asyncio.run(attack(url, port))
    assert refused == opened - cap


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """One whole HTTP/1.1 response: its head, then Content-Length bytes (they may come in
    several TLS records)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


def test_a_body_that_does_not_arrive_in_time_is_refused_signed_and_ledgered(
    dev: bootstrap.DevInstance,
) -> None:
    settings = dev.settings.model_copy(update={"body_timeout": 1.0})

    async def trickled(port: int) -> bytes:
        # The body's deadline comes before any check of the headers: none is needed here.
        service = bootstrap.CURP_SERVICE
        head = [f"POST /r1/{service} HTTP/1.1", "Host: 127.0.0.1", "Content-Length: 8"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_tls(dev))
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"a"')  # half the body
        await writer.drain()
        answer = await asyncio.wait_for(_read_response(reader), BOUND)
        writer.close()
        return answer

    with running(settings) as url:
        answer = asyncio.run(trickled(int(url.rsplit(":", 1)[1])))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    lowered = head.lower()
    assert f"{h.ERROR}: Client.BadRequest".lower().encode() in lowered
    assert f"{h.LEDGER_INDEX}: ".lower().encode() in lowered
    assert b"signature: enlace=" in lowered
    assert b"did not arrive within 1 s" in body
    assert error_code(httpx.Response(400, content=body)) == "Client.BadRequest"


def test_a_head_past_its_cap_is_cut_off_before_it_is_all_in_memory(
    dev: bootstrap.DevInstance,
) -> None:
    # A header deadline far away: only the head's cap can close the connection in time.
    settings = dev.settings.model_copy(update={"header_timeout": 3600.0})

    async def greedy(port: int) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_tls(dev))
        writer.write(PARTIAL)

        async def flood() -> None:
            try:
                for _ in range(4 * MAX_HEAD // 4096):  # four times the cap, never a header end
                    writer.write(b"a" * 4096)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass

        sending = asyncio.get_running_loop().create_task(flood())
        closed = await _closed_by_server(reader)
        await sending
        writer.close()
        return closed

    with running(settings) as url, httpx.Client(verify=_tls(dev), timeout=30) as http:
        assert asyncio.run(greedy(int(url.rsplit(":", 1)[1])))
        assert http.get(f"{url}/healthz").status_code == 200  # the server is none the worse


def test_a_long_body_refused_early_does_not_count_as_the_next_request_s_head(
    dev: bootstrap.DevInstance,
) -> None:
    """A body past ENLACE_MAX_BODY is refused from its Content-Length, before it is read: the
    rest of it, arriving after the answer, is that request's, not the next one's head."""

    async def two_requests(port: int) -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_tls(dev))
        size = dev.settings.max_body + 4 * MAX_HEAD
        head = [f"POST /r1/{bootstrap.CURP_SERVICE} HTTP/1.1", "Host: 127.0.0.1"]
        writer.write(("\r\n".join([*head, f"Content-Length: {size}"]) + "\r\n\r\n").encode())
        first = await asyncio.wait_for(_read_response(reader), BOUND)
        writer.write(b"x" * size + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        second = await asyncio.wait_for(_read_response(reader), BOUND)
        writer.close()
        return first, second

    with running(dev.settings) as url:
        first, second = asyncio.run(two_requests(int(url.rsplit(":", 1)[1])))
    assert first.startswith(b"HTTP/1.1 413")
    assert second.startswith(b"HTTP/1.1 200")


def test_a_client_gone_mid_body_is_a_client_refusal_not_a_server_failure(
    dev: bootstrap.DevInstance,
) -> None:
    async def gone(port: int) -> None:
        service = bootstrap.CURP_SERVICE
        head = [f"POST /r1/{service} HTTP/1.1", "Host: 127.0.0.1", "Content-Length: 100"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_tls(dev))
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b"{")  # 1 of 100 bytes
        await writer.drain()
        writer.close()

    with dev.database.read.connect() as conn:
        start = conn.execute(sa.select(sa.func.max(ledger_entries.c.idx))).scalar_one() + 1
    with running(dev.settings) as url:
        asyncio.run(gone(int(url.rsplit(":", 1)[1])))
        deadline = time.monotonic() + BOUND
        while (entry := _exchange_from(dev, start)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert entry is not None, "the broken-off request was not ledgered"
    assert (entry["error"], entry["status"]) == ("Client.BadRequest", 400)
    assert entry["client_verified"] is False


def _exchange_from(dev: bootstrap.DevInstance, start: int) -> dict | None:
    """The first exchange entry at index ``start`` or after, if there is one yet."""
    with dev.database.read.connect() as conn:
        body = conn.execute(
            sa.select(ledger_entries.c.body)
            .where(ledger_entries.c.idx >= start, ledger_entries.c.kind == "exchange")
            .order_by(ledger_entries.c.idx)
            .limit(1)
        ).scalar()
    return None if body is None else json.loads(body)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_enlace_serve_exits_on_sigterm_with_idle_keep_alive_clients(
    dev: bootstrap.DevInstance, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ENLACE_DATABASE_URL": dev.settings.database_url,
        "ENLACE_PKI_DIR": str(dev.settings.pki_dir),
        "ENLACE_GRACEFUL_SHUTDOWN": "2",
    }
    url = f"https://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    clients = [httpx.Client(verify=_tls(dev)) for _ in range(5)]
    try:
        _wait_until_serving(url, dev.pki.ca_cert, process)
        for client in clients:  # each leaves a kept-alive connection, idle, never closed
            assert client.get(f"{url}/healthz").status_code == 200
        process.send_signal(signal.SIGTERM)
        # Without the graceful time-out, each idle TLS connection holds the exit for asyncio's
        # 30 s TLS close handshake; with it (2 s) the exit comes well before that.
        # uvicorn shuts down, then re-raises the signal it caught: killed by SIGTERM, cleanly.
        assert process.wait(timeout=25) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        for client in clients:
            client.close()
