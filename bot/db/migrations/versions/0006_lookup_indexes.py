"""lookup indexes: a contact by its attempt's token or its carrier's call id, the outbox's due rows

Revision ID: 0006_lookup_indexes
Revises: 0005_customer_import
Created: 2026-12-04 18:40:00

Every key a caller presses on a Kefu call finds its contact by ``attempt_token``, and every status
callback of the carrier by ``carrier_call_id`` (and ``status``, in the index too, or SQLite chose the
index on ``status`` alone): without an index each read the whole contacts table.
The outbox workers' due query (``due_by`` in bot/outbound/outbox_rows.py) reads the pending rows whose
``retry_at`` (in the payload) has come; ``ix_outbox_due`` holds that expression, written per backend
exactly as bot/db/schema.py's ``NextTry`` renders it, or the database would not use it. It begins with
``status`` and replaces the index on ``status`` alone, which SQLite chose instead for the due query (its
rows come in id order, so no sort), scanning every pending row.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_lookup_indexes'
down_revision = '0005_customer_import'
branch_labels = None
depends_on = None

NEXT_TRY = {
    "sqlite": "(CASE WHEN status = 'pending' THEN coalesce(json_extract(payload, '$.retry_at'), '') END)",
    "postgresql": "(CASE WHEN status = 'pending' THEN coalesce((payload ->> 'retry_at'), '') END)",
}


def upgrade() -> None:
    # IF NOT EXISTS: an operator who met the slow scans may have made the same index by hand (and a
    # database adopted from before the migrations was made from the current schema's columns)
    op.create_index('ix_contacts_attempt_token', 'contacts', ['attempt_token'], unique=False, if_not_exists=True)
    op.create_index('ix_contacts_carrier_call', 'contacts', ['carrier_call_id', 'status'], unique=False,
                    if_not_exists=True)
    op.create_index('ix_outbox_due', 'outbox', ['status', sa.text(NEXT_TRY[op.get_bind().dialect.name])],
                    unique=False, if_not_exists=True)
    op.drop_index('ix_outbox_status', table_name='outbox')  # ix_outbox_due begins with status


def downgrade() -> None:
    op.create_index('ix_outbox_status', 'outbox', ['status'], unique=False)
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_index('ix_contacts_carrier_call', table_name='contacts')
    op.drop_index('ix_contacts_attempt_token', table_name='contacts')
