"""Typed errors of the consumer SDK, one class per family of gateway error codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.kernel.ledger.receipt import Receipt


class EnlaceClientError(Exception):
    """Base class of everything the SDK raises."""


class ResponseVerificationError(EnlaceClientError):
    """The response or its evidence does not verify: treat the answer as forged."""


class GatewayError(EnlaceClientError):
    """The gateway answered with an error code (see docs/protocol.md)."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        exchange_id: str | None,
        ledger_index: int | None,
        receipt: Receipt | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.exchange_id = exchange_id
        self.ledger_index = ledger_index
        #: The verified ledger receipt of the refused exchange (None if nothing was ledgered).
        self.receipt = receipt
        super().__init__(f"{code}: {message}")


class InvalidRequest(GatewayError):
    """The request was malformed (Client.BadRequest, InvalidHeader, InvalidSubject, ...)."""


class AuthenticationFailed(GatewayError):
    """Signature, certificate or replay problems (HTTP 401/409)."""


class AccessDenied(GatewayError):
    """No grant, or the purpose or legal basis is not granted (HTTP 403)."""


class NotFound(GatewayError):
    """The service is unknown, or the source holds no record (HTTP 404)."""


class ServiceUnavailable(GatewayError):
    """The gateway, its ledger or the source failed (HTTP 5xx); retry later."""


def error_class(status: int) -> type[GatewayError]:
    if status in (401, 409):
        return AuthenticationFailed
    if status == 403:
        return AccessDenied
    if status == 404:
        return NotFound
    if status >= 500:
        return ServiceUnavailable
    return InvalidRequest
