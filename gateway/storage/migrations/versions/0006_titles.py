"""plain language for citizens: purposes and legal bases with titles, members' contact routes

Revision ID: 0006
Revises: 0005

Grants may name only registered purposes and legal bases from this revision on. An existing
registry's grants keep working: every code they name is registered here with the code itself
as its title, for an administrator to retitle (``enlace purpose add`` refuses a duplicate, so
``enlace purpose retitle`` is the way) before citizens see it.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("contact", sa.String(length=500), nullable=True))
    purposes = op.create_table(
        "purposes",
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    legal_bases = op.create_table(
        "legal_bases",
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    named: dict[str, set[str]] = {"purposes": set(), "legal_bases": set()}
    grants = sa.table("grants", sa.column("purposes", sa.JSON), sa.column("legal_bases", sa.JSON))
    for row in op.get_bind().execute(sa.select(grants.c.purposes, grants.c.legal_bases)):
        named["purposes"].update(row.purposes)
        named["legal_bases"].update(row.legal_bases)
    now = dt.datetime.now(dt.UTC)
    for table, codes in ((purposes, named["purposes"]), (legal_bases, named["legal_bases"])):
        if codes:
            op.bulk_insert(
                table, [{"code": c, "title": c, "created_at": now} for c in sorted(codes)]
            )


def downgrade() -> None:
    op.drop_table("legal_bases")
    op.drop_table("purposes")
    op.drop_column("members", "contact")
