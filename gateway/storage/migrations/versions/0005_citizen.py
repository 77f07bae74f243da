"""citizen view: used login challenges and early disclosures of covert entries

Revision ID: 0005
Revises: 0002 (the newest revision when this was written; 0003/0004 chain in between on merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_challenges_used",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index(
        "citizen_challenges_by_expiry", "citizen_challenges_used", ["expires_at"], unique=False
    )
    op.create_table(
        "ledger_disclosures",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("disclosed_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
    )


def downgrade() -> None:
    op.drop_table("ledger_disclosures")
    op.drop_index("citizen_challenges_by_expiry", table_name="citizen_challenges_used")
    op.drop_table("citizen_challenges_used")
