"""The customer at a glance (the caller-ID screen pop): who the agent is talking to, in one view.

Built for a conversation an agent holds, from the customer the conversation proved it is (the
handoff packet's ``customer``, set only for a verified customer or a trusted caller ID): plan (and the
day a yearly plan or contract ends, the date the customer is told when they ask),
latest bills and balance, open ledger items, recent contacts on every channel (the outcome record,
grouped by conversation, plus the conversations of the customer's tickets), VIP tier and the
contact details with their corrections. Every personal number goes through ``bot.handoff.masking``.
Synchronous (SQLAlchemy); the desk runs it in a worker thread.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.analytics.waits import one_wait
from bot.arrears import bill_status
from bot.db.repository import Customer, Repository
from bot.db.schema import conversation_events
from bot.handoff.contact_details import ContactDetails
from bot.handoff.masking import mask_number, mask_text
from bot.ledger.ledger import Ledger, LedgerItem
from bot.ledger.rules import LedgerRules
from bot.outcomes.events import customer_key

BILLS_SHOWN = 3
CONTACTS_SHOWN = 6
CONTACT_LOOKBACK = dt.timedelta(days=90)
CALL_LOST_MIDWAY = "handoff_call_lost"  # the outcome of an agent's contact whose call was lost midway
# What a contact came to, most telling first: the first of these among its events names it. A phone caller texted
# the self-help guide on hold leaves the queue after it (``caller_chose_notify``): the guide, not 排队放弃.
OUTCOME_ORDER = ("handoff_closed", "ticket_created", "callback_booked", "voice_message_left", "ivr_voicemail_left",
                 "voicemail_received", "resolved_by_selfhelp_while_waiting", "selfhelp_resolved", "knowledge_answered", "contact_answered",
                 "ivr_selfhelp_sent", "handoff_abandoned", "handoff_customer_left", "handoff_claimed", "handoff_queued", "selfhelp_failed",
                 "selfhelp_sent", "ivr_voicemail_started", "callback_offered")
# Kefu's plans, not a contact with the customer: a conversation with only these is not listed.
BOOKKEEPING = {"contact_scheduled", "contact_skipped"}


def iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def unverified(packet: dict) -> dict:
    """No proven customer: only the number the channel vouched for (a caller's line), masked, or else
    the number a client claimed, masked and marked as only claimed."""
    phone, claimed = packet.get("phone"), packet.get("claimed_phone")
    shown = {"verified": False, "phone": mask_number(phone) if phone else None}
    return {**shown, "claimed_phone": mask_number(claimed)} if claimed and not phone else shown


def customer_glance(repository: Repository, rules: LedgerRules, packet: dict, *,
                    now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.utcnow()
    customer_id = (packet.get("customer") or {}).get("id")
    customer = repository.get_customer(int(customer_id)) if customer_id is not None else None
    if customer is None:
        return unverified(packet)
    plan = repository.plan(customer.plan_code) if customer.plan_code else None
    details = ContactDetails(repository.url)
    items = Ledger(repository, rules).customer_items(customer.id, now=now)
    return {
        "verified": True,
        "customer": {"name": customer.name, "vip_tier": customer.vip_tier, "phone": mask_number(customer.phone),
                     "account_number": mask_number(customer.account_number), "balance_cents": customer.balance_cents},
        "plan": {"code": plan["code"], "name": plan["name"], "category": plan["category"],
                 "monthly_fee_cents": plan["monthly_fee_cents"], "end_date": customer.plan_end_date} if plan else None,
        "bills": [{"period": b["period"], "amount_cents": b["amount_cents"], "status": bill_status(b["status"]),
                   "due_date": b["due_date"]} for b in repository.bills_for(customer.id, limit=BILLS_SHOWN)],
        "ledger": [shown_item(i) for i in items if i.next_step is not None],
        "contacts": recent_contacts(repository, customer, packet.get("conversation_id") or "", now),
        "contact": shown_contact(details.current(customer)),
        "contact_history": [shown_change(c) for c in details.history(customer.id)],
    }


def shown_item(item: LedgerItem) -> dict:
    return {"ticket_id": item.ticket_id, "kind": item.kind, "summary": mask_text(item.summary), "step": item.step,
            "next_step": item.next_step, "due_at": iso(item.due_at), "overdue": item.overdue,
            "repeat": bool(item.repeat_of), "owner": item.owner, "visit_time": item.visit_time}


def masked_value(field: str, value: str) -> str:
    return mask_number(value) if field == "callback_phone" and value else mask_text(value or "")


def shown_contact(current: dict[str, dict]) -> dict:
    return {field: {"value": masked_value(field, detail["value"]), "corrected_by": detail["corrected_by"],
                    "corrected_at": iso(detail["corrected_at"])} for field, detail in current.items()}


def shown_change(change: dict) -> dict:
    return {"field": change["field"], "old": masked_value(change["field"], change["old_value"]),
            "new": masked_value(change["field"], change["new_value"]), "by": change["changed_by"],
            "at": iso(change["changed_at"])}


def recent_contacts(repository: Repository, customer: Customer, current: str, now: dt.datetime) -> list[dict]:
    """The customer's latest contacts on any channel, newest first, each with what it came to.

    A conversation that goes on for days (a WeChat follower's) holds several contacts: one ends where an
    agent closed it, and what comes after is the next. Kefu's own bookkeeping (a contact planned or put
    off) is no contact with the customer. Found by a journey tester: the WeChat chat being served showed
    as 人工服务结束（已解决）（本次） (an earlier close), and planned contacts as "- 进行中".
    """
    keys = [customer_key(customer_id=customer.id), customer_key(phone=customer.phone),
            customer_key(account=customer.account_number)]
    since = now - CONTACT_LOOKBACK
    ids = {t["conversation_id"] for t in repository.tickets_for(customer.id) if t.get("conversation_id")}
    events = conversation_events.c
    with repository.engine.connect() as conn:
        ids |= set(conn.execute(sa.select(events.conversation_id).distinct()
                                .where(events.customer.in_(keys), events.at >= since)).scalars())
        rows = conn.execute(sa.select(events.conversation_id, events.kind, events.channel, events.data, events.at)
                            .where(events.conversation_id.in_(sorted(ids)), events.at >= since)
                            .order_by(events.at)).mappings().all() if ids else []
    contacts: dict[str, list[dict]] = {}
    for row in one_wait([dict(row) for row in rows]):  # a caller back in line after a hold key: no 排队放弃
        segments = contacts.setdefault(row["conversation_id"], [])
        if not segments or (segments[-1]["disposition"] is not None and row["kind"] in OUTCOME_ORDER):
            segments.append({"kinds": [], "channel": "", "started": row["at"], "disposition": None})
        contact = segments[-1]
        contact["channel"] = contact["channel"] or row["channel"]
        contact["last"] = row["at"]
        contact["kinds"].append(row["kind"])
        if row["kind"] == "handoff_closed":  # a transfer's names its group ("transfer:tv"): the desk's words are the kind's
            contact["disposition"] = ((row["data"] or {}).get("disposition") or "").split(":", 1)[0]
            # a call lost after words with the agent keeps their disposition (HandoffQueue.close): shown as lost
            contact["lost"] = (row["data"] or {}).get("reason") == "call_lost"
        if row["kind"] == "contact_attempted":  # Kefu's own call or message: its latest result
            contact["attempt"] = f"contact_{(row['data'] or {}).get('result') or 'placed'}"
    listed = [(conversation_id, contact, conversation_id == current and index == len(segments) - 1)
              for conversation_id, segments in contacts.items() for index, contact in enumerate(segments)
              if not set(contact["kinds"]) <= BOOKKEEPING]
    newest = sorted(listed, key=lambda item: item[1]["last"], reverse=True)[:CONTACTS_SHOWN]
    return [{"conversation": mask_text(conversation_id), "current": is_current,
             "channel": contact["channel"], "started_at": iso(contact["started"]), "last_at": iso(contact["last"]),
             "outcome": _outcome(contact),
             "disposition": contact["disposition"] or None}
            for conversation_id, contact, is_current in newest]


def _outcome(contact: dict) -> str | None:
    """The contact's outcome as the glance names it: its first kind in OUTCOME_ORDER (``handoff_call_lost`` for an
    agent's contact whose call was lost midway), else Kefu's own last attempt."""
    outcome = next((k for k in OUTCOME_ORDER if k in contact["kinds"]), contact.get("attempt"))
    return CALL_LOST_MIDWAY if outcome == "handoff_closed" and contact.get("lost") else outcome
