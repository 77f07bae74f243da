"""Ledger receipts: the gateway's signed promise that an exchange is in the log (pure, no I/O).

A receipt is a C2SP signed note, signed by the gateway's checkpoint key, whose text is::

    enlace.receipt/v1
    origin <log origin>
    index <entry index>
    leaf <base64 RFC 9162 leaf hash of the entry>
    exchange <X-Road-Id of the exchange>
    size <tree size right after the entry's batch was committed>
    root <base64 root hash of that tree>

Because it names a tree head (size, root) that contains the entry, the receipt holder can later
prove the entry with an inclusion proof against ``root`` and prove that any later checkpoint
extends that tree with a consistency proof. The first line keeps a receipt from ever parsing as
a checkpoint and vice versa. On the wire (``Enlace-Receipt``) it is the base64 of the whole
signed note. docs/ledger.md specifies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.kernel.encoding import EncodingError, b64decode, b64encode
from gateway.kernel.ledger import checkpoint
from gateway.kernel.ledger.merkle import HASH_SIZE

__all__ = ["HEADER", "MAX_HEADER_SIZE", "Receipt", "ReceiptError", "issue", "open_receipt"]

HEADER = "enlace.receipt/v1"
#: Longest ``Enlace-Receipt`` value accepted: a receipt is about 450 characters.
MAX_HEADER_SIZE = 4096
_LABELS = ("origin", "index", "leaf", "exchange", "size", "root")
#: The note text with the values left out: one ``format`` per receipt.
_TEXT = HEADER + "\n" + "".join(f"{label} {{}}\n" for label in _LABELS)
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
#: Origin and exchange id: 1-256 printable ASCII characters without spaces.
_TOKEN = re.compile(r"[!-~]{1,256}", re.ASCII)


class ReceiptError(Exception):
    """A receipt is malformed, not signed by the expected key, or not for this exchange."""


@dataclass(frozen=True)
class Receipt:
    origin: str
    index: int
    leaf_hash: bytes
    exchange_id: str
    tree_size: int
    root: bytes

    def __post_init__(self) -> None:
        for name, value in (("origin", self.origin), ("exchange id", self.exchange_id)):
            if not _TOKEN.fullmatch(value):
                raise ReceiptError(f"invalid {name} {value!r}")
        if not 0 <= self.index < self.tree_size:
            raise ReceiptError(f"index {self.index} is not in a tree of size {self.tree_size}")
        if len(self.leaf_hash) != HASH_SIZE or len(self.root) != HASH_SIZE:
            raise ReceiptError(f"leaf and root hashes must be {HASH_SIZE} bytes")

    def body(self) -> bytes:
        """The note text that is signed."""
        return _TEXT.format(
            self.origin,
            self.index,
            b64encode(self.leaf_hash),
            self.exchange_id,
            self.tree_size,
            b64encode(self.root),
        ).encode()

    @classmethod
    def parse(cls, body: bytes) -> Receipt:
        """Parse a receipt's note text strictly."""
        try:
            lines = body.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise ReceiptError("receipt text is not ASCII") from None
        if len(lines) != len(_LABELS) + 2 or lines[0] != HEADER or lines[-1] != "":
            raise ReceiptError(f"receipt text must be {HEADER!r} and {len(_LABELS)} fields")
        values: list[str] = []
        for label, line in zip(_LABELS, lines[1:-1], strict=True):
            name, _, value = line.partition(" ")
            if name != label or not value:
                raise ReceiptError(f"receipt line {line!r}: expected '{label} <value>'")
            values.append(value)
        origin, index, leaf, exchange_id, tree_size, root = values
        return cls(
            origin,
            _decimal(index),
            _hash(leaf),
            exchange_id,
            _decimal(tree_size),
            _hash(root),
        )


def _decimal(text: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise ReceiptError(f"{text!r} is not a canonical decimal")
    return int(text)


def _hash(text: str) -> bytes:
    try:
        return b64decode(text, canonical=True)
    except EncodingError as exc:
        raise ReceiptError(f"{exc} hash") from None


def issue(receipt: Receipt, signer: checkpoint.NoteSigner) -> str:
    """Sign a receipt with the log's key; return the ``Enlace-Receipt`` header value."""
    if receipt.origin != signer.name:
        raise ReceiptError("a receipt is signed by the key named after its log's origin")
    return b64encode(checkpoint.sign_note(receipt.body(), [signer]))


def open_receipt(value: str, verifier: checkpoint.NoteVerifier) -> Receipt:
    """Verify an ``Enlace-Receipt`` header value against the log's key and parse it."""
    if len(value) > MAX_HEADER_SIZE:
        raise ReceiptError(f"receipt is longer than {MAX_HEADER_SIZE} characters")
    try:
        note = b64decode(value)
    except EncodingError:
        raise ReceiptError("receipt is not base64") from None
    try:
        opened = checkpoint.open_note(note, [verifier])
    except checkpoint.NoteError as exc:
        raise ReceiptError(f"receipt signature: {exc}") from None
    receipt = Receipt.parse(opened.body)
    if receipt.origin != verifier.name:
        raise ReceiptError(f"receipt is for log {receipt.origin!r}, not {verifier.name!r}")
    return receipt
