"""Opting a customer out of every automated contact (follow-up and care calls, reminder texts,
WeChat messages), by whichever way they asked.

* An incoming "TD" (the editors' ``opt_out_words``) by SMS or WeChat: channels call
  :func:`opt_out_reply` before handing a text to the assistant; for an opt-out word it blocks the
  sender's address, records the outcome and returns the confirmation to send back
  (``opt_out_reply`` in ``content/contacts.yml``); for anything else it returns None.
* "别再给我打电话了" in any channel the assistant serves (actions/opt_out.py), and an agent's
  "客户要求不再联系" on the desk (bot/handoff/desk.py): both call :func:`opt_out`.

All of them write the same record, the contact schedule's block list, which the contact worker
reads before every attempt, and the outbox before it queues a text Kefu sends on its own (:func:`withheld`,
``bot.notify``); there is one kind of opt-out (all automated contacts), as with TD.
"""
from __future__ import annotations

import asyncio
import logging
import unicodedata

from bot.contacts.rules import ContactRulesError, current_rules
from bot.contacts.schedule import Schedule
from bot.db.repository import DatabaseError, Repository
from bot.outcomes import record

logger = logging.getLogger(__name__)


async def opt_out(database_url: str, addresses: list[str], *, conversation_id: str, channel: str, via: str,
                  **audit: str) -> list[str]:
    """Block each address (``phone:…``, ``wechat:…``) and record one ``contact_opted_out`` event;
    returns the addresses blocked. ``via`` says how (reply, assistant, agent); ``audit`` adds who
    (an agent's id) to the event."""
    addresses = [a for a in dict.fromkeys(addresses) if a]
    if not addresses:
        return []
    repository = Repository(database_url)
    schedule = Schedule(repository)
    for address in addresses:
        await asyncio.to_thread(schedule.block, address, "opt_out", f"{channel}_{via}")
    kinds = ",".join(sorted({a.split(":", 1)[0] for a in addresses}))
    await record(conversation_id, "contact_opted_out", channel=channel, database_url=repository.url, via=via,
                 addresses=kinds, **audit)
    logger.info("contacts.optout conversation=%s channel=%s via=%s addresses=%s", conversation_id, channel, via, kinds)
    return addresses


def block_stays_with_customer(database_url: str, address: str, customer_id: int, *, via: str) -> list[str]:
    """Before ``address`` stops being the customer's (a WeChat follower unsubscribed, which drops the
    binding): a block on it (TD, do-not-disturb) is put on each of the customer's other addresses, which
    it reached only through that binding. Returns the addresses blocked now."""
    from bot.contacts.decision import customer_addresses

    repository = Repository(database_url)
    schedule = Schedule(repository)
    reason = schedule.blocked(address)
    if not reason:
        return []
    others = sorted(a for a in customer_addresses(repository, customer_id) - {address} if not schedule.blocked(a))
    for other in others:
        schedule.block(other, reason, via)
    if others:
        logger.info("contacts.block.kept from=%s reason=%s addresses=%d via=%s", address.split(":", 1)[0], reason,
                    len(others), via)
    return others


def withheld(repository: Repository, channel: str, recipient: str, customer_id: int | None = None) -> str | None:
    """Why a text to ``recipient`` on ``channel`` (``sms``, ``wechat``) may not go: ``opt_out`` or ``dnd``, by the
    number or WeChat account itself or by any address of the customer it is for (``customer_id``, else the
    customer whose registered number or bound WeChat account it is), as the contact worker checks a contact
    (``ContactGate.blocked``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.contacts.decision import ContactGate  # it imports this module's neighbours
    from bot.phone import local_phone

    if channel not in ("sms", "wechat") or not recipient:
        return None
    phone = (local_phone(recipient) or recipient) if channel == "sms" else ""
    openid = recipient if channel == "wechat" else ""
    try:
        if customer_id is None:
            customer_id = customer_at(repository, phone, openid)
        contact = {"phone": phone, "openid": openid, "customer_id": customer_id}
        return ContactGate(repository, frozenset()).blocked(contact)
    except SQLAlchemyError as exc:
        raise DatabaseError(str(exc)) from exc


def customer_at(repository: Repository, phone: str, openid: str) -> int | None:
    """The customer whose registered number ``phone`` is, or whose verified WeChat account ``openid`` is (bound:
    the binding is how a block on the account reaches their numbers, and theirs the account); None for neither.
    Found in review: a WeChat text queued without its customer read the account's own block list only, and went
    to a customer who had sent TD from their registered number."""
    import sqlalchemy as sa

    from bot.db.schema import channel_bindings

    if phone:
        customer = repository.find_customer(phone=phone)
        return customer.id if customer is not None else None
    if not openid:
        return None
    with repository.engine.connect() as conn:
        return conn.execute(sa.select(channel_bindings.c.customer_id).where(
            channel_bindings.c.channel == "wechat", channel_bindings.c.external_id == openid)).scalar_one_or_none()


def opt_out_addresses(channel: str, conversation_id: str, context: dict, *, verified: bool) -> list[str]:
    """The addresses an agent's "客户要求不再联系" opts out, from a handoff's context packet: a proven
    customer's registered number, the caller's own line (in the packet only when the trunk vouched
    for it), a WeChat conversation's account. Never a number the customer merely typed."""
    addresses = []
    customer_phone = (context.get("customer") or {}).get("phone")
    if verified and customer_phone:
        addresses.append(f"phone:{customer_phone}")
    if channel == "ivr" and context.get("phone"):
        addresses.append(f"phone:{context['phone']}")
    if channel == "wechat" and conversation_id:
        addresses.append(f"wechat:{conversation_id}")
    return addresses


def as_opt_out_word(text: str | None) -> str:
    """A reply as it is compared with the editors' opt-out words: a phone's keyboard writes "TD" as
    "Td" (a capital first letter), "ＴＤ" (full width) or "TD。", and each of them asked to stop."""
    word = unicodedata.normalize("NFKC", text or "").casefold()
    edges = "".join({c for c in word if c.isspace() or unicodedata.category(c).startswith("P")})
    return word.strip(edges)


async def opt_out_reply(settings, *, address: str, text: str, conversation_id: str, channel: str) -> str | None:
    try:
        rules = await asyncio.to_thread(current_rules, settings.content_dir / "contacts.yml")
    except ContactRulesError as exc:  # no usable rules ever loaded: the text goes to the assistant
        logger.warning("contacts.optout.no_rules error=%s", exc)
        return None
    word = as_opt_out_word(text)
    if not word or word not in {as_opt_out_word(w) for w in rules.opt_out_words}:
        return None
    await opt_out(settings.database_url, [address], conversation_id=conversation_id, channel=channel, via="reply")
    return rules.opt_out_reply
