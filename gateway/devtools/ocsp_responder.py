"""The development SAT OCSP responder (``enlace source run sat-ocsp``): RFC 6960 over HTTP POST.

Owns the HTTP face of ``ocsp.respond`` and the revocation-status file it answers from. SAT's
real responder is reachable only by agencies under agreement, so the dev instance and the tests
run this one instead.

Status file (JSON, written by ``gateway.devtools.sat_pki``), keyed by "No. de certificado":

    {"certificates": {"30001000000500000001": {"status": "good"},
                      "30001000000500000002": {"status": "revoked",
                                               "revoked_at": "2026-01-10T00:00:00Z",
                                               "reason": "keyCompromise"}}}

A serial that is not listed is answered ``unknown`` (not issued by this CA). The file is read
again whenever its modification time changes, so revoking a dev certificate is an edit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.x509 import ocsp as x509_ocsp

from gateway.devtools import sat_ca as devca
from gateway.kernel.efirma import ocsp
from gateway.kernel.efirma.errors import SatError

REQUEST_TYPE = "application/ocsp-request"
RESPONSE_TYPE = "application/ocsp-response"
MAX_REQUEST = 16 * 1024
_STATUSES = {"good": x509_ocsp.OCSPCertStatus.GOOD, "revoked": x509_ocsp.OCSPCertStatus.REVOKED}

Entry = tuple[x509_ocsp.OCSPCertStatus, datetime | None, x509.ReasonFlags | None]
_UNKNOWN: Entry = (x509_ocsp.OCSPCertStatus.UNKNOWN, None, None)


class StatusFileError(SatError):
    code = "sat.status_file"


def parse_status_file(data: bytes) -> dict[int, Entry]:
    """The status file's entries by X.509 serial number."""
    try:
        document = json.loads(data)
        items = document["certificates"].items()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StatusFileError('status file must be {"certificates": {...}}') from exc
    entries: dict[int, Entry] = {}
    for serial20, value in items:
        try:
            status = _STATUSES[value["status"]]
            revoked_at = reason = None
            if status == x509_ocsp.OCSPCertStatus.REVOKED:
                revoked_at = datetime.fromisoformat(value["revoked_at"]).astimezone(UTC)
                reason = x509.ReasonFlags(value.get("reason", "unspecified"))
            entries[devca.sat_serial(serial20)] = (status, revoked_at, reason)
        except (KeyError, TypeError, ValueError) as exc:
            raise StatusFileError(f"bad entry for certificate {serial20!r}") from exc
    return entries


@dataclass
class _StatusFile:
    path: Path
    mtime: float = -1.0
    entries: dict[int, Entry] | None = None

    def lookup(self, serial: int) -> Entry:
        mtime = os.stat(self.path).st_mtime
        if self.entries is None or mtime != self.mtime:
            self.entries, self.mtime = parse_status_file(self.path.read_bytes()), mtime
        return self.entries.get(serial, _UNKNOWN)


class Responder:
    """Answers OCSP requests for the certificates of one issuing CA."""

    def __init__(self, ca: devca.DevCA, status_file: Path) -> None:
        self.ca = ca
        self.status = _StatusFile(status_file)
        self.status.lookup(0)  # fail at start-up, not at the first request, on a bad file

    @classmethod
    def from_directory(cls, ca_dir: Path, status_file: Path) -> Responder:
        return cls(devca.DevCA.load(ca_dir), status_file)

    def answer(self, request_der: bytes, now: datetime) -> bytes:
        return ocsp.respond(
            request_der,
            issuer=self.ca.ca_cert,
            responder_cert=self.ca.ocsp_cert,
            responder_key=self.ca.ocsp_key,
            status_lookup=self.status.lookup,
            now=now,
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_post("/", self._handle)
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.content_type != REQUEST_TYPE:
            raise web.HTTPUnsupportedMediaType(text=f"send {REQUEST_TYPE}")
        body = await request.read()
        return web.Response(body=self.answer(body, datetime.now(UTC)), content_type=RESPONSE_TYPE)
