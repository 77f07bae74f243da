"""The layer rule at run time: what ``enlace serve`` loads (docs/architecture.md).

import-linter checks the static import graph (``make lint``); this test checks the modules a real
``enlace serve`` process has imported once it answers, so that a lazy import or a plugin hook
cannot pull dev tooling into production unnoticed.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.devtools import bootstrap
from gateway.server.run import free_port

#: Packages that production must never load: dev tooling, the CLI's dev commands, example apps.
FORBIDDEN = ("gateway.devtools", "services.apps")


def _imported_modules(importtime_log: str) -> set[str]:
    """Module names in ``python -X importtime`` output (``import time: self | cumul | name``)."""
    names = set()
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", line)
        if match:
            names.add(match.group(1).strip())
    return names


def _wait_until_serving(url: str, cafile: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    # Generous: a loaded machine may take long to start a process; the test never depends on it.
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/healthz", verify=context, timeout=2)
            return
        except httpx.TransportError:
            assert process.poll() is None, "enlace serve exited"
            assert time.monotonic() < deadline, "enlace serve did not start"
            time.sleep(0.2)


def test_enlace_serve_loads_no_dev_tooling(dev: bootstrap.DevInstance, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "importtime.log"
    env = {
        **os.environ,
        "ENLACE_DATABASE_URL": dev.settings.database_url,
        "ENLACE_PKI_DIR": str(dev.settings.pki_dir),
    }
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "gateway", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            _wait_until_serving(f"https://127.0.0.1:{port}", dev.pki.ca_cert, process)
        finally:
            process.terminate()
            process.wait(timeout=60)
    loaded = _imported_modules(log.read_text(errors="replace"))
    # The log is real: the server and the sources it serves were imported.
    assert {"gateway.server.app", "trusted_sources.renapo"} <= loaded
    leaked = sorted(m for m in loaded if m.startswith(FORBIDDEN))
    assert leaked == []
