"""Fixtures of the ledger tests (the databases come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.kernel.ledger import checkpoint
from tests.ledger.helpers import checkpoint_key


@pytest.fixture(scope="session")
def log_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[checkpoint.NoteSigner, Path]:
    """The gateway checkpoint signer of a dev PKI, and its verifier key file."""
    return checkpoint_key(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def signer(log_key: tuple[checkpoint.NoteSigner, Path]) -> checkpoint.NoteSigner:
    return log_key[0]


@pytest.fixture
def vkey_file(log_key: tuple[checkpoint.NoteSigner, Path]) -> Path:
    return log_key[1]
