"""Tables of the customer database (SQLAlchemy Core, any SQL backend).

Money is kept in integer cents (fen), exact on every backend.

SQLite by default; ``KEFU_DATABASE_URL`` points elsewhere in production.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

metadata = MetaData()

plans = Table(
    "plans",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("category", String(32), nullable=False),  # broadband / tv / bundle
    Column("monthly_fee_cents", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    # False: no longer sold; not offered to customers, still shown to those who have it
    Column("sellable", Boolean, nullable=False, default=True, server_default=true()),
)

# ``id`` is Kefu's own key and permanent: conversations, WeChat bindings, service passwords, tickets
# and analytics refer to it, so a row is never deleted and re-inserted to refresh it. ``external_id``
# is the operator's (CRM) key, by which ``kefu customer import`` updates the row (bot/customers/).
# ``phone`` is 11 bare digits (bot/phone.py: local_phone), the form every lookup compares.
customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone", String(20), unique=True, nullable=False),
    Column("account_number", String(20), unique=True, nullable=False),
    Column("name", String(50), nullable=False),
    Column("vip_tier", Integer, nullable=False, default=0),  # 0 normal .. 3 top
    Column("address", String(200), nullable=False, default=""),
    Column("plan_code", String(32), ForeignKey("plans.code")),
    Column("balance_cents", Integer, nullable=False, default=0),  # negative = arrears
    Column("external_id", String(64)),  # NULL for customers loaded before the import existed (demo data)
    # YYYY-MM-DD, the last day the plan is paid for (a yearly plan, a contract); NULL: it renews monthly
    Column("plan_end_date", String(10)),
    Index("ix_customers_external_id", "external_id", unique=True),
)

bills = Table(
    "bills",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("amount_cents", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # paid / unpaid
    Column("due_date", String(10), nullable=False),  # YYYY-MM-DD
    Index("ix_bills_customer_period", "customer_id", "period", unique=True),  # what an import updates by
)

# Monthly usage against the plan's allowance; a NULL quota means unlimited (home broadband),
# NULL minutes mean the plan has no calls (only bundles with SIM cards do).
usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("data_used_mb", Integer, nullable=False),
    Column("data_quota_mb", Integer),
    Column("minutes_used", Integer),
    Column("minutes_quota", Integer),
    Index("ix_usage_customer_period", "customer_id", "period", unique=True),
)

# Customers erased with ``kefu customer erase`` who had an operator's key: a one-way digest of that
# key (bot/customers/tombstones.py), so the next import refuses to load them again. Nothing else.
erased_customers = Table(
    "erased_customers",
    metadata,
    Column("external_id_digest", String(64), primary_key=True),
    Column("erased_at", DateTime, nullable=False, server_default=func.now()),
)

# The exports of customers (and callers) erased: their folder-name prefix (bot/privacy/subject.py: the
# customer's id, or a digest of the caller's number) and when. An erasure deletes the exports on the machine
# it runs on; every machine's tidy pass deletes its own made before then (bot/privacy/export.py).
erased_exports = Table(
    "erased_exports",
    metadata,
    Column("folder_prefix", String(64), primary_key=True),
    Column("erased_at", DateTime, nullable=False),
)

# The kinds of ticket Kefu's code files (content/voicemail.yml may name others for a voice message); the desk
# and the ledger name each by ``ticket_kind_<kind>`` / ``kind_<kind>`` (content/ui/), and `kefu validate` names one
# missing (tests/editor tie this list to the code that files them).
TICKET_KINDS = ("fault", "visit", "service_change", "complaint", "callback", "voice_message", "handoff")

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", String(16), unique=True),  # TK000123, told to the customer
    Column("customer_id", Integer, ForeignKey("customers.id")),
    Column("kind", String(24), nullable=False),  # TICKET_KINDS
    Column("status", String(16), nullable=False, default="open"),
    Column("priority", Integer, nullable=False, default=0),
    Column("needs_human", Integer, nullable=False, default=0),
    Column("summary", Text, nullable=False, default=""),
    Column("details", JSON, nullable=False, default=dict),
    Column("channel", String(24), nullable=False, default=""),
    Column("conversation_id", String(128), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
    # The ledger reads unfinished tickets, a period's, and a customer's recent fault reports through these
    # (bot/ledger/ledger.py), not the whole table.
    Index("ix_tickets_status", "status"),
    Index("ix_tickets_created_at", "created_at"),
    Index("ix_tickets_customer_created", "customer_id", "created_at"),
)

ticket_history = Table(
    "ticket_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", String(16), ForeignKey("tickets.ticket_id"), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("at", DateTime, nullable=False, server_default=func.now()),
    Index("ix_ticket_history_ticket_id", "ticket_id"),  # one ticket's history, not every ticket's
)

# The outcome record (bot/outcomes/): append-only, one row per OutcomeEvent. ``at`` is the UTC time
# the event happened; ``event_id`` makes a retried write idempotent.
# Who answers for a ticket in the user-experience ledger (bot/ledger/); a table of its own so existing
# databases gain it through create_all. The steps themselves are the ticket's status history.
ticket_owners = Table(
    "ticket_owners",
    metadata,
    Column("ticket_id", String(16), ForeignKey("tickets.ticket_id"), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("assigned_at", DateTime, nullable=False, server_default=func.now()),
)

conversation_events = Table(
    "conversation_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(32), unique=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("kind", String(48), nullable=False, index=True),
    Column("channel", String(24), nullable=False, default=""),
    Column("customer", String(96), nullable=False, default=""),
    Column("data", JSON, nullable=False, default=dict),
    Column("at", DateTime, nullable=False, server_default=func.now(), index=True),
)

# Voice messages left on any channel; the audio is the ``recordings`` row of the same id.
voice_messages = Table(
    "voice_messages",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex, also its recording's id
    # "" since recordings live in the database; a message stored by an earlier version names its file
    # under <data_dir>/voicemail/ here (imported into ``recordings`` by bot/db/recordings.py).
    Column("audio_path", String(500), nullable=False, default=""),
    Column("duration_s", Float, nullable=False),
    Column("transcript", Text),  # None until recognised (or when the ASR was unavailable)
    Column("asr_confidence", Float),
    Column("intent", String(48)),
    Column("intent_confidence", Float),
    Column("entities", JSON, nullable=False, default=list),
    Column("caller_phone", String(64), nullable=False, default=""),  # or the channel's sender id
    Column("customer_id", Integer, ForeignKey("customers.id")),
    Column("channel", String(24), nullable=False, default=""),
    Column("ticket_id", String(16), ForeignKey("tickets.ticket_id")),
    Column("outcome", String(24), nullable=False, default="received"),  # received / selfhelp_sent / ticket / callback / needs_human
    Column("needs_human", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)

# The audio agents listen to (bot/db/recordings.py): voice messages (kind ``voice_message``, the id of
# their ``voice_messages`` row, kept until deleted) and phone callers' untranscribed turns (kind
# ``caller_clip``, expiring after KEFU_CALLER_CLIP_EXPIRY_SECONDS). In the shared database, so every
# instance behind the load balancer plays what any of them recorded. At most MAX_RECORDING_BYTES each.
recordings = Table(
    "recordings",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex
    Column("kind", String(16), nullable=False),  # voice_message / caller_clip
    Column("conversation_id", String(128), nullable=False, default="", index=True),  # the Rasa sender id
    Column("content_type", String(64), nullable=False),  # audio/wav
    Column("audio", LargeBinary, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),  # UTC
    Column("expires_at", DateTime, index=True),  # UTC; NULL: kept until deleted
)

# One row per call of a write retried after a transient error (``_retry_transient`` in bot/db/repository.py),
# written in that write's own transaction: a retry after a COMMIT whose answer was lost finds its call's row
# and does not write again. Needed only while the call retries: deleted after an hour (bot/outbound/retention.py).
# A message queued once under its sender's key (``Repository.add_outbound``'s ``once``: a lost call's close's SMS,
# which the close pressed again or the waiting room's finish may queue again while its queue record owes it) has its
# row here too, made from that key (``once_receipt``), as has a ticket note owed in Redis (``Repository.note_ticket``'s
# ``once``): kept as long as those can be tried again (days: ``ONCE_RECEIPT_EXPIRY_S``), told apart by the prefix.
write_receipts = Table(
    "write_receipts",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex, made once per call
    Column("at", DateTime, nullable=False, server_default=func.now()),
    Index("ix_write_receipts_at", "at"),  # the pruning pass's
)

# Rasa models published to every machine (bot/db/model_store.py): the file's bytes in chunks of at most
# 1 MiB (a model is 20-30 MB; no row, statement or fetch holds it all), and each publish as a row: the
# newest row is what every ``kefu run`` sharing this database serves.
model_files = Table(
    "model_files",
    metadata,
    Column("sha256", String(64), primary_key=True),  # of the whole file: checked after every fetch
    Column("name", String(200), nullable=False),  # the file name served, e.g. kefu-<content hash>.tar.gz
    Column("size_bytes", BigInteger, nullable=False),
    Column("stored_at", DateTime, nullable=False),  # UTC
)

model_file_chunks = Table(
    "model_file_chunks",
    metadata,
    Column("sha256", String(64), ForeignKey("model_files.sha256", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

model_publications = Table(
    "model_publications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),  # no foreign key: the history outlives pruned files
    Column("name", String(200), nullable=False),
    Column("published_by", String(64), nullable=False),
    Column("host", String(200), nullable=False, default=""),
    Column("published_at", DateTime, nullable=False),  # UTC
)

# Messages waiting for a channel worker to deliver them (SMS, WeChat, ...).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(24), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # selfhelp, ...
    Column("payload", JSON, nullable=False, default=dict),
    Column("status", String(16), nullable=False, default="pending"),  # pending / sent / failed (ix_outbox_due)
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)


class NextTry(ColumnElement):
    """A pending outbox row's next try (``retry_at`` in its payload, ISO text), '' when it has none; NULL
    for a row in any other status. One expression for the index and the workers' due query, its JSON path
    written out, as SQLite uses an index on an expression only for the very same expression. Only pending
    rows have a value, so PostgreSQL's statistics of it count the due rows among the pending ones alone
    (of ``status`` and ``retry_at`` apart, 50 000 waiting rows and as many sent ones read as 25 000 due)."""

    inherit_cache = True
    type = String()


def _pending_then(compiler, next_try: str, **kw) -> str:
    return f"(CASE WHEN {compiler.process(outbox.c.status, **kw)} = 'pending' THEN coalesce({next_try}, '') END)"


@compiles(NextTry)
def _next_try(element, compiler, **kw):  # PostgreSQL
    return _pending_then(compiler, f"({compiler.process(outbox.c.payload, **kw)} ->> 'retry_at')", **kw)


@compiles(NextTry, "sqlite")
def _next_try_sqlite(element, compiler, **kw):
    return _pending_then(compiler, f"json_extract({compiler.process(outbox.c.payload, **kw)}, '$.retry_at')", **kw)


# The workers' due query (``due_by`` in bot/outbound/outbox_rows.py) reads the pending rows whose next try
# has come, not every row waiting for a later one; with ``status`` first it serves every lookup by status
# too. (It replaced an index on ``status`` alone, which SQLite preferred for the due query, for its order.)
Index("ix_outbox_due", outbox.c.status, NextTry())

# The contact schedule (bot/contacts/): every contact Kefu starts — a follow-up call after a repair,
# a care contact, an arrears reminder, a callback a customer booked — one row, claimed by exactly one
# worker with a conditional UPDATE. ``dedupe_key`` makes scheduling idempotent (one follow-up per
# resolution of a ticket). ``attempt_token`` is a fresh secret per attempt: the call's media stream
# carries it, so only the call Kefu placed can answer for the contact.
contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(96), unique=True, nullable=False),
    Column("purpose", String(24), nullable=False),  # followup / care / arrears / callback
    Column("rule", String(48), nullable=False, default=""),  # the rule of content/contacts.yml
    Column("customer_id", Integer, ForeignKey("customers.id")),
    Column("phone", String(32), nullable=False, default=""),
    Column("openid", String(128), nullable=False, default=""),
    Column("ticket_id", String(16)),
    Column("channels", JSON, nullable=False, default=list),  # preference order: phone, wechat, sms, agent
    Column("status", String(16), nullable=False, default="scheduled", index=True),
    # scheduled -> working (claimed) -> calling (dialled) -> done | failed | blocked | held; offered (callbacks)
    Column("due_at", DateTime, nullable=False, index=True),  # UTC
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", DateTime),  # UTC; a worker that dies leaves the contact to be recovered
    Column("worker", String(64), nullable=False, default=""),
    Column("attempt_token", String(32), nullable=False, default="", index=True),  # a key press's answer finds it
    Column("carrier_call_id", String(64), nullable=False, default=""),
    Column("channel", String(16), nullable=False, default=""),  # the channel of the current attempt
    Column("result", String(24), nullable=False, default=""),
    Column("details", JSON, nullable=False, default=dict),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
    # A carrier's status callback finds its call (``carrier_call_id`` and ``status = 'calling'``): with
    # both, SQLite takes this index rather than the one on ``status`` alone.
    Index("ix_contacts_carrier_call", "carrier_call_id", "status"),
    Index("ix_contacts_ticket_id", "ticket_id"),  # the ledger page's follow-up column, by ticket
)

# One row per attempt (for the daily attempt limit and the contact's history).
contact_attempts = Table(
    "contact_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("address", String(160), nullable=False, index=True),  # phone:<number> / wechat:<openid>
    Column("channel", String(16), nullable=False),
    Column("result", String(24), nullable=False, default=""),
    Column("at", DateTime, nullable=False, index=True),  # UTC
)

# How far the contact planner has read the ticket history (bot/contacts/planner.py): a pass reads only
# the tickets changed since, unless the rules changed (``fingerprint``), when it reads them all again.
contact_planner_marks = Table(
    "contact_planner_marks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("history_id", Integer, nullable=False),  # the last ticket_history row planned from
    Column("window_rows", Integer, nullable=False),  # rows in the overlap window then (a late commit adds one)
    Column("fingerprint", String(64), nullable=False),  # of the rules it was planned by
    Column("at", DateTime, nullable=False),
)

# Addresses Kefu must not contact: the customer opted out (TD, key 9) or is on the do-not-disturb list.
contact_blocks = Table(
    "contact_blocks",
    metadata,
    Column("address", String(160), primary_key=True),  # phone:<number> / wechat:<openid>
    Column("reason", String(16), nullable=False),  # opt_out / dnd
    Column("via", String(32), nullable=False, default=""),
    Column("at", DateTime, nullable=False, server_default=func.now()),
)

# Human agents of the handoff desk (bot/handoff/accounts.py); passwords are scrypt hashes.
agents = Table(
    "agents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), unique=True, nullable=False),  # login name
    Column("display_name", String(64), nullable=False, default=""),
    Column("password_hash", String(300), nullable=False),  # scrypt$n$r$p$salt$hash
    Column("skills", JSON, nullable=False, default=list),
    Column("capacity", Integer, nullable=False, default=2),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)

# Proof of identity (bot/security/credentials.py): the account's service password as a scrypt
# hash, and channel accounts (a WeChat openid) bound to a customer after one verification.
customer_credentials = Table(
    "customer_credentials",
    metadata,
    Column("customer_id", Integer, ForeignKey("customers.id"), primary_key=True),
    Column("service_password_hash", String(300), nullable=False),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
)

channel_bindings = Table(
    "channel_bindings",
    metadata,
    Column("channel", String(24), primary_key=True),  # wechat
    Column("external_id", String(128), primary_key=True),  # the openid
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("bound_at", DateTime, nullable=False, server_default=func.now()),
)

# Who may do what at the desk beyond serving customers (bot/handoff/accounts.py): ``supervisor``
# opens the supervisor page. A table of its own so existing databases gain it through create_all;
# an agent without a row is a plain agent.
agent_roles = Table(
    "agent_roles",
    metadata,
    Column("agent_name", String(64), ForeignKey("agents.name"), primary_key=True),
    Column("role", String(24), nullable=False),
)

# Agents removed with ``kefu agent remove`` whose live side (conversations held, the roster in Redis)
# the waiting room has not tidied yet (bot/handoff/departures.py): written with the account's deletion,
# deleted once acted on. An explicit record, because a roster agent without an account here may well be
# another deployment's sharing the Redis database. ``removed_at`` is epoch seconds, compared with the
# queue's claim times: conversations claimed later are a re-added account's own.
agent_removals = Table(
    "agent_removals",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("removed_at", Float, nullable=False),
)

# Contact details an agent corrected at the desk (bot/handoff/contact_details.py), over the
# customer record's own (the registered phone stays the identity proof and is never changed here),
# and every correction with who made it, when and in which conversation.
customer_contacts = Table(
    "customer_contacts",
    metadata,
    Column("customer_id", Integer, ForeignKey("customers.id"), primary_key=True),
    Column("field", String(32), primary_key=True),  # callback_phone / address
    Column("value", String(200), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
)

customer_contact_changes = Table(
    "customer_contact_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("field", String(32), nullable=False),
    Column("old_value", String(200), nullable=False, default=""),
    Column("new_value", String(200), nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("conversation_id", String(128), nullable=False, default=""),
    Column("changed_at", DateTime, nullable=False, server_default=func.now()),
)

# Secrets every instance of one deployment must share (bot/security/secrets.py): the first instance to
# need one inserts it, every other instance reads the same row. A secret set in the environment wins.
deployment_secrets = Table(
    "deployment_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
)

# Customers' requests about their data (bot/privacy/): one row per export or erasure, saying who ran it,
# when, and how many records of each store it covered — never the customer's identity or data, so the
# record of an erasure does not undo it. ``request_id`` is what the operator quotes back to the customer.
privacy_requests = Table(
    "privacy_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", String(32), unique=True, nullable=False),
    Column("kind", String(16), nullable=False),  # export / erase
    Column("operator", String(64), nullable=False, default=""),
    Column("counts", JSON, nullable=False, default=dict),
    Column("at", DateTime, nullable=False, server_default=func.now()),
)
