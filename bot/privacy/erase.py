"""``kefu customer erase``: delete a customer's data everywhere Kefu keeps it (PIPL art. 47).

What the operator needs to keep counting — tickets and their status steps (the ticket ledger),
analytics events (the KPI report) — stays, anonymised: personal fields blanked, the customer's keys
replaced by one random ``erased:<token>`` (so a repeat customer still counts once) and each
conversation id by a random one (so a contact still counts once). Nothing that maps the token back
to the person is kept. Everything else about the customer is deleted. Opt-out records
(``contact_blocks``) are kept: they are the customer's own instruction not to be contacted. A customer
loaded with an operator's key leaves a digest of that key, so an import does not load them again
(``bot/customers/tombstones.py``). Requests
kept while the database was down are removed, not filed (``bot/privacy/kept_requests.py`` says why),
and so are web chat messages set aside unanswered (``bot/privacy/webchat_set_aside.py``).
"""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from bot.db.schema import (
    bills,
    channel_bindings,
    contact_attempts,
    contacts,
    conversation_events,
    customer_contact_changes,
    customer_contacts,
    customer_credentials,
    customers,
    outbox,
    ticket_history,
    tickets,
    usage,
)
from bot.contacts.planner import ERASED
from bot.customers import tombstones
from bot.privacy import audit
from bot.privacy.conversations import delete_conversations, read_tracker
from bot.privacy import erased_exports
from bot.privacy.export import earlier_exports
from bot.privacy.kept_requests import kept_for, remove_kept
from bot.privacy.recordings import delete_audio, delete_voice_messages, recordings
from bot.privacy.records import contact_filter, event_filter, outbox_filter, read_rows, ticket_ids
from bot.privacy.speech_cache import delete_spoken
from bot.privacy.subject import Subject
from bot.privacy.webchat_set_aside import remove_set_aside, set_aside_for
from bot.privacy.wechat_sends import remove_template_records, template_records_for

ERASED_KEY = "erased:{}"
# Conversation-id prefixes analytics reads meaning from (outbound contacts, phone calls, voice messages).
KEPT_PREFIXES = ("contact:", "ivr:", "voicemail-")
# Ticket details the ledger and the report read; nothing in them names the customer.
KEPT_DETAILS = ("fault_type", "skill", "source", "reason", "purpose", "callback_at", "kind")
# Event fields an agent writes freely (``handoff_closed``'s closing note): blanked whatever they say, as a
# ticket's status notes are; a note names the customer by name and address as often as by number.
FREE_TEXT = ("note",)


@dataclass
class Erasure:
    request_id: str
    deleted: dict[str, int] = field(default_factory=dict)
    anonymised: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


def plan(engine: sa.engine.Engine, client: redis.Redis, data_dir: Path, subject: Subject, *,
         database_url: str) -> dict[str, int]:
    """What an erasure would reach, by store (counts only). Redis is read before the database's transaction
    begins, as the export does (bot/privacy/export.py): PostgreSQL ends a transaction left idle."""
    trackers = {c: read_tracker(client, c) for c in subject.conversation_ids}
    with engine.connect() as conn:
        rows = read_rows(conn, subject)
        found = recordings(conn, data_dir, subject, trackers)
        events = conn.execute(sa.select(sa.func.count()).select_from(conversation_events)
                              .where(event_filter(subject))).scalar_one()  # every event it renames
    counts = {table: len(found_rows) for table, found_rows in rows.items() if found_rows and table != "contact_blocks"}
    if events:
        counts["conversation_events"] = events
    counts["redis_conversations"] = sum(1 for events in trackers.values() if events)
    counts["redis_kept_requests"] = len(kept_for(client, database_url, subject))
    counts["redis_webchat_set_aside"] = len(set_aside_for(client, subject))
    counts["redis_wechat_template_records"] = len(template_records_for(client, subject))
    counts["recordings"] = sum(1 for r in found if r.audio is not None)
    counts["exports"] = len(earlier_exports(data_dir, subject))
    return counts


def pseudonym(conversation_id: str) -> str:
    prefix = next((p for p in KEPT_PREFIXES if conversation_id.startswith(p)), "")
    return f"{prefix}erased-{uuid.uuid4().hex[:16]}"


def scrub(value: Any, identifiers: set[str]) -> Any:
    """``value`` with every text naming the customer blanked, agents' notes blanked and customer ids dropped."""
    if isinstance(value, dict):
        return {k: None if k == "customer_id" else "" if k in FREE_TEXT and isinstance(v, str)
                else scrub(v, identifiers) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, identifiers) for v in value]
    if isinstance(value, str) and any(i in value for i in identifiers):
        return ""
    return value


def anonymous_details(details: dict) -> dict:
    kept = {k: details[k] for k in KEPT_DETAILS if k in (details or {})}
    skill = ((details or {}).get("handoff") or {}).get("skill") if isinstance((details or {}).get("handoff"), dict) else None
    if skill:
        kept["handoff"] = {"skill": skill}
    return {**kept, ERASED: True}


def erase(engine: sa.engine.Engine, client: redis.Redis, data_dir: Path, subject: Subject, *,
          database_url: str, operator: str, speech_cache: Any = None, hotline: Any = None) -> Erasure:
    """Erase ``subject``'s data; the database part in one transaction with its audit record.

    ``hotline`` (content/ivr.yml) says how the phone read their replies' buttons, for the speech cache.
    Their kept requests go first, under the drainers' lock (``KeptRequestsBusy`` when it cannot be had:
    then nothing is erased), so none is filed as a ticket once the rest is gone."""
    result = Erasure(request_id=uuid.uuid4().hex)
    result.deleted["redis_kept_requests"] = sum(remove_kept(client, database_url, subject).values())
    result.deleted["redis_webchat_set_aside"] = remove_set_aside(client, subject)
    result.deleted["redis_wechat_template_records"] = remove_template_records(client, subject)
    key = ERASED_KEY.format(uuid.uuid4().hex[:16])
    renamed = {c: pseudonym(c) for c in sorted(subject.conversation_ids)}
    trackers = {c: read_tracker(client, c) for c in subject.conversation_ids}
    with engine.connect() as conn:
        found = recordings(conn, data_dir, subject, trackers)
    # Redis and files first: should the database part fail, the customer is still found by a retry
    # (their conversations are found through the database rows).
    reading = (hotline.button_template, hotline.max_buttons_read, hotline.agent_button) if hotline is not None \
        else (None, 0, ())
    exports = earlier_exports(data_dir, subject)  # a copy of all the rest, made at their request
    for folder in exports:
        shutil.rmtree(folder)
    result.deleted["exports"] = len(exports)
    result.deleted["speech_cache_files"] = delete_spoken(speech_cache, trackers.values(), *reading) if speech_cache else 0
    redis_counts = delete_conversations(client, subject.conversation_ids)
    result.deleted.update({f"redis_{k}": v for k, v in redis_counts.items()})
    with engine.begin() as conn:
        audio = delete_audio(conn, found)
        result.deleted["voice_message_recordings"] = audio.get("voice_message", 0)
        result.deleted["caller_clip_recordings"] = audio.get("caller_clip", 0)
        found_tickets = ticket_ids(conn, subject)  # before anonymising: then they name nobody
        result.anonymised.update(_anonymise(conn, subject, key, renamed, found_tickets))
        result.deleted.update(_delete(conn, subject, found_tickets))
        result.kept["contact_blocks"] = len(read_rows(conn, subject)["contact_blocks"])
        result.deleted["voice_messages"] = delete_voice_messages(conn, subject)
        external_id = conn.execute(sa.select(customers.c.external_id).where(subject.owns(customers.c.id))).scalar()
        result.kept["erased_customer_tombstone"] = tombstones.remember(conn, external_id)  # import skips them
        erased_exports.remember(conn, subject.folder_prefix)  # every machine's tidy pass deletes its own exports
        result.deleted["customers"] = conn.execute(customers.delete().where(subject.owns(customers.c.id))).rowcount
        audit.write(conn, result.request_id, "erase", operator,
                    {"deleted": result.deleted, "anonymised": result.anonymised, "kept": result.kept})
    return result


def _anonymise(conn: sa.engine.Connection, subject: Subject, key: str, renamed: dict[str, str],
               found_tickets: list[str]) -> dict[str, int]:
    identifiers = subject.identifiers | {c for c in subject.conversation_ids if len(c) >= 5}
    counts = {"conversation_events": 0, "tickets": 0, "ticket_history": 0}
    for row in conn.execute(sa.select(conversation_events).where(event_filter(subject))).mappings().all():
        conn.execute(conversation_events.update().where(conversation_events.c.id == row["id"]).values(
            conversation_id=renamed.get(row["conversation_id"], row["conversation_id"]),
            customer=key if row["customer"] in subject.keys else row["customer"],
            data=scrub(dict(row["data"] or {}), identifiers)))
        counts["conversation_events"] += 1
    for row in conn.execute(sa.select(tickets).where(tickets.c.ticket_id.in_(found_tickets))).mappings().all():
        conn.execute(tickets.update().where(tickets.c.id == row["id"]).values(
            customer_id=None, summary="", details=anonymous_details(dict(row["details"] or {})),
            conversation_id=renamed.get(row["conversation_id"], "")))
        counts["tickets"] += 1
    counts["ticket_history"] = conn.execute(ticket_history.update().where(
        ticket_history.c.ticket_id.in_(found_tickets)).values(note="")).rowcount
    return counts


def _delete(conn: sa.engine.Connection, subject: Subject, found_tickets: list[str]) -> dict[str, int]:
    contact_ids = [r.id for r in conn.execute(sa.select(contacts.c.id).where(contact_filter(subject)))]
    counts = {"outbox": conn.execute(outbox.delete().where(outbox_filter(subject, found_tickets))).rowcount,
              "contact_attempts": conn.execute(contact_attempts.delete().where(
                  contact_attempts.c.contact_id.in_(contact_ids))).rowcount,
              "contacts": conn.execute(contacts.delete().where(contacts.c.id.in_(contact_ids))).rowcount}
    for table in (customer_contact_changes, customer_contacts, channel_bindings, customer_credentials, bills, usage):
        counts[table.name] = conn.execute(table.delete().where(subject.owns(table.c.customer_id))).rowcount
    return counts
