"""Crafting raw signed requests, so tests can break them in exactly one way at a time."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.kernel import pki
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.storage.db import Database, ledger_entries


@dataclass
class Call:
    """A request before signing; ``sign`` fills in the signature headers."""

    base_url: str
    signer: pki.KeyPair
    client: str = str(bootstrap.BECAS)
    service: str = str(bootstrap.CURP_SERVICE)
    method: str = "GET"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = {
            h.CLIENT: self.client,
            h.ID: str(uuid.uuid4()),
            h.USER_ID: "MX-SEP-000123",
            h.ISSUE: "BECA-2026-1",
            h.PURPOSE: bootstrap.BECAS_PURPOSE,
            h.LEGAL_BASIS: bootstrap.BECAS_LEGAL_BASIS,
        }
        if self.body:
            defaults["Content-Type"] = "application/json"  # as the SDK sends a body
        self.headers = {**defaults, **self.headers}

    @property
    def url(self) -> str:
        return f"{self.base_url}/r1/{self.service}"

    def sign(self, *, keyid: str | None = None, created: dt.datetime | None = None) -> Call:
        message = signing.Request(self.method, self.url, self.headers)
        signing.sign_request(
            message,
            self.body,
            key=self.signer.key,
            key_id=keyid or pki.keyid(self.signer.cert),
            created=created,
        )
        self.headers = message.headers
        return self

    def send(self, http: httpx.Client) -> httpx.Response:
        return http.request(self.method, self.url, headers=self.headers, content=self.body)


def ledger_entry(database: Database, index: int) -> dict[str, Any]:
    with database.read.connect() as conn:
        body = conn.execute(
            sa.select(ledger_entries.c.body).where(ledger_entries.c.idx == index)
        ).scalar_one()
    return json.loads(body)


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]
