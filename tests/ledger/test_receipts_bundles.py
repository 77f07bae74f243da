"""Receipts (signed promises of inclusion) and offline proof bundles, forged in every way."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.devtools import devca
from gateway.kernel.ids import MemberId
from gateway.kernel.ledger import bundle, checkpoint, merkle, receipt
from gateway.kernel.protocol import headers as h
from gateway.storage.db import ledger_entries
from gateway.storage.ledger import proofs, publisher, witness
from services.sdk import EnlaceClient, ResponseVerificationError
from tests.ledger.helpers import bodies, checkpoint_key, fill, sign
from tests.unit.test_merkle import ref_mth, ref_path

LEAF = merkle.leaf_hash(b"record")
ROOT = merkle.node_hash(LEAF, LEAF)


def a_receipt(signer: checkpoint.NoteSigner, **changes: object) -> receipt.Receipt:
    fields = {
        "origin": signer.name,
        "index": 1,
        "leaf_hash": LEAF,
        "exchange_id": "3f0c8a4e-1111-2222-3333-444455556666",
        "tree_size": 2,
        "root": ROOT,
        **changes,
    }
    return receipt.Receipt(**fields)  # type: ignore[arg-type]


def test_receipt_round_trip_and_format(signer):
    made = a_receipt(signer)
    value = receipt.issue(made, signer)
    assert value.isascii() and len(value) < 600  # one HTTP header
    assert receipt.open_receipt(value, signer.verifier()) == made
    text = base64.b64decode(value).decode()
    leaf = base64.b64encode(LEAF).decode()
    assert text.startswith(f"enlace.receipt/v1\norigin {signer.name}\nindex 1\nleaf {leaf}\n")
    # It is a standard signed note: any signed-note verifier with the vkey accepts it.
    assert checkpoint.open_note(text.encode(), [signer.verifier()]).body == made.body()
    # ... and it can never be taken for a checkpoint.
    with pytest.raises(checkpoint.MalformedCheckpointError):
        checkpoint.parse_checkpoint(made.body())


def test_forged_receipts_are_rejected(signer):
    value = receipt.issue(a_receipt(signer), signer)
    other = checkpoint.NoteSigner.from_skey(checkpoint.generate_key(signer.name)[0])
    note = base64.b64decode(value)
    forgeries = {
        "other key": receipt.issue(a_receipt(signer), other),
        "altered text": base64.b64encode(note.replace(b"index 1", b"index 0")).decode(),
        "not base64": value[:-4] + "!!!!",
        "too long": value + "A" * receipt.MAX_HEADER_SIZE,
        "a checkpoint": base64.b64encode(
            checkpoint.sign_note(checkpoint.Checkpoint(signer.name, 2, ROOT).body(), [signer])
        ).decode(),
    }
    for name, forged in forgeries.items():
        with pytest.raises(receipt.ReceiptError):
            receipt.open_receipt(forged, signer.verifier())
            pytest.fail(name)
    for bad in ({"index": 2}, {"exchange_id": "a b"}, {"leaf_hash": b"x"}, {"origin": ""}):
        with pytest.raises(receipt.ReceiptError):
            a_receipt(signer, **bad)
    with pytest.raises(receipt.ReceiptError):
        receipt.issue(a_receipt(signer, origin="another.example/log"), signer)


def test_the_sdk_checks_the_receipt_against_the_response(signer):
    ca = devca.create_ca("MX")
    client = EnlaceClient(
        "https://gw.invalid",
        "MX/GOB/SEP/becas",
        signer=devca.issue_signing_cert(ca, MemberId.parse("MX/GOB/SEP")),
        ca_cert=ca.cert,
        ledger_vkey=signer.verifier().to_vkey(),
    )
    made = a_receipt(signer)
    good = {h.RECEIPT: receipt.issue(made, signer), h.ID: made.exchange_id}
    assert client._receipt(httpx.Response(200, headers=good), 1) == made
    cases = [
        (good, 2),  # another ledger index
        ({**good, h.ID: "another-exchange"}, 1),
        ({h.ID: made.exchange_id}, 1),  # index without a receipt
        (good, None),  # receipt without an index
    ]
    for headers, index in cases:
        with pytest.raises(ResponseVerificationError):
            client._receipt(httpx.Response(200, headers=headers), index)
    client.close()


@pytest.fixture
def proven(database, signer) -> tuple[publisher.StoredCheckpoint, dict]:  # noqa: ANN001
    fill(database, 21)
    head = sign(database, signer)
    with database.read.connect() as conn:
        return head, proofs.build_bundle(conn, [20, 3, 0, 3, 13], head)


def test_a_bundle_verifies_offline(database, signer, proven):
    head, built = proven
    data = bodies(database)
    assert head.size == 22  # the 21 entries and the map head that closes the checkpoint
    assert built["checkpoint"] == head.note.decode()
    assert [e["index"] for e in built["entries"]] == [0, 3, 13, 20]
    for entry in built["entries"]:
        assert entry["record"].encode() == data[entry["index"]]
        path = [base64.b64decode(p) for p in entry["inclusion_proof"]]
        assert path == ref_path(entry["index"], data[: head.size])
    checked = bundle.verify_bundle(json.loads(json.dumps(built)), signer.verifier())
    assert checked.checkpoint.root_hash == ref_mth(data)
    assert checked.signed_by == (signer.name,)
    assert [e.decoded()["exchange_id"] for e in checked.entries] == ["x-0", "x-3", "x-13", "x-20"]


def test_tampered_bundles_fail(signer, proven):
    _, built = proven
    other = checkpoint.NoteSigner.from_skey(checkpoint.generate_key(signer.name)[0])

    def tampered(change) -> dict:  # noqa: ANN001
        copied = copy.deepcopy(built)
        change(copied)
        return copied

    def record(b: dict) -> None:
        b["entries"][1]["record"] = b["entries"][1]["record"].replace("x-3", "x-4")

    def record_and_leaf(b: dict) -> None:
        record(b)
        leaf = merkle.leaf_hash(b["entries"][1]["record"].encode())
        b["entries"][1]["leaf_hash"] = base64.b64encode(leaf).decode()

    def proof(b: dict) -> None:
        b["entries"][1]["inclusion_proof"].reverse()

    def index(b: dict) -> None:
        b["entries"][1]["index"] = 4

    def resigned(b: dict) -> None:
        body = checkpoint.open_note(b["checkpoint"].encode(), [signer.verifier()]).body
        b["checkpoint"] = checkpoint.sign_note(body, [other]).decode()

    def root(b: dict) -> None:
        b["checkpoint"] = b["checkpoint"].replace("\n22\n", "\n23\n")

    def not_canonical(b: dict) -> None:
        text = b["entries"][0]["record"].replace('"v":1', '"v":1,"v":1')
        b["entries"][0]["record"] = text
        b["entries"][0]["leaf_hash"] = base64.b64encode(merkle.leaf_hash(text.encode())).decode()

    for change, at in (
        (record, 3),
        (record_and_leaf, 3),
        (proof, 3),
        (index, 4),
        (resigned, None),
        (root, None),
        (not_canonical, 0),
    ):
        with pytest.raises(bundle.BundleError) as caught:
            bundle.verify_bundle(tampered(change), signer.verifier())
        assert caught.value.index == at, change.__name__
    with pytest.raises(bundle.BundleError, match="witness"):
        dpa = witness.Witness.from_skey(witness.Witness.generate("dpa.example/w")[0])
        bundle.verify_bundle(built, signer.verifier(), witnesses=[dpa.verifier()], quorum=1)


def test_a_bundle_of_a_tampered_ledger_fails_at_that_entry(database, signer, proven):
    head, _ = proven
    with database.write.begin() as conn:
        body = conn.execute(sa.select(ledger_entries.c.body).where(ledger_entries.c.idx == 13))
        altered = body.scalar_one().replace("x-13", "x-31")
        conn.execute(
            sa.update(ledger_entries).where(ledger_entries.c.idx == 13).values(body=altered)
        )
    with database.read.connect() as conn:
        built = proofs.build_bundle(conn, [12, 13], head)
        with pytest.raises(bundle.BundleError, match="not covered"):
            proofs.build_bundle(conn, [22], head)
    with pytest.raises(bundle.BundleError) as caught:
        bundle.verify_bundle(built, signer.verifier())
    assert caught.value.index == 13


def test_check_proof_command(database, signer, vkey_file, proven, tmp_path: Path):
    _, built = proven
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(built))
    built["entries"][0]["inclusion_proof"] = []
    bad.write_text(json.dumps(built))
    runner = CliRunner()
    ok = runner.invoke(app, ["ledger", "check-proof", str(good), "--vkey", str(vkey_file)])
    assert ok.exit_code == 0 and "OK: 4 entries proven" in ok.stdout
    failed = runner.invoke(
        app, ["ledger", "check-proof", str(bad), "--vkey", str(vkey_file), "--json"]
    )
    assert failed.exit_code == 1
    assert json.loads(failed.stdout) == {
        "ok": False,
        "index": 0,
        "error": "entry 0: inclusion proof: inclusion proof is too short",
    }
    exported = runner.invoke(app, ["ledger", "bundle", "0", "20", "--database-url", database.url])
    assert exported.exit_code == 0
    assert [e["index"] for e in json.loads(exported.stdout)["entries"]] == [0, 20]


def test_checkpoint_and_witness_commands(database, tmp_path: Path):
    fill(database, 5)
    # A PKI of its own: signing from the CLI keeps the last checkpoint in it (checkpoint.last).
    _, vkey_file = checkpoint_key(tmp_path / "pki")
    pki_dir = str(tmp_path / "pki")
    runner = CliRunner()

    def enlace(*args: str) -> str:
        result = runner.invoke(app, [*args, "--database-url", database.url])
        assert result.exit_code == 0, result.output
        return result.stdout

    note = enlace("ledger", "checkpoint", "--sign", "--pki-dir", pki_dir)
    # Five entries and the map head closing the checkpoint.
    assert note.split("\n")[1] == "6" and enlace("ledger", "checkpoint") == note
    witness_key = runner.invoke(
        app, ["ledger", "witness-key", "dpa.example/witness", "--out", str(tmp_path / "dpa")]
    )
    assert witness_key.exit_code == 0
    state = tmp_path / "dpa.state"
    cosign = ("ledger", "cosign", "--key", str(tmp_path / "dpa.key"), "--state", str(state))
    assert "first cosignature" in enlace(*cosign, "--vkey", str(vkey_file))
    fill(database, 2, start=5)
    enlace("ledger", "checkpoint", "--sign", "--pki-dir", pki_dir)
    assert "size 9 (from 6)" in enlace(*cosign, "--vkey", str(vkey_file))
    dpa = checkpoint.CosignatureVerifier.from_vkey((tmp_path / "dpa.vkey").read_text().strip())
    log = checkpoint.NoteVerifier.from_vkey(vkey_file.read_text().strip())
    assert checkpoint.open_note(state.read_bytes(), [log, dpa]).verified_names == (
        log.name,
        dpa.name,
    )
    assert enlace("ledger", "checkpoint").encode() == state.read_bytes()
