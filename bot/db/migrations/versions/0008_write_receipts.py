"""write receipts: a retried write's key, so a retry after a lost COMMIT acknowledgement writes nothing again

Revision ID: 0008_write_receipts
Revises: 0007_ledger_indexes
Created: 2026-12-04 21:00:00

A write retried after a transient error (bot/db/repository.py, ``_retry_transient``) whose COMMIT the
database carried out but whose answer was lost (a restart, a network blip) was written twice: a
complaint filed twice, a text sent twice, a ticket chased two steps. Each call now writes a row here
in the write's own transaction; a retry that finds it has nothing left to do. A new table only.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_write_receipts'
down_revision = '0007_ledger_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('write_receipts',
                    sa.Column('id', sa.String(length=32), nullable=False),
                    sa.Column('at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_write_receipts_at', 'write_receipts', ['at'])


def downgrade() -> None:
    op.drop_index('ix_write_receipts_at', table_name='write_receipts')
    op.drop_table('write_receipts')
