"""Enlace consumer SDK: sign requests, verify the gateway's responses and the sources' evidence."""

from services.sdk.client import EnlaceClient, MetaResult, Result
from services.sdk.errors import (
    AccessDenied,
    AuthenticationFailed,
    EnlaceClientError,
    GatewayError,
    InvalidRequest,
    NotFound,
    ResponseVerificationError,
    ServiceUnavailable,
)

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "EnlaceClient",
    "EnlaceClientError",
    "GatewayError",
    "InvalidRequest",
    "MetaResult",
    "NotFound",
    "ResponseVerificationError",
    "Result",
    "ServiceUnavailable",
]
