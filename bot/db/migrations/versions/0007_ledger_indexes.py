"""ledger indexes: tickets by status, by registration time and by customer and time; history and
follow-up contacts by ticket

Revision ID: 0007_ledger_indexes
Revises: 0006_lookup_indexes
Created: 2026-12-04 18:30:00

The ledger page and `kefu ledger` read every ticket and its whole history on each load, so they
slowed down with every ticket ever filed (18 s a page load at 100,000 tickets on SQLite). They now
read the unfinished tickets, a period's, or one ticket and its customer's recent fault reports, and
the follow-up contacts of those tickets only; these indexes let the database find those without
reading the tables through. Indexes only: SQLite adds them to existing tables without a rebuild.
"""
from __future__ import annotations

from alembic import op

revision = '0007_ledger_indexes'
down_revision = '0006_lookup_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_status', 'tickets', ['status'])
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'])
    op.create_index('ix_tickets_customer_created', 'tickets', ['customer_id', 'created_at'])
    op.create_index('ix_ticket_history_ticket_id', 'ticket_history', ['ticket_id'])
    op.create_index('ix_contacts_ticket_id', 'contacts', ['ticket_id'])


def downgrade() -> None:
    op.drop_index('ix_contacts_ticket_id', table_name='contacts')
    op.drop_index('ix_ticket_history_ticket_id', table_name='ticket_history')
    op.drop_index('ix_tickets_customer_created', table_name='tickets')
    op.drop_index('ix_tickets_created_at', table_name='tickets')
    op.drop_index('ix_tickets_status', table_name='tickets')
