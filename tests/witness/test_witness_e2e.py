"""``enlace witness serve`` as a real process on loopback, driven by the witness client.

Checkpoints come from the kernel's signer over a growing tree (tests/witness/logs.py); every
cosignature is checked with the witness's published vkey; the witness is restarted to show that
its memory (and so its refusal of a rollback) survives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import checkpoint
from gateway.kernel.ledger.witness_client import (
    ProofFrom,
    WitnessBadAnswer,
    WitnessRefused,
    WitnessSizeConflict,
    WitnessUnavailable,
    add_checkpoint,
    submit,
)
from gateway.kernel.ledger.witnessing import AddCheckpoint, WitnessKey
from gateway.server.run import free_port
from tests.witness.logs import Log

ORIGIN = "localhost/enlace/MX/ledger"
NAME = "witness.test/w1"


def enlace(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    # Generous: a loaded machine may take long to start a process; the test never depends on it.
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        assert process.poll() is None, "enlace witness serve exited"
        assert time.monotonic() < deadline, "enlace witness serve did not start"
        time.sleep(0.1)


@contextlib.contextmanager
def serving(directory: Path, *extra: str, scheme: str = "http") -> Iterator[str]:
    """Run ``enlace witness serve`` on a free loopback port; yield its submission prefix."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "witness", "serve", "--dir", str(directory)]
        + ["--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        _wait_until_listening(port, process)
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture
def log() -> Log:
    return Log(ORIGIN)


@pytest.fixture
def witness_dir(tmp_path: Path) -> tuple[Path, checkpoint.CosignatureVerifier]:
    """A witness initialised by the CLI, and its published verifier key."""
    directory = tmp_path / "witness"
    made = enlace("witness", "init", "--dir", directory, "--name", NAME)
    assert made.returncode == 0, made.stderr
    vkey = made.stdout.strip()
    assert (directory / "witness.vkey").read_text().strip() == vkey
    assert (directory / "witness.key").stat().st_mode & 0o077 == 0
    return directory, checkpoint.CosignatureVerifier.from_vkey(vkey)


def proofs_of(log: Log) -> ProofFrom:
    async def proof_from(old_size: int) -> Sequence[bytes]:
        return log.proof(old_size)

    return proof_from


async def post(url: str, body: bytes) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/add-checkpoint", data=body) as response,
    ):
        return response.status, response.content_type, await response.read()


def test_a_growing_log_is_cosigned_and_a_rollback_refused_after_restart(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier]
) -> None:
    directory, witness = witness_dir

    async def grow_and_submit(url: str, sizes: list[int], old_size: int) -> list[bytes]:
        notes = []
        async with aiohttp.ClientSession() as session:
            for size in sizes:
                log.grow(size - log.tree.size)
                note = log.note()
                cosigned = await submit(
                    session, url, note, witness, proofs_of(log), old_size=old_size
                )
                # The cosignature verifies with the witness's published key, beside the log's.
                opened = checkpoint.open_note(note + cosigned.line, [log.verifier, witness])
                assert opened.verified_names == (ORIGIN, NAME)
                notes.append(note)
                old_size = size
        return notes

    with serving(directory, "--log", f"{ORIGIN}={log.vkey}") as url:
        notes = asyncio.run(grow_and_submit(url, [1, 5, 12, 40], old_size=0))

    shown = enlace("witness", "show", "--dir", directory)
    assert json.loads(shown.stdout)["logs"][ORIGIN]["size"] == 40

    async def after_restart(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            # The checkpoint of size 12 again: the witness is at 40, ahead of it.
            with pytest.raises(WitnessSizeConflict) as conflict:
                await submit(session, url, notes[2], witness, proofs_of(log))
            assert conflict.value.size == 40
            # Claiming the witness's size as old does not help: old > size.
            rollback = AddCheckpoint.of(40, [], notes[2])
            with pytest.raises(WitnessRefused) as refused:
                await add_checkpoint(session, url, rollback, witness)
            assert refused.value.status == 400
            # A rewritten history of the same size is a fork.
            forked = Log(ORIGIN, log.signer, salt="rewritten ").grow(40)
            with pytest.raises(WitnessRefused) as fork:
                await add_checkpoint(session, url, forked.request(40), witness)
            assert fork.value.status == 409 and not isinstance(fork.value, WitnessSizeConflict)
            # ... and if it grew, its proof from the witnessed head fails.
            with pytest.raises(WitnessRefused) as bad:
                await add_checkpoint(session, url, forked.grow(9).request(40), witness)
            assert bad.value.status == 422

    with serving(directory, "--log", f"{ORIGIN}={log.vkey}") as url:
        asyncio.run(after_restart(url))
        # The true log goes on: a submitter that knows nothing learns 40 from the 409 and retries.
        asyncio.run(grow_and_submit(url, [41, 100], old_size=0))
    assert json.loads(enlace("witness", "show", "--dir", directory).stdout)["logs"][ORIGIN] == {
        "size": 100,
        "root_hash": b64encode(log.tree.root()),
    }


def test_concurrent_requests_for_one_origin_are_serialised(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier]
) -> None:
    directory, witness = witness_dir
    log.grow(10)
    first = log.request(0)
    competing = [log.grow(1).request(10) for _ in range(8)]  # sizes 11 … 18, all from 10

    async def race(url: str) -> int:
        async with aiohttp.ClientSession() as session:
            await add_checkpoint(session, url, first, witness)
            answers = await asyncio.gather(
                *(add_checkpoint(session, url, r, witness) for r in competing),
                return_exceptions=True,
            )
        pairs = list(zip(competing, answers, strict=True))
        winners = [r.checkpoint.size for r, a in pairs if not isinstance(a, BaseException)]
        assert len(winners) == 1, answers
        losers = [a for a in answers if isinstance(a, BaseException)]
        # Every other request saw the winner's size: none was checked against a stale head.
        assert all(isinstance(a, WitnessSizeConflict) and a.size == winners[0] for a in losers)
        return winners[0]

    with serving(directory, "--log", f"{ORIGIN}={log.vkey}") as url:
        winner = asyncio.run(race(url))
    shown = json.loads(enlace("witness", "show", "--dir", directory).stdout)["logs"][ORIGIN]
    assert shown["size"] == winner


def test_refusals_over_http(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier], tmp_path: Path
) -> None:
    directory, witness = witness_dir
    config = tmp_path / "logs.conf"
    config.write_text(f"# the gateway\n\n{ORIGIN}={log.vkey}\n")
    stranger = Log("elsewhere.example/log").grow(3)
    impostor = Log(ORIGIN).grow(3)  # the right origin, another key
    log.grow(3)

    async def refusals(url: str) -> None:
        assert await post(url, b"old 1\n") == (
            400,
            "text/plain",
            b"expected at most 63 proof lines and an empty line\n",
        )
        assert (await post(url, stranger.request(0).body()))[0] == 404
        assert (await post(url, impostor.request(0).body()))[0] == 403
        assert (await post(url, b"old 0\n\n" + b"x" * (3 << 20)))[0] == 413
        assert (await post(url, log.request(0).body()))[0] == 200
        assert await post(url, log.request(0).body()) == (409, "text/x.tlog.size", b"3\n")
        async with aiohttp.ClientSession() as session:
            other = WitnessKey.generate(NAME).verifier()  # same name, another key
            with pytest.raises(WitnessBadAnswer):
                await add_checkpoint(session, url, log.request(3), other)

    with serving(directory, "--config", str(config)) as url:
        asyncio.run(refusals(url))


def test_one_witness_per_state_directory(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier]
) -> None:
    directory, _ = witness_dir
    with serving(directory, "--log", f"{ORIGIN}={log.vkey}"):
        second = enlace("witness", "serve", "--dir", directory, "--log", f"{ORIGIN}={log.vkey}")
    assert second.returncode == 2
    assert "in use by another witness" in second.stderr


def test_an_unreachable_witness_is_unavailable(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier]
) -> None:
    _, witness = witness_dir

    async def nobody_there() -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(WitnessUnavailable):
                url = f"http://127.0.0.1:{free_port()}"
                await add_checkpoint(session, url, log.grow(1).request(0), witness)

    asyncio.run(nobody_there())


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "tls.pem", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_witness_over_https(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier], tmp_path: Path
) -> None:
    directory, witness = witness_dir
    cert, key = _self_signed(tmp_path)
    extra = ["--log", f"{ORIGIN}={log.vkey}", "--tls-cert", str(cert), "--tls-key", str(key)]

    async def over_tls(url: str) -> None:
        context = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            cosigned = await submit(session, url, log.grow(2).note(), witness, proofs_of(log))
        assert checkpoint.verify_cosignature(log.head().body(), cosigned.line, witness) > 0

    with serving(directory, *extra, scheme="https") as url:
        asyncio.run(over_tls(url))


def test_serve_refuses_what_it_cannot_witness(
    log: Log, witness_dir: tuple[Path, checkpoint.CosignatureVerifier], tmp_path: Path
) -> None:
    directory, _ = witness_dir
    nothing = enlace(
        "witness", "serve", "--dir", tmp_path / "none", "--log", f"{ORIGIN}={log.vkey}"
    )
    assert (nothing.returncode, "enlace witness init" in nothing.stderr) == (2, True)
    no_log = enlace("witness", "serve", "--dir", directory)
    assert (no_log.returncode, "no log to witness" in no_log.stderr) == (2, True)
    bad_key = enlace("witness", "serve", "--dir", directory, "--log", f"{ORIGIN}=x+1+2")
    assert (bad_key.returncode, "ledger.witness_log" in bad_key.stderr) == (2, True)
    again = enlace("witness", "init", "--dir", directory, "--name", NAME)
    assert (again.returncode, "has a key" in again.stderr) == (2, True)
