"""SAT dev PKI (made once per session) and its OCSP responder, run as ``enlace source run``."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.devtools import bootstrap
from gateway.devtools import sat_ca as devca
from gateway.devtools import sat_pki as devpki
from gateway.kernel.settings import Settings
from gateway.server.run import free_port
from tests.conftest import CITIZENS

#: Every key the SAT dev PKI needs, distinct (a shared key would let one citizen's signature
#: verify under another's certificate).
SAT_CREDENTIALS = 8
_KEYS = SAT_CREDENTIALS + 2 + 3


@pytest.fixture(scope="session")
def sat_pki(tmp_path_factory: pytest.TempPathFactory) -> devpki.SatDevPki:
    root = tmp_path_factory.mktemp("pki") / "sat"
    return devpki.create(root, citizens=CITIZENS, count=SAT_CREDENTIALS, pool=devca.KeyPool(_KEYS))


@contextlib.contextmanager
def enlace_serving(port: int, *args: str, timeout: float = 120.0) -> Iterator[None]:
    """Run ``enlace ARGS`` (a server) with this interpreter until it listens on ``port``."""
    command = [sys.executable, "-c", "from gateway.cli.main import main; main()", *args]
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        command,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            deadline = time.monotonic() + timeout
            while not _listening(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    _, errors = process.communicate(timeout=10)
                    raise RuntimeError(f"enlace {' '.join(args)}: {errors.decode()[-2000:]}")
                time.sleep(0.05)
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def ocsp_url(sat_pki: devpki.SatDevPki) -> Iterator[str]:
    """The SAT OCSP responder, started as a real `enlace source run sat-ocsp` process."""
    port = free_port()
    pki_dir = str(sat_pki.root.parent)
    with enlace_serving(
        port, "source", "run", "sat-ocsp", "--port", str(port), "--pki-dir", pki_dir
    ):
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def sat_dev(
    settings: Settings, sat_pki: devpki.SatDevPki, ocsp_url: str
) -> Iterator[bootstrap.DevInstance]:
    """A dev instance whose SAT source trusts the session's SAT CA and asks its responder."""
    instance = bootstrap.create(settings, citizens=CITIZENS, ocsp_url=ocsp_url)
    shutil.copytree(sat_pki.root, settings.pki_dir / "sat")
    try:
        yield instance
    finally:
        instance.database.dispose()
