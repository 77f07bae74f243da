"""Base error for the SAT trusted source.

Owns the one error shape shared by ``efirma`` and ``ocsp``: a stable, machine-readable ``code``
(``efirma.*`` / ``ocsp.*``) for logs, metrics and API problem details, plus a human message.
"""

from __future__ import annotations


class SatError(Exception):
    """``code`` is stable across releases; the message is for humans and may change."""

    code = "sat.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])
