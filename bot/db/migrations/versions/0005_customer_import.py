"""customer import: the operator's customer key, one bill and one usage row per month, plans on sale,
erased customers' tombstones

Revision ID: 0005_customer_import
Revises: 0004_published_models
Created: 2026-12-03 08:40:00

Unique indexes rather than unique constraints: SQLite adds an index to an existing table, while a
constraint would mean rebuilding ``customers``, which other tables' foreign keys point at.
A database whose ``bills`` or ``usage`` already hold two rows for one customer and month (a raw-SQL
load run twice) is refused before anything of this revision is done, naming the rows: which of the
two is right is the operator's to say, not Kefu's to guess.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_customer_import'
down_revision = '0004_published_models'
branch_labels = None
depends_on = None

SHOWN = 5  # duplicate months named in the refusal


def _refuse_duplicate_months() -> None:
    from bot.db.migrate import SchemaError

    conn = op.get_bind()
    problems = []
    for table in ("bills", "usage"):
        rows = conn.execute(sa.text(
            f"SELECT customer_id, period, COUNT(*) AS n FROM {table} GROUP BY customer_id, period "
            "HAVING COUNT(*) > 1 ORDER BY customer_id, period")).all()
        if rows:
            named = ", ".join(f"customer {r.customer_id} {r.period} ({r.n} rows)" for r in rows[:SHOWN])
            more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
            problems.append(f"{table}: {named}{more}")
    if problems:
        raise SchemaError(
            "this Kefu keeps one bill and one usage row per customer and month, and the database has more: "
            + "; ".join(problems) + ". Delete the extra rows (or reload them with `kefu customer import`, which "
            "updates instead of adding), then run `kefu db upgrade` again. Nothing was changed.")


def upgrade() -> None:
    _refuse_duplicate_months()
    op.add_column('plans', sa.Column('sellable', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('customers', sa.Column('external_id', sa.String(length=64), nullable=True))
    op.create_index('ix_customers_external_id', 'customers', ['external_id'], unique=True)
    op.create_index('ix_bills_customer_period', 'bills', ['customer_id', 'period'], unique=True)
    op.create_index('ix_usage_customer_period', 'usage', ['customer_id', 'period'], unique=True)
    op.create_table('erased_customers',
    sa.Column('external_id_digest', sa.String(length=64), nullable=False),
    sa.Column('erased_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('external_id_digest')
    )


def downgrade() -> None:
    op.drop_table('erased_customers')
    op.drop_index('ix_usage_customer_period', table_name='usage')
    op.drop_index('ix_bills_customer_period', table_name='bills')
    op.drop_index('ix_customers_external_id', table_name='customers')
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('external_id')
    with op.batch_alter_table('plans') as batch:
        batch.drop_column('sellable')
