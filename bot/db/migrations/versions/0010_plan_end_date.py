"""plan end date: the last day a customer's plan is paid for, so Kefu can say when it expires

Revision ID: 0010_plan_end_date
Revises: 0009_erased_exports
Created: 2026-12-06 08:20:00

"我的宽带什么时候到期" got a bill or a how-to answer: the customer data held no end date. A nullable
column: every existing customer keeps their row and has none (a plan that renews monthly) until the
next ``kefu customer import`` gives one. Added in place, so no table is copied on SQLite.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_plan_end_date'
down_revision = '0009_erased_exports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('customers', sa.Column('plan_end_date', sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('plan_end_date')
