"""The ledger's pure core (``gateway.kernel.ledger``) is usable without a database: an offline
verifier imports it without SQLAlchemy."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import gateway.kernel.ledger

ROOT = Path(__file__).resolve().parents[2]


def test_every_pure_ledger_module_imports_without_sqlalchemy() -> None:
    modules = sorted(
        info.name
        for info in pkgutil.iter_modules(gateway.kernel.ledger.__path__, "gateway.kernel.ledger.")
    )
    assert {"gateway.kernel.ledger.merkle", "gateway.kernel.ledger.bundle"} <= set(modules)
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
