"""Self-help a proven customer already said did not help, read from the outcome record.

A customer who answered "没解决" to a self-help entry on one channel must not be sent the same entry
when they come back about the fault on another channel (or days later): found by a journey tester,
the web chat's failed video was sent again on WeChat. The answer is an outcome event
(``selfhelp_failed``), so every process and every channel reads the same record.

Only a contact the customer proved is theirs counts (the same account, not a number someone typed):
its ``selfhelp_failed`` carries their key when they had proved who they are by then, or the contact
holds their ``verification_passed`` (proof given after the answer). Contacts are split as the KPIs
split them (``bot.analytics.contacts``), so a proof in a later contact of the same conversation id
(a shared browser, a WeChat follower weeks on) proves nothing about an earlier one. An entry the
customer later said did work is not counted.

Read by the chat's triage (actions/selfhelp.py), the phone's self-help text (a ``notify`` node naming
``selfhelp``, bot/ivr/engine.py) and the waiting room (bot/handoff/watcher.py), all over the ledger's
repeat window (:func:`failed_recently`).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.analytics.contacts import split_contacts
from bot.db.repository import DatabaseError
from bot.db.schema import conversation_events
from bot.db.schema_ready import require_tables
from bot.outcomes.events import customer_key

logger = logging.getLogger(__name__)

# Events whose ``customer`` says the contact proved it is that customer's.
PROVING = ("selfhelp_failed", "verification_passed")


def failed_selfhelp(engine: Engine, customer_id: int, since: dt.datetime) -> set[str]:
    """The self-help entries the proven customer said did not help, in contacts since ``since``."""
    key = customer_key(customer_id=customer_id)
    events = conversation_events.c
    require_tables(engine, conversation_events)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(events.conversation_id).distinct().where(
            events.customer == key, events.kind.in_(PROVING), events.at >= since)).scalars())
        rows = [dict(r) for r in conn.execute(sa.select(conversation_events).where(
            events.conversation_id.in_(ids), events.at >= since)).mappings()] if ids else []
    answers: dict[str, str] = {}
    for contact in split_contacts(rows):  # oldest first: the latest answer per entry wins
        if any(e["customer"] == key and e["kind"] in PROVING for e in contact.events):
            answers.update((entry, answer) for entry, answer in contact.selfhelp if answer != "no_answer")
    return {entry for entry, answer in answers.items() if answer == "failed"}


def failed_recently(engine: Engine, customer_id: int) -> set[str]:
    """:func:`failed_selfhelp` within the ledger's repeat window (``repeat_window_days``, content/ledger.yml)."""
    from bot.ledger.rules import load_rules
    from bot.settings import get_settings

    since = dt.datetime.utcnow() - load_rules(get_settings().content_dir / "ledger.yml").repeat_window
    return failed_selfhelp(engine, customer_id, since)


async def failed_before(engine: Engine, customer_id: int) -> set[str]:
    """:func:`failed_recently` off the event loop, for the places that offer self-help (chat triage, the
    phone, the waiting room); none when the record cannot be read: self-help is offered as before."""
    try:
        return await asyncio.to_thread(failed_recently, engine, customer_id)
    except (DatabaseError, SQLAlchemyError) as exc:
        logger.warning("selfhelp_tried.unreadable error=%s", exc)
        return set()
