"""The gateway's error catalogue: stable machine-readable codes and their HTTP statuses.

Codes follow X-Road's ``X-Road-Error`` style: ``Client.*`` when the caller must change something,
``Server.*`` when the gateway or a trusted source failed. A code is part of the protocol: once
published it keeps its meaning. ``docs/protocol.md`` lists them for client authors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    title: str


def _kinds(*kinds: ErrorKind) -> dict[str, ErrorKind]:
    return {k.code: k for k in kinds}


CATALOGUE: dict[str, ErrorKind] = _kinds(
    ErrorKind("Client.BadRequest", 400, "The request is malformed"),
    ErrorKind("Client.InvalidIdentifier", 400, "An identifier has the wrong shape or characters"),
    ErrorKind("Client.MissingHeader", 400, "A required header is missing or empty"),
    ErrorKind("Client.InvalidHeader", 400, "A header value is malformed"),
    ErrorKind("Client.InvalidSubject", 400, "The data subject is not a valid CURP"),
    ErrorKind("Client.InvalidBody", 400, "The request body does not conform to the service schema"),
    ErrorKind("Client.BodyTooLarge", 413, "The request body exceeds the limit"),
    ErrorKind("Client.InvalidSignature", 401, "The HTTP message signature does not verify"),
    ErrorKind("Client.DigestMismatch", 401, "The body does not match its signed Content-Digest"),
    ErrorKind("Client.SignatureExpired", 401, "The signature's created time is outside the window"),
    ErrorKind("Client.UnknownKey", 401, "The signing key is not registered"),
    ErrorKind("Client.CertificateInvalid", 401, "The signing certificate does not chain to the CA"),
    ErrorKind(
        "Client.CertificateExpired", 401, "The signing certificate is expired or not yet valid"
    ),
    ErrorKind("Client.CertificateRevoked", 401, "The signing certificate has been revoked"),
    ErrorKind("Client.Replay", 409, "This X-Road-Id or nonce was already used"),
    ErrorKind("Client.UnknownClient", 403, "The client subsystem is not registered"),
    ErrorKind("Client.ClientMismatch", 403, "The signing key does not belong to X-Road-Client"),
    ErrorKind("Client.AccessDenied", 403, "No grant allows this client to use this service"),
    ErrorKind("Client.PurposeNotGranted", 403, "The grant does not cover this purpose"),
    ErrorKind("Client.LegalBasisNotGranted", 403, "The grant does not cover this legal basis"),
    ErrorKind("Client.UnknownService", 404, "The service is not registered"),
    ErrorKind("Client.MethodNotAllowed", 405, "The service does not accept this method"),
    ErrorKind("Source.NotFound", 404, "The trusted source holds no record for the query"),
    ErrorKind("Source.InvalidQuery", 400, "The trusted source rejected the query"),
    ErrorKind("Server.LedgerUnavailable", 503, "The audit ledger could not record the exchange"),
    ErrorKind("Server.SourceUnavailable", 502, "The trusted source could not be reached"),
    ErrorKind("Server.SourceTimeout", 504, "The trusted source did not answer in time"),
    ErrorKind("Server.SourceError", 502, "The trusted source answered with an error or garbage"),
    ErrorKind("Server.RegistryUnavailable", 503, "The gateway cannot confirm the registry"),
    ErrorKind("Server.InternalError", 500, "The gateway failed unexpectedly"),
)


class EnlaceError(Exception):
    """An error with a catalogue code; the message is safe to show to the caller."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if code not in CATALOGUE:
            raise ValueError(f"unknown error code {code}")
        self.code = code
        self.kind = CATALOGUE[code]
        self.message = message or self.kind.title
        super().__init__(f"{code}: {self.message}")

    @property
    def status(self) -> int:
        return self.kind.status
