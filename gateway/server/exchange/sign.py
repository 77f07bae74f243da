"""Step 6 of an exchange: the response headers, the ledger receipt and the gateway's signature.

Every response to ``/r1/`` carries the exchange id and the request hash (and the service, once
the path parsed); a ledgered one carries its ledger index and the signed receipt for it; an
error the gateway raised (not one a source answered with, ``Source.*``) is named in
``X-Road-Error``. The gateway signs status, digest and these headers (``signing.sign_response``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.kernel.ledger import receipt
from gateway.kernel.ledger.checkpoint import NoteSigner
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.server.exchange.context import Exchange
from gateway.server.state import Gateway
from gateway.storage.ledger.sequencer import Appended


@dataclass(frozen=True)
class Signed:
    """A signed response, ready for any HTTP layer to send as is."""

    status: int
    body: bytes
    headers: dict[str, str]


def headers_for(ex: Exchange, exchange_id: str) -> dict[str, str]:
    """The headers of every exchange response, before it is ledgered."""
    headers = {
        "Content-Type": "application/json",
        h.ID: exchange_id,
        h.REQUEST_HASH: ex.request_hash,
    }
    if ex.service:
        headers[h.SERVICE] = ex.service
    return headers


def receipt_headers(appended: Appended, exchange_id: str, signer: NoteSigner) -> dict[str, str]:
    """Where the exchange went in the ledger, and the receipt that proves it."""
    issued = receipt.Receipt(
        signer.name,
        appended.index,
        appended.leaf_hash,
        exchange_id,
        appended.tree_size,
        appended.root,
    )
    return {h.LEDGER_INDEX: str(appended.index), h.RECEIPT: receipt.issue(issued, signer)}


def error_header(error: str | None) -> dict[str, str]:
    """``X-Road-Error`` for an error the gateway raised; a source's own answer has none."""
    return {h.ERROR: error} if error and not error.startswith("Source.") else {}


def sign(gw: Gateway, status: int, body: bytes, headers: dict[str, str]) -> Signed:
    """``headers`` (the caller's own, completed in place) signed with ``body``."""
    message = signing.Response(status, headers)
    signing.sign_response(message, body, key=gw.signer.key, key_id=gw.signer_keyid)
    return Signed(status, body, message.headers)
