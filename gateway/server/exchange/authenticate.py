"""Step 2 of an exchange: who signed the request, and is it the first time they sent it.

In this order: ``Signature-Input`` and ``Signature`` usable and ``created`` within the window
(``Client.InvalidSignature``, ``Client.SignatureExpired``); the key id registered
(``Client.UnknownKey``); the signature and the body's digest (``Client.InvalidSignature``,
``Client.DigestMismatch``); then the certificate: not revoked, issued by the instance CA, inside
its validity, and its member the client's (``Client.CertificateRevoked``,
``Client.CertificateInvalid``, ``Client.CertificateExpired``, ``Client.ClientMismatch``).

The signature is checked before anything the registry says about the key, so that a key's
status is told only to whoever holds the key; then a covert grant is applied. The replay check
(``Client.Replay``) comes last, after the signature, so that an attacker cannot burn a victim's
nonces; only a first use verifies the client (its subjects may now be ledgered): a repeat of
signed bytes proves nothing of who sent it again.
"""

from __future__ import annotations

import datetime as dt

from gateway.kernel import pki
from gateway.kernel.errors import EnlaceError
from gateway.kernel.protocol import signing
from gateway.server.exchange.context import Exchange, Inbound, MetaParsed, Parsed
from gateway.server.exchange.parse import target_uri
from gateway.server.state import Gateway
from gateway.storage.registry import CertEntry


async def authenticate(
    gw: Gateway, inbound: Inbound, parsed: Parsed | MetaParsed, ex: Exchange
) -> None:
    """Verify the signature and its certificate, then refuse a replayed request: this
    process's cache first, then the claims every gateway shares (``replay_claims``)."""
    params = signing.read_params(inbound.headers)
    signing.check_created(params)
    entry = gw.snapshot.certs.get(params.keyid)
    if entry is None:
        raise EnlaceError("Client.UnknownKey", "keyid is not a registered certificate")
    signing.verify_signed_request(
        inbound.method,
        target_uri(inbound, gw.settings.public_url),
        inbound.headers,
        ex.request_body,
        params,
        entry.cert.public_key(),
    )
    check_certificate(gw.issued, entry, parsed)
    # A covert grant hides every exchange under it, refused ones included.
    covert = gw.snapshot.grants.get((str(parsed.client), str(parsed.target.service)))
    if covert is not None and covert.hidden_until:
        ex.hidden_until = covert.hidden_until.isoformat()
    keys = (f"n:{params.keyid}:{params.nonce}", f"i:{parsed.client}:{ex.exchange_id}")
    if not gw.replay.first_use(*keys):
        raise EnlaceError("Client.Replay")
    if gw.shared_replay is not None:
        try:
            first = await gw.shared_replay.first_use(*keys)
        except EnlaceError:  # Server.ReplayUnavailable: nothing ran, the same bytes may retry
            gw.replay.forget(*keys)
            raise
        if not first:
            raise EnlaceError("Client.Replay")
    # Only now: a repeat proves nothing of who sent it (anyone with a copy can), so it is
    # recorded without its subjects and counted against its address's unsigned budget.
    ex.client_verified = True


def check_certificate(
    issued: pki.IssuedChecker, entry: CertEntry, parsed: Parsed | MetaParsed
) -> None:
    """The signing certificate, once its signature verified: not revoked, issued by the
    instance CA and valid now, and the client's member's."""
    if entry.revoked:
        raise EnlaceError("Client.CertificateRevoked")
    try:
        issued.check(entry.keyid, entry.cert, dt.datetime.now(dt.UTC))
    except pki.CertificateProblem as exc:
        code = (
            "Client.CertificateExpired" if exc.reason == "expired" else "Client.CertificateInvalid"
        )
        raise EnlaceError(code, str(exc)) from exc
    if entry.member != parsed.client.member:
        raise EnlaceError("Client.ClientMismatch", "the key belongs to another member")
