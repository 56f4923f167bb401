"""Baseline: the schema as Kefu had it when it adopted migrations (bot/db/schema.py of 2026-12-02).

Revision ID: 0001_baseline
Revises: (none)

Every table is created only where it is missing, so this one revision serves a new database (it
creates everything) and adopts a database made by an earlier Kefu with ``metadata.create_all``
(it adds the tables and the two columns that Kefu used to add on the fly; bot/db/migrate.py then
checks that every column is there before stamping). Later revisions are ordinary Alembic ones.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _existing_tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _create_table(name: str, *columns_and_constraints) -> None:
    """``op.create_table`` unless an earlier Kefu already made the table (SQLAlchemy 1.4 has no IF NOT EXISTS)."""
    if name not in _existing_tables():
        op.create_table(name, *columns_and_constraints)


def _create_index(name: str, table: str, columns: list[str], unique: bool = False) -> None:
    if name not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.create_index(name, table, columns, unique=unique)


def _add_legacy_columns() -> None:
    """Databases made before the outcome record (2026-11-30) have ``conversation_events`` without these two;
    Kefu added them with ALTER TABLE at run time (bot/outcomes/store.py), as this does now, once."""
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("conversation_events")}
    if "event_id" not in columns:
        op.add_column("conversation_events", sa.Column("event_id", sa.String(length=32), nullable=True))
    if "customer" not in columns:
        op.add_column("conversation_events",
                      sa.Column("customer", sa.String(length=96), server_default="", nullable=False))


def upgrade() -> None:
    _create_table('agent_removals',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('removed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name')
    )
    _create_table('agents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=300), nullable=False),
        sa.Column('skills', sa.JSON(), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name')
    )
    _create_table('contact_blocks',
        sa.Column('address', sa.String(length=160), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('via', sa.String(length=32), nullable=False),
        sa.Column('at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('address')
    )
    _create_table('contact_planner_marks',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('history_id', sa.Integer(), nullable=False),
        sa.Column('window_rows', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name')
    )
    _create_table('conversation_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=32), nullable=True),
        sa.Column('conversation_id', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=48), nullable=False),
        sa.Column('channel', sa.String(length=24), nullable=False),
        sa.Column('customer', sa.String(length=96), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id')
    )
    _create_index('ix_conversation_events_at', 'conversation_events', ['at'], unique=False)
    _create_index('ix_conversation_events_conversation_id', 'conversation_events', ['conversation_id'], unique=False)
    _create_index('ix_conversation_events_kind', 'conversation_events', ['kind'], unique=False)
    _create_table('deployment_secrets',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('name')
    )
    _create_table('outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=24), nullable=False),
        sa.Column('recipient', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('id')
    )
    _create_index('ix_outbox_status', 'outbox', ['status'], unique=False)
    _create_table('plans',
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('monthly_fee_cents', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('code')
    )
    _create_table('agent_roles',
        sa.Column('agent_name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(['agent_name'], ['agents.name'], ),
        sa.PrimaryKeyConstraint('agent_name')
    )
    _create_table('customers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('account_number', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('vip_tier', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=200), nullable=False),
        sa.Column('plan_code', sa.String(length=32), nullable=True),
        sa.Column('balance_cents', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['plan_code'], ['plans.code'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_number'),
        sa.UniqueConstraint('phone')
    )
    _create_table('bills',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('due_date', sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    _create_table('channel_bindings',
        sa.Column('channel', sa.String(length=24), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('bound_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('channel', 'external_id')
    )
    _create_table('contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=96), nullable=False),
        sa.Column('purpose', sa.String(length=24), nullable=False),
        sa.Column('rule', sa.String(length=48), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('openid', sa.String(length=128), nullable=False),
        sa.Column('ticket_id', sa.String(length=16), nullable=True),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('worker', sa.String(length=64), nullable=False),
        sa.Column('attempt_token', sa.String(length=32), nullable=False),
        sa.Column('carrier_call_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('result', sa.String(length=24), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key')
    )
    _create_index('ix_contacts_due_at', 'contacts', ['due_at'], unique=False)
    _create_index('ix_contacts_status', 'contacts', ['status'], unique=False)
    _create_table('customer_contact_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=32), nullable=False),
        sa.Column('old_value', sa.String(length=200), nullable=False),
        sa.Column('new_value', sa.String(length=200), nullable=False),
        sa.Column('changed_by', sa.String(length=64), nullable=False),
        sa.Column('conversation_id', sa.String(length=128), nullable=False),
        sa.Column('changed_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    _create_index('ix_customer_contact_changes_customer_id', 'customer_contact_changes', ['customer_id'], unique=False)
    _create_table('customer_contacts',
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=32), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('customer_id', 'field')
    )
    _create_table('customer_credentials',
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('service_password_hash', sa.String(length=300), nullable=False),
        sa.Column('updated_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('customer_id')
    )
    _create_table('tickets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.String(length=16), nullable=True),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('needs_human', sa.Integer(), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('channel', sa.String(length=24), nullable=False),
        sa.Column('conversation_id', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id')
    )
    _create_table('usage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('data_used_mb', sa.Integer(), nullable=False),
        sa.Column('data_quota_mb', sa.Integer(), nullable=True),
        sa.Column('minutes_used', sa.Integer(), nullable=True),
        sa.Column('minutes_quota', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    _create_table('contact_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=160), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('result', sa.String(length=24), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    _create_index('ix_contact_attempts_address', 'contact_attempts', ['address'], unique=False)
    _create_index('ix_contact_attempts_at', 'contact_attempts', ['at'], unique=False)
    _create_index('ix_contact_attempts_contact_id', 'contact_attempts', ['contact_id'], unique=False)
    _create_table('ticket_history',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.String(length=16), nullable=False),
        sa.Column('from_status', sa.String(length=16), nullable=True),
        sa.Column('to_status', sa.String(length=16), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.ticket_id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    _create_table('ticket_owners',
        sa.Column('ticket_id', sa.String(length=16), nullable=False),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('assigned_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.ticket_id'], ),
        sa.PrimaryKeyConstraint('ticket_id')
    )
    _create_table('voice_messages',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('audio_path', sa.String(length=500), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('transcript', sa.Text(), nullable=True),
        sa.Column('asr_confidence', sa.Float(), nullable=True),
        sa.Column('intent', sa.String(length=48), nullable=True),
        sa.Column('intent_confidence', sa.Float(), nullable=True),
        sa.Column('entities', sa.JSON(), nullable=False),
        sa.Column('caller_phone', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=24), nullable=False),
        sa.Column('ticket_id', sa.String(length=16), nullable=True),
        sa.Column('outcome', sa.String(length=24), nullable=False),
        sa.Column('needs_human', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.ticket_id'], ),
        sa.PrimaryKeyConstraint('id')
    )

    _add_legacy_columns()


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore the backup taken before the upgrade instead")
