"""Merkle tree state: perfect-subtree nodes, the compact range, signed checkpoints

Existing ledgers are brought into the tree: every stored leaf hash is appended in index order
and every perfect subtree it completes is stored, so that a ledger written before this revision
gets exactly the state it would have had if it had been written after it.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from gateway.kernel.ledger.merkle import CompactRange

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PAGE = 10_000


def upgrade() -> None:
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cosigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("size"),
    )
    op.add_column("ledger_state", sa.Column("compact_range", sa.LargeBinary(), nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("ledger_state") as batch:
        batch.alter_column("compact_range", existing_type=sa.LargeBinary(), nullable=False)


def _backfill(conn: sa.Connection) -> None:
    entries = sa.table("ledger_entries", sa.column("idx"), sa.column("leaf_hash"))
    nodes = sa.table("ledger_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    state = sa.table("ledger_state", sa.column("id"), sa.column("size"), sa.column("compact_range"))
    tree = CompactRange()
    while True:
        page = conn.execute(
            sa.select(entries.c.idx, entries.c.leaf_hash)
            .where(entries.c.idx >= tree.size)
            .order_by(entries.c.idx)
            .limit(_PAGE)
        ).all()
        if not page:
            break
        rows = []
        for idx, leaf in page:
            if idx != tree.size:
                raise RuntimeError(f"ledger has no entry {tree.size}: cannot build its tree")
            rows += [{"level": lv, "idx": i, "hash": h} for lv, i, h in tree.append(bytes(leaf))]
        conn.execute(sa.insert(nodes), rows)
    size = conn.execute(sa.select(state.c.size).where(state.c.id == 1)).scalar_one()
    if size != tree.size:
        raise RuntimeError(f"ledger_state says {size} entries, the table holds {tree.size}")
    conn.execute(sa.update(state).where(state.c.id == 1).values(compact_range=tree.to_bytes()))


def downgrade() -> None:
    with op.batch_alter_table("ledger_state") as batch:
        batch.drop_column("compact_range")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_nodes")
