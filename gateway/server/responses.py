"""The one mapping from an error to what a client receives, and the JSON bodies around it.

An error a route may show carries a stable ``code``, its HTTP ``status`` and a ``message``
that is safe to show (``SafeError``: ``EnlaceError``, ``CitizenError`` and the ledger API's
errors all do). Its body is always ``{"error": {"code", "message", ...details}}``; the route
adds what its protocol needs (the exchange id, a citizen's list of codes, ``Retry-After``).
The exchange route signs the same body instead of sending it as is (``gateway.server.exchange``).

Bodies are serialised by hand, compact and in UTF-8, not through response models: the proof
endpoints and the exchange path are meant to take heavy traffic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from gateway.kernel import canonical_json

Handler = Callable[[Request], Awaitable[Response]]
E = TypeVar("E", bound=Exception)


class SafeError(Protocol):
    """An error with a catalogue code, its HTTP status and a message safe to show."""

    @property
    def code(self) -> str: ...

    @property
    def status(self) -> int: ...

    @property
    def message(self) -> str: ...


def dump(payload: Any) -> bytes:
    """The compact UTF-8 JSON every route answers with."""
    return canonical_json.compact(payload)


def error_payload(error: SafeError, **details: Any) -> dict[str, Any]:
    """``{"error": {"code", "message", **details}}``: the body of every refusal."""
    return {"error": {"code": error.code, "message": error.message, **details}}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(dump(payload), status, headers, "application/json")


def error_response(
    error: SafeError, headers: dict[str, str] | None = None, **details: Any
) -> Response:
    """The response telling a client of ``error``: its status and its error body."""
    return json_response(error_payload(error, **details), error.status, headers)


def answering(render: Callable[[E], Response], *errors: type[E]) -> Callable[[Handler], Handler]:
    """A route decorator: an exception of one of ``errors`` becomes ``render``'s response."""

    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except errors as exc:
                return render(exc)

        # The route is described by the handler; FastAPI reads the signature of ``endpoint``.
        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap
