"""An incoming "TD" (the editors' ``opt_out_words``) opts the sender out of every automated contact.

Channels call :func:`opt_out_reply` before handing a text to the assistant: for an opt-out word it
blocks the sender's address, records the outcome and returns the confirmation to send back
(``opt_out_reply`` in ``content/contacts.yml``); for anything else it returns None.
"""
from __future__ import annotations

import asyncio
import logging

from bot.contacts.rules import ContactRulesError, current_rules
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository
from bot.outcomes import record

logger = logging.getLogger(__name__)


async def opt_out_reply(settings, *, address: str, text: str, conversation_id: str, channel: str) -> str | None:
    try:
        rules = await asyncio.to_thread(current_rules, settings.content_dir / "contacts.yml")
    except ContactRulesError as exc:  # no usable rules ever loaded: the text goes to the assistant
        logger.warning("contacts.optout.no_rules error=%s", exc)
        return None
    if (text or "").strip() not in rules.opt_out_words:
        return None
    repository = Repository(settings.database_url)
    await asyncio.to_thread(Schedule(repository).block, address, "opt_out", f"{channel}_reply")
    await record(conversation_id, "contact_opted_out", channel=channel, database_url=repository.url, via="reply")
    logger.info("contacts.optout conversation=%s channel=%s", conversation_id, channel)
    return rules.opt_out_reply
