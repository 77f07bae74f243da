"""Base error for the SAT trusted source.

Owns the one error shape shared by ``efirma`` and ``ocsp``: a stable, machine-readable ``code``
(``efirma.*`` / ``ocsp.*``, in ``gateway.kernel.errors.CATALOGUE``) for logs, metrics and API
problem details, plus a human message.
"""

from __future__ import annotations

from gateway.kernel.errors import CodedError


class SatError(CodedError):
    """``code`` is stable across releases; the message is for humans and may change.

    A subclass names its default code in the class attribute ``code``."""

    code = "sat.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(code or type(self).code, message)
