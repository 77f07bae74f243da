"""subject map (completeness) and the covert entries' lookup

Revision ID: 0009
Revises: 0007 (re-chained after 0008 on merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ledger_subjects_by_idx", "ledger_subjects", ["idx"], unique=False)
    op.create_table(
        "ledger_map_nodes",
        sa.Column("depth", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("path", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("value", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("depth", "path"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_map_values",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("latest", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "ledger_map_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("head", sa.BigInteger(), nullable=False),
        sa.Column("keys", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        sa.table("ledger_map_state", sa.column("id"), sa.column("head"), sa.column("keys"),
                 sa.column("root", sa.LargeBinary())),
        [{"id": 1, "head": -1, "keys": 0, "root": bytes(32)}],
    )  # fmt: skip
    op.create_table(
        "ledger_covert",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject", "idx"),
    )


def downgrade() -> None:
    op.drop_table("ledger_covert")
    op.drop_table("ledger_map_state")
    op.drop_table("ledger_map_values")
    op.drop_table("ledger_map_nodes")
    op.drop_index("ledger_subjects_by_idx", table_name="ledger_subjects")
