"""Single use of login challenges: ``citizen_challenges_used``.

Issuing a challenge writes nothing (``gateway.server.citizen_auth``). A login records the
challenge's nonce here once the challenge's seal and expiry, the signature over it and the
certificate's local checks have passed, before anything that costs more (the OCSP request, the
ledger): a second login with the same challenge finds it taken. An attempt that fails those
checks writes nothing, so junk cannot take the write lock. Rows are purged once their challenge
has expired (an expired challenge is refused before it gets here anyway).
"""

from __future__ import annotations

import sqlalchemy as sa

from gateway.storage.db import Database, metadata

citizen_challenges_used = sa.Table(
    "citizen_challenges_used",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # Unix seconds
    sa.Index("citizen_challenges_by_expiry", "expires_at"),
)


def use(db: Database, nonce: str, expires_at: int, now: float) -> bool:
    """Record a challenge as used; False if it already was."""
    try:
        with db.write.begin() as conn:
            conn.execute(
                sa.delete(citizen_challenges_used).where(
                    citizen_challenges_used.c.expires_at <= int(now)
                )
            )
            conn.execute(
                sa.insert(citizen_challenges_used).values(nonce=nonce, expires_at=expires_at)
            )
    except sa.exc.IntegrityError:
        return False
    return True
