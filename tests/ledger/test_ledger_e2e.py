"""Over real HTTPS: an exchange's receipt is provable against a later signed checkpoint through
the public proof endpoints, with nothing but the gateway's checkpoint key."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import pytest

from gateway.devtools import bootstrap
from gateway.kernel.ledger import checkpoint, merkle, receipt, record
from gateway.kernel.settings import Settings
from services.sdk import AccessDenied, EnlaceClient
from tests.e2e.helpers import ledger_entry


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The shared settings, with checkpoints signed every 100 ms."""
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'enlace.db'}",
        pki_dir=tmp_path / "certs",
        checkpoint_interval=0.1,
    )


def _hashes(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def _checkpoint_covering(http: httpx.Client, url: str, size: int, log) -> checkpoint.Checkpoint:  # noqa: ANN001
    """Wait for the gateway's periodic signer to publish a checkpoint of at least ``size``."""
    deadline = time.monotonic() + 120  # generous: polls end as soon as it holds
    while True:
        response = http.get(f"{url}/v1/ledger/checkpoint")
        # The first checkpoint is signed in the background once the gateway has started.
        if response.status_code != 404 or response.json()["error"]["code"] != "Ledger.NoCheckpoint":
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/plain")
            head = checkpoint.parse_checkpoint(checkpoint.open_note(response.content, [log]).body)
            if head.size >= size:
                return head
        assert time.monotonic() < deadline, "no checkpoint covers the receipt"
        time.sleep(0.05)


def _prove(http: httpx.Client, url: str, proof: receipt.Receipt, head: checkpoint.Checkpoint):  # noqa: ANN201
    """What a consuming agency does with a receipt, long after the exchange."""
    # 1. The receipt's tree is a prefix of the checkpoint's tree ...
    consistency = http.get(
        f"{url}/v1/ledger/proof/consistency",
        params={"old": proof.tree_size, "new": head.size},
    ).json()
    merkle.verify_consistency(
        proof.tree_size, head.size, _hashes(consistency["proof"]), proof.root, head.root_hash
    )
    # 2. ... and the entry is in the receipt's tree.
    inclusion = http.get(
        f"{url}/v1/ledger/proof/inclusion", params={"index": proof.index, "size": proof.tree_size}
    ).json()
    assert base64.b64decode(inclusion["leaf_hash"]) == proof.leaf_hash
    merkle.verify_inclusion(
        proof.leaf_hash, proof.index, proof.tree_size, _hashes(inclusion["proof"]), proof.root
    )
    # Equivalently, directly in the checkpoint's tree.
    direct = http.get(
        f"{url}/v1/ledger/proof/inclusion", params={"index": proof.index, "size": head.size}
    ).json()
    merkle.verify_inclusion(
        proof.leaf_hash, proof.index, head.size, _hashes(direct["proof"]), head.root_hash
    )


def test_receipts_are_provable_against_later_checkpoints(dev, gateway_url, http, people):
    log = dev.pki.load_checkpoint_verifier()
    trust = http.get(f"{gateway_url}/.well-known/enlace/trust").json()
    assert trust["ledger_checkpoint_vkey"] == log.to_vkey()
    citizen = next(p for p in people if p.estatus_curp == "AN")
    # A client that was not given the key reads it from the trust document.
    with EnlaceClient.from_pki(
        gateway_url, str(bootstrap.BECAS), dev.pki.root, ledger_vkey=None
    ) as becas:
        allowed = becas.call(
            str(bootstrap.CURP_SERVICE),
            subject=citizen.curp,
            purpose=bootstrap.BECAS_PURPOSE,
            legal_basis=bootstrap.BECAS_LEGAL_BASIS,
            user_id="MX-SEP-000123",
            issue="BECA-2026-9",
        )
        with pytest.raises(AccessDenied) as refused:
            becas.call(
                str(bootstrap.CURP_SERVICE),
                subject=citizen.curp,
                purpose="mercadotecnia",
                legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                user_id="MX-SEP-000123",
                issue="BECA-2026-9",
            )
    for proof, index, exchange_id in (
        (allowed.receipt, allowed.ledger_index, allowed.exchange_id),
        (refused.value.receipt, refused.value.ledger_index, refused.value.exchange_id),
    ):
        assert proof is not None
        assert (proof.index, proof.exchange_id, proof.origin) == (index, exchange_id, log.name)
        # The receipt's leaf is the hash of the record the ledger holds for that exchange.
        entry = ledger_entry(dev.database, index)
        assert entry["exchange_id"] == exchange_id
        assert proof.leaf_hash == merkle.leaf_hash(record.canonical(entry))
    head = _checkpoint_covering(http, gateway_url, refused.value.receipt.tree_size, log)
    for proof in (allowed.receipt, refused.value.receipt):
        _prove(http, gateway_url, proof, head)


def test_proof_endpoints_bound_their_parameters(dev, gateway_url, http):
    log = dev.pki.load_checkpoint_verifier()
    size = _checkpoint_covering(http, gateway_url, 1, log).size
    base = f"{gateway_url}/v1/ledger/proof"
    cases = [
        ("inclusion", {"index": "0"}, 400, "Ledger.InvalidParameter"),
        ("inclusion", {"index": "0", "size": "1", "x": "1"}, 400, "Ledger.InvalidParameter"),
        (
            "inclusion",
            [("index", "0"), ("index", "1"), ("size", "2")],
            400,
            "Ledger.InvalidParameter",
        ),
        ("inclusion", {"index": "-1", "size": "2"}, 400, "Ledger.InvalidParameter"),
        ("inclusion", {"index": "01", "size": "2"}, 400, "Ledger.InvalidParameter"),
        ("inclusion", {"index": "0", "size": str(1 << 63)}, 400, "Ledger.InvalidParameter"),
        ("inclusion", {"index": "0", "size": "9" * 400}, 400, "Ledger.InvalidParameter"),
        ("inclusion", {"index": str(size), "size": str(size)}, 400, "Ledger.InvalidParameter"),
        ("inclusion", {"index": str(size), "size": str(size + 1)}, 404, "Ledger.BeyondTree"),
        ("inclusion", {"index": "0", "size": str(size + 10**6)}, 404, "Ledger.BeyondTree"),
        ("consistency", {"old": "3", "new": "2"}, 400, "Ledger.InvalidParameter"),
        ("consistency", {"old": "0", "new": str(1 << 62)}, 404, "Ledger.BeyondTree"),
        ("consistency", {"old": "1"}, 400, "Ledger.InvalidParameter"),
    ]
    for path, params, status, code in cases:
        response = http.get(f"{base}/{path}", params=params)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), params
    ok = http.get(f"{base}/consistency", params={"old": 0, "new": size})
    assert ok.status_code == 200 and ok.json() == {"old_size": 0, "new_size": size, "proof": []}
    assert "immutable" in ok.headers["cache-control"]
    # Entries are not part of the public API.
    assert http.get(f"{gateway_url}/v1/ledger/entries/0").status_code == 404
