"""Errors of the citizen API: one exception class, stable codes, their HTTP statuses.

``citizen.*`` codes are this package's own. A certificate the SAT validation refuses keeps the
SAT code (``efirma.is_csd``, ``efirma.expired``, ``efirma.revoked``, ``efirma.unknown_issuer``,
...: 401), and a revocation status that could not be established keeps its ``ocsp.*`` code
(503: asking again later may succeed). The message is safe to show; it never holds a CURP.
"""

from __future__ import annotations

CODES: dict[str, int] = {
    "citizen.bad_request": 400,
    "citizen.bad_query": 400,
    "citizen.body_too_large": 413,
    "citizen.challenge_invalid": 401,
    "citizen.challenge_expired": 401,
    "citizen.challenge_reused": 401,
    "citizen.bad_signature": 401,
    "citizen.not_persona_fisica": 403,
    "citizen.invalid_curp": 403,
    "citizen.unauthenticated": 401,
    "citizen.token_expired": 401,
    "citizen.unavailable": 503,
    "citizen.ledger_unavailable": 503,
    "citizen.rate_limited": 429,
}
_PREFIX_STATUS = {"efirma.": 401, "ocsp.": 503}


def status_of(code: str) -> int:
    if code in CODES:
        return CODES[code]
    for prefix, status in _PREFIX_STATUS.items():
        if code.startswith(prefix):
            return status
    raise ValueError(f"unknown citizen error code {code}")


class CitizenError(Exception):
    """A refusal with a stable ``code``; ``codes`` lists every problem found, primary first."""

    def __init__(
        self,
        code: str,
        message: str,
        codes: tuple[str, ...] = (),
        *,
        retry_after: int | None = None,
    ) -> None:
        self.code = code
        self.status = status_of(code)
        self.message = message
        self.codes = codes or (code,)
        self.retry_after = retry_after  # seconds, sent as Retry-After
        super().__init__(f"{code}: {message}")

    def to_json(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if len(self.codes) > 1:
            error["codes"] = list(self.codes)
        return {"error": error}
