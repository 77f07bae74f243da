"""Headless Chromium for the citizen page's tests: the binary, its flags, and a browser whose
NSS database trusts the instance's dev CA (so TLS is fully checked, host name included).

Chromium and certutil come from Debian's packages (``apt-get install -y chromium
chromium-driver libnss3-tools``) and node-forge from ``bash gateway/web/install.sh``; CI installs
all three, so their absence fails the tests rather than skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from gateway.server.citizen_api import STATIC_DIR

CHROMIUM = Path("/usr/bin/chromium")
# What this closed network needs (no background connections Chromium would make on its own).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = "apt-get install -y chromium chromium-driver libnss3-tools"

# Assertions wait for the page as long as a loaded machine needs (5 s by default): the tests
# check what the page shows, never how fast.
expect.set_options(timeout=60_000)


@pytest.fixture
def browser_home(tmp_path: Path, dev) -> Path:
    """A home directory whose NSS database trusts the instance's dev CA."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `{INSTALL}`")
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.fail(f"certutil is missing: install it with `{INSTALL}`")
    if not (STATIC_DIR / "vendor" / "forge.min.js").exists():
        pytest.fail("node-forge is not installed for the page: run `bash gateway/web/install.sh`")
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    subprocess.run([certutil, "-N", "-d", database, "--empty-password"], check=True)
    trust = [certutil, "-A", "-d", database, "-t", "C,,", "-n", "Enlace dev CA"]
    subprocess.run([*trust, "-i", str(dev.pki.ca_cert)], check=True)
    return home


@pytest.fixture
def browser(browser_home: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": str(browser_home)},
        )
        try:
            yield launched
        finally:
            launched.close()
