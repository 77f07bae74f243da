"""Access control: deny by default; a grant names client, service, purposes and legal bases.

Pure decisions over an in-memory set of grants; the registry loads them from the database.
Purposes and legal bases are short codes (``becas-inscripcion``, ``LGE-art-8``) that the
grant lists explicitly; there is no wildcard, so a new purpose always needs a new decision.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.kernel.errors import EnlaceError

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_code(kind: str, value: str) -> str:
    """Validate a purpose or legal-basis code (also used for the CLI's arguments)."""
    if not CODE.fullmatch(value):
        raise EnlaceError(
            "Client.InvalidHeader",
            f"{kind} must be 1-128 characters of A-Z a-z 0-9 . _ : - starting alphanumeric",
        )
    return value


@dataclass(frozen=True)
class Grant:
    client: str
    service: str
    purposes: frozenset[str]
    legal_bases: frozenset[str]
    #: Exchanges under this grant stay hidden from the citizen until this date (covert inquiries).
    hidden_until: dt.date | None = None


def decide(
    grants: Mapping[tuple[str, str], Grant],
    client: str,
    service: str,
    purpose: str,
    legal_basis: str,
) -> Grant:
    """Return the grant that allows the exchange, or raise the refusal with its code."""
    grant = grants.get((client, service))
    if grant is None:
        raise EnlaceError("Client.AccessDenied", f"{client} has no grant for {service}")
    if purpose not in grant.purposes:
        raise EnlaceError("Client.PurposeNotGranted", f"purpose {purpose!r} is not granted")
    if legal_basis not in grant.legal_bases:
        raise EnlaceError(
            "Client.LegalBasisNotGranted", f"legal basis {legal_basis!r} is not granted"
        )
    return grant
