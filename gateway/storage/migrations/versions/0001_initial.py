"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("exchange_id", sa.String(length=128), nullable=True),
        sa.Column("client", sa.String(length=270), nullable=True),
        sa.Column("service", sa.String(length=350), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
    )
    op.create_index("ledger_by_client", "ledger_entries", ["client", "idx"], unique=False)
    op.create_table(
        "ledger_subjects",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject", "idx"),
    )
    op.create_table(
        "ledger_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "certificates",
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.member_id"],
        ),
        sa.PrimaryKeyConstraint("keyid"),
    )
    op.create_table(
        "subsystems",
        sa.Column("client_id", sa.String(length=270), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.member_id"],
        ),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "sources",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=270), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("tls_cert_pem", sa.Text(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider"],
            ["subsystems.client_id"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "services",
        sa.Column("service_id", sa.String(length=350), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("methods", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source"],
            ["sources.code"],
        ),
        sa.PrimaryKeyConstraint("service_id"),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(length=270), nullable=False),
        sa.Column("service", sa.String(length=350), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("legal_bases", sa.JSON(), nullable=False),
        sa.Column("hidden_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client"],
            ["subsystems.client_id"],
        ),
        sa.ForeignKeyConstraint(
            ["service"],
            ["services.service_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "grants_one_active",
        "grants",
        ["client", "service"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    # Singleton rows: the registry's change counter and the ledger's size.
    op.bulk_insert(
        sa.table("registry_state", sa.column("id"), sa.column("version")), [{"id": 1, "version": 0}]
    )
    op.bulk_insert(
        sa.table("ledger_state", sa.column("id"), sa.column("size")), [{"id": 1, "size": 0}]
    )


def downgrade() -> None:
    op.drop_index(
        "grants_one_active",
        table_name="grants",
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_table("grants")
    op.drop_table("services")
    op.drop_table("sources")
    op.drop_table("subsystems")
    op.drop_table("certificates")
    op.drop_table("registry_state")
    op.drop_table("members")
    op.drop_table("ledger_state")
    op.drop_table("ledger_subjects")
    op.drop_index("ledger_by_client", table_name="ledger_entries")
    op.drop_table("ledger_entries")
