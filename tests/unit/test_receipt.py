"""The Enlace-Receipt text, byte for byte as docs/ledger.md shows it, and its signing key's id
derived once per key (a receipt is signed per exchange)."""

from __future__ import annotations

import base64

from gateway.kernel.ledger import checkpoint, receipt

DOC_TEXT = b"""enlace.receipt/v1
origin localhost/enlace/MX/ledger
index 41
leaf PH6byTDck/AfppmF7yQtn56GHzxTVaokzl70tLinDMs=
exchange 3f0c8a4e-7b1d-4c55-9a0e-2f1d6b8e9c10
size 42
root NVPrNRraxwz1yqT++hyvjOxyZAP+SzTBTxu42YDCC5U=
"""


def _documented() -> receipt.Receipt:
    return receipt.Receipt(
        "localhost/enlace/MX/ledger",
        41,
        base64.b64decode("PH6byTDck/AfppmF7yQtn56GHzxTVaokzl70tLinDMs="),
        "3f0c8a4e-7b1d-4c55-9a0e-2f1d6b8e9c10",
        42,
        base64.b64decode("NVPrNRraxwz1yqT++hyvjOxyZAP+SzTBTxu42YDCC5U="),
    )


def test_receipt_text_is_the_documented_one():
    documented = _documented()
    assert documented.body() == DOC_TEXT
    assert receipt.Receipt.parse(DOC_TEXT) == documented


def test_issued_receipt_opens_with_the_log_key_whose_id_is_derived_once():
    skey, vkey = checkpoint.generate_key("localhost/enlace/MX/ledger")
    signer = checkpoint.NoteSigner.from_skey(skey)
    verifier = checkpoint.NoteVerifier.from_vkey(vkey)
    assert signer.key_id == verifier.key_id == int(vkey.split("+")[1], 16)
    assert "key_id" in vars(signer)  # cached on the key after the first use
    value = receipt.issue(_documented(), signer)
    assert receipt.open_receipt(value, verifier) == _documented()
    note = base64.b64decode(value)
    assert note.startswith(DOC_TEXT + "\n\u2014 localhost/enlace/MX/ledger ".encode())
