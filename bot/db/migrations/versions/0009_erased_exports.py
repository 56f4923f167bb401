"""erased exports: which customers' exports every machine deletes, so an erasure reaches them all

Revision ID: 0009_erased_exports
Revises: 0008_write_receipts
Created: 2026-12-05 00:10:00

``kefu customer erase`` deleted the customer's exports (``var/exports/customer-<id>-<time>/``, a full copy
of their data) only on the machine it ran on; one made with ``kefu customer export`` on another machine
stayed there. The erasure now writes the exports' folder prefix here, and each machine's tidy pass
deletes its own exports of that prefix made before the erasure. A new table only.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_erased_exports'
down_revision = '0008_write_receipts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erased_exports',
                    sa.Column('folder_prefix', sa.String(length=64), nullable=False),
                    sa.Column('erased_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('folder_prefix'))


def downgrade() -> None:
    op.drop_table('erased_exports')
