"""The consumer client: one signed call to a service, one verified result.

Every call is signed per docs/protocol.md; every response must carry a valid gateway signature
(checked against the instance CA) and an ``X-Road-Request-Hash`` equal to the hash of the request
that was sent, and a successful answer's evidence must verify as signed by the provider.
Anything else raises ``ResponseVerificationError``: an unverifiable answer is never returned.
Every ledgered response (allowed or refused) must also carry a ledger receipt signed by the
gateway's checkpoint key for this exchange and ledger index (docs/ledger.md); it is exposed as
``Result.receipt`` and ``GatewayError.receipt`` so the consumer can keep it as proof.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from gateway.kernel import pki
from gateway.kernel.encoding import EncodingError, b64decode
from gateway.kernel.errors import EnlaceError
from gateway.kernel.ids import ClientId, MemberId, ServiceId
from gateway.kernel.ledger import checkpoint as notes
from gateway.kernel.ledger import merkle, trust
from gateway.kernel.ledger import receipt as receipts
from gateway.kernel.protocol import evidence, signing
from gateway.kernel.protocol import headers as h
from services.sdk.errors import ResponseVerificationError, error_class


@dataclass(frozen=True)
class Result:
    exchange_id: str
    ledger_index: int
    evidence: evidence.Evidence
    receipt: receipts.Receipt

    @property
    def data(self) -> Any:
        return self.evidence.data


@dataclass(frozen=True)
class MetaResult:
    """A metaservice's verified answer: signed by the gateway and ledgered, with no evidence."""

    exchange_id: str
    ledger_index: int
    receipt: receipts.Receipt
    data: Any


#: The protocol headers of a metaservice call unless the caller sets them: recorded in the
#: ledger, not checked against grants (docs/protocol.md §8).
META_DEFAULTS = {
    "user_id": "metadata",
    "issue": "metadata",
    "purpose": "metadata",
    "legal_basis": "metadata",
}


class EnlaceClient:
    def __init__(
        self,
        base_url: str,
        client: str,
        *,
        signer: pki.KeyPair,
        ca_cert: x509.Certificate,
        ca_file: Path | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
        ledger_vkey: str | None = None,
        witnesses: Sequence[str] = (),
        witness_quorum: int = 0,
    ) -> None:
        """``ledger_vkey`` pins the gateway's checkpoint key (else it is read from the trust
        document, over TLS checked against ``ca_file``); ``witnesses`` (cosignature vkeys) and
        ``witness_quorum`` are the k-of-n policy ``witnessed`` applies (docs/trust.md)."""
        self.client_id = ClientId.parse(client)
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.keyid = pki.keyid(signer.cert)
        self.ca_cert = ca_cert
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._http = httpx.Client(timeout=timeout, verify=verify, transport=transport)
        self._gateway_keys: dict[str, Any] = {}
        self._ledger_verifier = notes.NoteVerifier.from_vkey(ledger_vkey) if ledger_vkey else None
        self.witness_policy = trust.WitnessPolicy.of(list(witnesses), witness_quorum)

    @classmethod
    def from_pki(
        cls, base_url: str, client: str, pki_dir: str | Path, **kwargs: Any
    ) -> EnlaceClient:
        """A client using the member's signing key (and the pinned checkpoint key) of a dev PKI."""
        folder = pki.PkiDir(Path(pki_dir))
        member = ClientId.parse(client).member
        if folder.checkpoint_vkey.exists():
            kwargs.setdefault("ledger_vkey", folder.checkpoint_vkey.read_text().strip())
        return cls(
            base_url,
            client,
            signer=folder.load_pair(folder.member(member)),
            ca_cert=pki.load_cert(folder.ca_cert),
            ca_file=folder.ca_cert,
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EnlaceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(
        self,
        service: str,
        *,
        subject: str,
        purpose: str,
        legal_basis: str,
        user_id: str,
        issue: str,
        method: str = "GET",
        body: Any = None,
        path: str = "",
        query: dict[str, str] | None = None,
        exchange_id: str | None = None,
    ) -> Result:
        """Call a service; return the verified evidence or raise a typed error.

        ``subject`` is the data subject's CURP, or ``headers.UNKNOWN_SUBJECT`` for operations
        that discover their subjects (their schema says so; docs/sources.md).
        """
        service_id = ServiceId.parse(service)
        content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {
            h.CLIENT: str(self.client_id),
            h.ID: exchange_id or str(uuid.uuid4()),
            h.USER_ID: user_id,
            h.ISSUE: issue,
            h.SUBJECT: subject,
            h.PURPOSE: purpose,
            h.LEGAL_BASIS: legal_basis,
        }
        target = f"{service_id}" + (f"/{path}" if path else "")
        response, sent_hash = self._send(method, target, query, headers, content)
        payload, ledger_index, receipt = self._verified(response, sent_hash, headers[h.ID])
        try:
            proof = evidence.verify(payload["evidence"], self.ca_cert)
        except (KeyError, TypeError, evidence.EvidenceError) as exc:
            raise ResponseVerificationError(f"evidence: {exc}") from exc
        expected = {
            "iss": str(service_id),
            "exchange_id": headers[h.ID],
            "client": str(self.client_id),
        }
        wrong = sorted(k for k, v in expected.items() if proof.claims.get(k) != v)
        if wrong:
            raise ResponseVerificationError(f"evidence has another {', '.join(wrong)}")
        return Result(payload["exchange_id"], ledger_index, proof, receipt)

    def list_clients(self, instance: str | None = None, **meta: str) -> MetaResult:
        """X-Road's ``listClients``: the members and subsystems of ``instance`` (the client's own
        by default). ``meta`` may set ``user_id``, ``issue``, ``purpose``, ``legal_basis``."""
        return self._metaservice(f"{instance or self.client_id.member.instance}/listClients", meta)

    def list_methods(self, provider: str, **meta: str) -> MetaResult:
        """X-Road's ``listMethods``: every service of the provider subsystem."""
        return self._metaservice(f"{ClientId.parse(provider)}/listMethods", meta)

    def allowed_methods(self, provider: str, **meta: str) -> MetaResult:
        """X-Road's ``allowedMethods``: the provider's services this client is granted."""
        return self._metaservice(f"{ClientId.parse(provider)}/allowedMethods", meta)

    def get_openapi(self, service: str, **meta: str) -> MetaResult:
        """X-Road's ``getOpenAPI``: the OpenAPI 3.1 document of a registered service."""
        service_id = ServiceId.parse(service)
        code = service_id.code + (f"/{service_id.version}" if service_id.version else "")
        target = f"{service_id.provider}/getOpenAPI"
        return self._metaservice(target, meta, query={"serviceCode": code})

    def _metaservice(
        self, target: str, meta: dict[str, str], query: dict[str, str] | None = None
    ) -> MetaResult:
        """One signed metaservice GET: no data subject, answered with the gateway's signature
        and a ledger receipt, and no evidence (docs/protocol.md §8)."""
        fields = META_DEFAULTS | meta
        headers = {
            h.CLIENT: str(self.client_id),
            h.ID: fields.get("exchange_id") or str(uuid.uuid4()),
            h.USER_ID: fields["user_id"],
            h.ISSUE: fields["issue"],
            h.SUBJECT: h.UNKNOWN_SUBJECT,
            h.PURPOSE: fields["purpose"],
            h.LEGAL_BASIS: fields["legal_basis"],
        }
        response, sent_hash = self._send("GET", target, query, headers, b"")
        payload, ledger_index, receipt = self._verified(response, sent_hash, headers[h.ID])
        return MetaResult(headers[h.ID], ledger_index, receipt, payload)

    def _send(
        self,
        method: str,
        target: str,
        query: dict[str, str] | None,
        headers: dict[str, str],
        content: bytes,
    ) -> tuple[httpx.Response, str]:
        """Sign and send a request to ``/r1/{target}``; the response and the sent request hash."""
        url = str(httpx.URL(f"{self.base_url}/r1/{target}", params=query or None))
        if content:
            headers = {**headers, "Content-Type": "application/json"}
        message = signing.Request(method, url, headers)
        signing.sign_request(message, content, key=self.signer.key, key_id=self.keyid)
        response = self._http.request(method, url, headers=message.headers, content=content)
        return response, signing.request_hash(message.headers)

    def _gateway_key(self, keyid: str) -> Any:
        if keyid not in self._gateway_keys:
            trust = self._http.get(f"{self.base_url}/.well-known/enlace/trust").json()
            cert = x509.load_pem_x509_certificate(trust["gateway_signing_certificate"].encode())
            try:
                pki.check_issued(cert, self.ca_cert, dt.datetime.now(dt.UTC))
            except pki.CertificateProblem as exc:
                raise ResponseVerificationError(f"gateway certificate: {exc}") from exc
            expected = MemberId(self.client_id.member.instance, "ENLACE", "gateway")
            if pki.member_of(cert) != expected:
                raise ResponseVerificationError("gateway certificate names another member")
            self._gateway_keys[pki.keyid(cert)] = cert.public_key()
        if keyid not in self._gateway_keys:
            raise ResponseVerificationError("response signed with an unknown gateway key")
        return self._gateway_keys[keyid]

    def _ledger_key(self) -> notes.NoteVerifier:
        if self._ledger_verifier is None:
            trust = self._http.get(f"{self.base_url}/.well-known/enlace/trust").json()
            try:
                self._ledger_verifier = notes.NoteVerifier.from_vkey(
                    trust["ledger_checkpoint_vkey"]
                )
            except (KeyError, TypeError, notes.KeyFormatError) as exc:
                raise ResponseVerificationError("no usable ledger checkpoint key") from exc
        return self._ledger_verifier

    def witnessed(self, receipt: receipts.Receipt) -> notes.Checkpoint:
        """The gateway's newest checkpoint, once it passes the witness policy (the log's
        signature and at least ``witness_quorum`` pinned witnesses) and is proven, by a
        consistency proof, to extend the tree the receipt names: the receipt's entry is then in
        a witnessed history. Raises ``ResponseVerificationError`` otherwise (e.g. not yet
        cosigned: call again after the next checkpoint)."""
        note = self._http.get(f"{self.base_url}/v1/ledger/checkpoint")
        if note.status_code != 200:
            raise ResponseVerificationError(f"no checkpoint: HTTP {note.status_code}")
        try:
            head, _names = self.witness_policy.check(note.content, self._ledger_key())
        except trust.TrustError as exc:
            raise ResponseVerificationError(str(exc)) from exc
        if head.size < receipt.tree_size:
            raise ResponseVerificationError(
                "the witnessed checkpoint does not cover the receipt yet"
            )
        answer = self._http.get(
            f"{self.base_url}/v1/ledger/proof/consistency",
            params={"old": receipt.tree_size, "new": head.size},
        )
        try:
            proof = [b64decode(h) for h in answer.json()["proof"]]
            merkle.verify_consistency(
                receipt.tree_size, head.size, proof, receipt.root, head.root_hash
            )
        except (ValueError, KeyError, TypeError, EncodingError, merkle.MerkleError) as exc:
            raise ResponseVerificationError(f"consistency with the receipt: {exc}") from exc
        return head

    def _receipt(
        self, response: httpx.Response, ledger_index: int | None
    ) -> receipts.Receipt | None:
        """The verified receipt of a ledgered response (None when nothing was ledgered)."""
        value = response.headers.get(h.RECEIPT)
        if ledger_index is None or value is None:
            if ledger_index is not None or value is not None:
                raise ResponseVerificationError("ledger index and receipt must come together")
            return None
        try:
            receipt = receipts.open_receipt(value, self._ledger_key())
        except receipts.ReceiptError as exc:
            raise ResponseVerificationError(f"ledger receipt: {exc}") from exc
        if receipt.index != ledger_index:
            raise ResponseVerificationError("ledger receipt is for another ledger index")
        if receipt.exchange_id != response.headers.get(h.ID):
            raise ResponseVerificationError("ledger receipt is for another exchange")
        return receipt

    def _verified(
        self, response: httpx.Response, sent_hash: str, sent_id: str
    ) -> tuple[Any, int, receipts.Receipt]:
        """A successful, signed and ledgered answer's payload, index and receipt; a refusal
        raises its typed error; anything unverifiable, ``ResponseVerificationError``."""
        body = response.content
        try:
            keyid = signing.response_keyid(response.headers)
            message = signing.Response(response.status_code, dict(response.headers.items()))
            signing.verify_response(message, body, key=self._gateway_key(keyid), key_id=keyid)
        except EnlaceError as exc:
            raise ResponseVerificationError(f"gateway signature: {exc.message}") from exc
        if response.headers.get(h.REQUEST_HASH) != sent_hash:
            raise ResponseVerificationError("X-Road-Request-Hash does not match the request sent")
        if response.headers.get(h.ID) != sent_id:
            raise ResponseVerificationError("X-Road-Id does not match the request sent")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ResponseVerificationError("response body is not JSON") from exc
        index_text = response.headers.get(h.LEDGER_INDEX)
        ledger_index = int(index_text) if index_text and index_text.isdigit() else None
        receipt = self._receipt(response, ledger_index)
        if response.status_code != 200:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            code = str(error.get("code", "Server.InternalError"))
            raise error_class(response.status_code)(
                code,
                str(error.get("message", "")),
                response.status_code,
                error.get("exchange_id"),
                ledger_index,
                receipt,
            )
        if ledger_index is None or receipt is None:
            raise ResponseVerificationError("successful response without a ledger index")
        return payload, ledger_index, receipt
