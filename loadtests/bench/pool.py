"""Pools of distinct pre-signed requests, signed in worker processes before a round.

Each request gets its own ``X-Road-Id`` and nonce and is signed with the kernel's signing code
(``gateway.kernel.protocol.signing``, what the SDK uses), then serialised as raw HTTP/1.1 for
wrk. A template may ask for a corrupted signature (the refused case). Signing happens before
the round so that the load generator costs next to nothing while the gateway is measured.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from gateway.kernel import pki
from gateway.kernel.ids import ClientId
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing

BENCH_USER = "MX-BENCH-000001"
BENCH_ISSUE = "BENCH-1"


@dataclass(frozen=True)
class Template:
    """What every request of a pool says; only the subject (cycled), id and nonce vary."""

    client: ClientId
    path: str
    purpose: str
    legal_basis: str
    subjects: tuple[str, ...]
    method: str = "GET"
    body: Any = None
    corrupt_signature: bool = False


@dataclass(frozen=True)
class Signed:
    """One signed request, in the parts httpx needs (a probe) and as raw bytes (wrk)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def raw(self, authority: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {authority}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


_keys: dict[str, tuple[Any, str]] = {}


def _signer(pki_dir: str, client: ClientId) -> tuple[Any, str]:
    """The member's signing key and key id, loaded once per worker process."""
    cache = f"{pki_dir}:{client.member}"
    if cache not in _keys:
        folder = pki.PkiDir(Path(pki_dir))
        pair = folder.load_pair(folder.member(client.member))
        _keys[cache] = (pair.key, pki.keyid(pair.cert))
    return _keys[cache]


def corrupt(headers: dict[str, str]) -> None:
    """Flip the first byte of the signature value: still well-formed, no longer valid."""
    label, _, value = headers[h.SIGNATURE].partition("=:")
    raw = bytearray(base64.b64decode(value.rstrip(":")))
    raw[0] ^= 0xFF
    headers[h.SIGNATURE] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"


def sign(template: Template, pki_dir: str, base_url: str, start: int, count: int) -> list[Signed]:
    """``count`` signed requests, subjects cycled from index ``start``."""
    key, key_id = _signer(pki_dir, template.client)
    body = b"" if template.body is None else json.dumps(template.body).encode()
    out = []
    for n in range(start, start + count):
        headers = {
            h.CLIENT: str(template.client),
            h.ID: str(uuid.uuid4()),
            h.USER_ID: BENCH_USER,
            h.ISSUE: BENCH_ISSUE,
            h.SUBJECT: template.subjects[n % len(template.subjects)],
            h.PURPOSE: template.purpose,
            h.LEGAL_BASIS: template.legal_basis,
        }
        if body:
            headers["Content-Type"] = "application/json"
        message = signing.Request(template.method, base_url + template.path, headers)
        signing.sign_request(message, body, key=key, key_id=key_id)
        if template.corrupt_signature:
            corrupt(message.headers)
        out.append(Signed(template.method, template.path, message.headers, body))
    return out


def _sign_raw(args: tuple[Template, str, str, int, int]) -> list[bytes]:
    template, pki_dir, base_url, start, count = args
    authority = base_url.split("://", 1)[1]
    return [signed.raw(authority) for signed in sign(template, pki_dir, base_url, start, count)]


class Signer:
    """A pool of worker processes that sign request pools, kept for the whole run."""

    def __init__(self, pki_dir: Path, workers: int | None = None) -> None:
        self._pki_dir = str(pki_dir)
        self._workers = workers or os.cpu_count() or 2
        # Spawned, not forked: a forked worker would inherit (and keep open) the harness's
        # client connections, and a gateway waits for its connections before it stops.
        self._executor = ProcessPoolExecutor(self._workers, mp_context=get_context("spawn"))

    def pools(self, jobs: list[tuple[Template, str, int]]) -> list[list[bytes]]:
        """For each (template, base URL, count): that many raw requests, signed in parallel."""
        chunks: list[tuple[int, tuple[Template, str, str, int, int]]] = []
        for index, (template, base_url, count) in enumerate(jobs):
            step = max(1, -(-count // self._workers))
            for start in range(0, count, step):
                size = min(step, count - start)
                chunks.append((index, (template, self._pki_dir, base_url, start, size)))
        results: list[list[bytes]] = [[] for _ in jobs]
        signed = self._executor.map(_sign_raw, [args for _, args in chunks])
        for (index, _), part in zip(chunks, signed, strict=True):
            results[index].extend(part)
        return results

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)
