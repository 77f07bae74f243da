"""A real gateway submits its checkpoints to a real ``enlace witness serve`` process.

The gateway (over HTTPS, in a thread) is configured with ``ENLACE_WITNESSES``; the witness is its
own process with its own state directory. Every wait polls with a generous deadline: a loaded
machine is slow, and nothing here depends on how fast.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from gateway.devtools import bootstrap
from gateway.kernel.ledger import checkpoint, trust
from gateway.kernel.ledger.witness_client import add_checkpoint
from gateway.kernel.settings import Settings
from gateway.server.run import free_port, running
from services.sdk import EnlaceClient
from tests.witness.logs import Log
from tests.witness.test_witness_e2e import enlace, serving

DEADLINE = 180.0


def _until(what: str, probe: Callable[[], Any]) -> Any:
    """Poll ``probe`` until it returns something truthy (generous deadline, never a timing)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _witness(tmp_path: Path, name: str) -> tuple[Path, str]:
    directory = tmp_path / name.replace("/", "_")
    made = enlace("witness", "init", "--dir", directory, "--name", name)
    assert made.returncode == 0, made.stderr
    return directory, made.stdout.strip()


@pytest.fixture
def witnessed(
    dev: bootstrap.DevInstance, tmp_path: Path
) -> Iterator[tuple[Settings, str, str, Path]]:
    """The dev instance's settings with one witness serving it; (settings, url, vkey, dir)."""
    log_vkey = dev.pki.checkpoint_vkey.read_text().strip()
    origin = log_vkey.split("+")[0]
    directory, vkey = _witness(tmp_path, "witness.test/w1")
    with serving(directory, "--log", f"{origin}={log_vkey}") as url:
        settings = dev.settings.model_copy(
            update={"witnesses": (f"{url} {vkey}",), "checkpoint_interval": 0.5}
        )
        yield settings, url, vkey, directory


def _client(dev: bootstrap.DevInstance) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(dev.pki.ca_cert)), timeout=30)


def test_every_new_checkpoint_is_cosigned_and_served_cosigned(
    dev: bootstrap.DevInstance, witnessed: tuple[Settings, str, str, Path], people: list[Any]
) -> None:
    settings, _url, vkey, directory = witnessed
    log = dev.pki.load_checkpoint_verifier()
    policy = trust.WitnessPolicy.of([vkey], 1)
    with running(settings) as gateway_url, _client(dev) as http:

        def cosigned() -> checkpoint.Checkpoint | None:
            note = http.get(f"{gateway_url}/v1/ledger/checkpoint")
            if note.status_code != 200:
                return None
            try:
                return policy.check(note.content, log)[0]
            except trust.TrustError:
                return None

        first = _until("a cosigned checkpoint", cosigned)
        # An exchange grows the log: the next checkpoint is cosigned too, through the SDK's
        # witness policy (its receipt's tree is proven extended by the witnessed checkpoint).
        with EnlaceClient.from_pki(
            gateway_url, str(bootstrap.BECAS), dev.pki.root, witnesses=[vkey], witness_quorum=1
        ) as sdk:
            result = sdk.call(
                str(bootstrap.CURP_SERVICE),
                subject=people[0].curp,
                purpose=bootstrap.BECAS_PURPOSE,
                legal_basis=bootstrap.BECAS_LEGAL_BASIS,
                user_id="MX-SEP-000123",
                issue="BECA-2026-7",
            )
            witnessed_head = _until(
                "the exchange's checkpoint cosigned",
                lambda: _or_none(lambda: sdk.witnessed(result.receipt)),
            )
        assert witnessed_head.size > first.size >= 1
        health = http.get(f"{gateway_url}/healthz").json()
        assert health["witnesses"][0]["status"] == "cosigned"
        assert health["witnesses"][0]["cosigned_size"] >= witnessed_head.size
        metrics = http.get(f"{gateway_url}/metrics").text
        assert 'enlace_witness_submissions_total{outcome="cosigned"}' in metrics
        # Offline, the CLI checks an exported bundle against a trust document (k = 1)...
        trust_file = bootstrap.write_trust(dev.pki, [vkey], 1)
        exported = dev.pki.root.parent / "bundle.json"
        made = enlace(
            "ledger", "bundle", str(result.ledger_index), "--out", exported,
            "--database-url", settings.database_url,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        checked = enlace("ledger", "check-proof", exported, "--trust", trust_file, "--json")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert json.loads(checked.stdout)["signed_by"][1:] == ["witness.test/w1"]
        # ... and refuses it under a policy naming a witness that did not cosign it.
        _, stranger = _witness(dev.pki.root.parent, "witness.test/stranger")
        strict = bootstrap.write_trust(dev.pki, [stranger], 1)
        refused = enlace("ledger", "check-proof", exported, "--trust", strict)
        assert refused.returncode == 1 and "witness cosignatures" in refused.stdout
    shown = enlace("witness", "show", "--dir", directory)
    assert f'"size": {witnessed_head.size}' in shown.stdout or shown.returncode == 0


def _or_none(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except Exception:
        return None


def test_a_witness_that_saw_a_larger_tree_refuses_and_healthz_says_why(
    dev: bootstrap.DevInstance, tmp_path: Path
) -> None:
    """The witness cosigned a (forked) tree of 1000 entries under the gateway's key: the
    gateway's real, smaller checkpoint is a rollback to it, and it refuses."""
    signer = dev.pki.load_checkpoint_signer()
    directory, vkey = _witness(tmp_path, "witness.test/w2")
    verifier = checkpoint.CosignatureVerifier.from_vkey(vkey)
    fork = Log(signer.name, signer, salt="forked ").grow(1000)

    async def cosign_fork(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            await add_checkpoint(session, url, fork.request(0), verifier)

    with serving(directory, "--log", f"{signer.name}={signer.verifier().to_vkey()}") as url:
        asyncio.run(cosign_fork(url))
        settings = dev.settings.model_copy(
            update={"witnesses": (f"{url} {vkey}",), "checkpoint_interval": 0.5}
        )
        with running(settings) as gateway_url, _client(dev) as http:

            def refused() -> dict[str, Any] | None:
                shown = http.get(f"{gateway_url}/healthz").json().get("witnesses", [{}])[0]
                return shown if shown.get("status") == "refused" else None

            shown = _until("the witness's refusal", refused)
            assert "1000" in shown["reason"] and shown["failures"] >= 1
            # Served, but not cosigned: a verifier with a quorum of 1 refuses it.
            note = http.get(f"{gateway_url}/v1/ledger/checkpoint").content
            with pytest.raises(trust.TrustError):
                trust.WitnessPolicy.of([vkey], 1).check(note, signer.verifier())
            metrics = http.get(f"{gateway_url}/metrics").text
            assert 'enlace_witness_submissions_total{outcome="refused"}' in metrics


def test_an_unreachable_witness_is_retried_and_shown_unavailable(
    dev: bootstrap.DevInstance, tmp_path: Path
) -> None:
    _, vkey = _witness(tmp_path, "witness.test/away")
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = dev.settings.model_copy(
        update={"witnesses": (f"{nobody} {vkey}",), "checkpoint_interval": 0.2}
    )
    with running(settings) as gateway_url, _client(dev) as http:

        def retried() -> dict[str, Any] | None:
            shown = http.get(f"{gateway_url}/healthz").json()["witnesses"][0]
            return shown if shown["status"] == "unavailable" and shown["failures"] >= 2 else None

        shown = _until("two failed attempts", retried)
        assert shown["cosigned_size"] == 0 and shown["url"] == nobody
        # Exchanges and checkpoints go on without the witness.
        assert http.get(f"{gateway_url}/v1/ledger/checkpoint").status_code == 200
