"""Synthetic ledger records for tests and benchmarks: one place, overridable per field."""

from __future__ import annotations

from typing import Any

from gateway.kernel.ledger import record


def exchange_record(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """An allowed exchange record numbered ``n``; any field can be overridden."""
    now = record.timestamp()
    fields: dict[str, Any] = {
        "exchange_id": f"x-{n}",
        "received_at": now,
        "responded_at": now,
        "client": "MX/GOB/SEP/becas",
        "client_verified": True,
        "service": "MX/GOB/RENAPO/curp/consulta-curp/v1",
        "method": "GET",
        "user_id": "MX-SEP-1",
        "purpose": "becas-inscripcion",
        "legal_basis": "LGE-art-8",
        "issue": f"case-{n}",
        "subjects": [],
        "outcome": "allowed",
        "status": 200,
        "error": None,
        "request_hash": "h",
        "request_digest": "d",
        "response_digest": "d",
        "request_size": 0,
        "response_size": 10,
    }
    fields.update(overrides)
    return record.exchange(**fields)
