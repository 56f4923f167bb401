"""The database rows about one customer, table by table: what an export copies and an erasure
deletes or anonymises. One query per table, shared by both, so they cannot drift apart."""
from __future__ import annotations

import sqlalchemy as sa

from bot.db.schema import (
    bills,
    channel_bindings,
    contact_attempts,
    contact_blocks,
    contacts,
    conversation_events,
    customer_contact_changes,
    customer_contacts,
    customer_credentials,
    customers,
    outbox,
    ticket_history,
    ticket_owners,
    tickets,
    usage,
)
from bot.db.repository import in_chunks
from bot.dispatch.events import CHANNEL as DISPATCH
from bot.privacy.subject import Subject


def ticket_ids(conn: sa.engine.Connection, subject: Subject) -> list[str]:
    """Their tickets, and tickets of their conversations filed under no customer (before they were
    identified); never another customer's ticket from a shared conversation."""
    return [r.ticket_id for r in conn.execute(sa.select(tickets.c.ticket_id).where(sa.or_(
        subject.owns(tickets.c.customer_id),
        sa.and_(tickets.c.customer_id.is_(None), tickets.c.conversation_id.in_(sorted(subject.conversation_ids))))))]


def event_filter(subject: Subject):
    """Every event of their conversations (an erasure renames each conversation), and theirs elsewhere."""
    return sa.or_(conversation_events.c.customer.in_(sorted(subject.keys)),
                  conversation_events.c.conversation_id.in_(sorted(subject.conversation_ids)))


def own_event_filter(subject: Subject):
    """The events that are theirs (an export): of :func:`event_filter`, not one another customer proved
    in the same conversation (a household's phone call, a desk conversation verified as someone else)."""
    return sa.and_(event_filter(subject), sa.not_(_another_customer(subject)))


def _another_customer(subject: Subject):
    """An event naming another proven customer (or one erased before)."""
    return sa.or_(sa.and_(conversation_events.c.customer.like("customer:%"),
                          conversation_events.c.customer.notin_(sorted(subject.keys))),
                  conversation_events.c.customer.like("erased:%"))


def others_conversations(conn: sa.engine.Connection, subject: Subject, conversation_ids: set[str]) -> set[str]:
    """Those of ``conversation_ids`` in which another customer was identified (not theirs to export)."""
    found: set[str] = set()
    for chunk in in_chunks(sorted(conversation_ids)):
        found |= set(conn.execute(sa.select(conversation_events.c.conversation_id).distinct().where(
            conversation_events.c.conversation_id.in_(chunk), _another_customer(subject))).scalars())
    return found


def outbox_filter(subject: Subject, found_tickets: list[str]):
    """Messages to the customer, and the events about their tickets queued for the dispatch system
    (each carries the whole ticket: their words, number, account; ``bot/dispatch/events.py``)."""
    return sa.or_(sa.and_(outbox.c.channel != DISPATCH, outbox.c.recipient.in_(sorted(subject.addresses))),
                  sa.and_(outbox.c.channel == DISPATCH, outbox.c.recipient.in_(sorted(found_tickets))))


def contact_filter(subject: Subject):
    return sa.or_(subject.owns(contacts.c.customer_id), contacts.c.phone.in_(sorted(subject.phone_spellings)),
                  contacts.c.openid.in_(sorted(subject.openids)))


def contact_addresses(subject: Subject) -> list[str]:
    """bot/contacts/'s address form: ``phone:<number>`` / ``wechat:<openid>``."""
    return sorted({f"phone:{p}" for p in subject.phone_spellings} | {f"wechat:{o}" for o in subject.openids})


def _rows(conn, query) -> list[dict]:
    return [dict(r) for r in conn.execute(query).mappings()]


def read_rows(conn: sa.engine.Connection, subject: Subject) -> dict[str, list[dict]]:
    """Every row about the customer, by table (the service password's hash is never copied out)."""
    owns = subject.owns
    found_tickets = ticket_ids(conn, subject)
    contact_ids = [r.id for r in conn.execute(sa.select(contacts.c.id).where(contact_filter(subject)))]
    history: list[dict] = []
    owners: list[dict] = []
    for chunk in in_chunks(found_tickets):
        history += _rows(conn, sa.select(ticket_history).where(ticket_history.c.ticket_id.in_(chunk))
                         .order_by(ticket_history.c.id))
        owners += _rows(conn, sa.select(ticket_owners).where(ticket_owners.c.ticket_id.in_(chunk)))
    return {
        "customers": _rows(conn, sa.select(customers).where(owns(customers.c.id))),
        "customer_credentials": [{"customer_id": r["customer_id"], "service_password_set": True,
                                  "updated_at": r["updated_at"]} for r in _rows(
            conn, sa.select(customer_credentials).where(owns(customer_credentials.c.customer_id)))],
        "bills": _rows(conn, sa.select(bills).where(owns(bills.c.customer_id)).order_by(bills.c.period)),
        "usage": _rows(conn, sa.select(usage).where(owns(usage.c.customer_id)).order_by(usage.c.period)),
        "channel_bindings": _rows(conn, sa.select(channel_bindings).where(owns(channel_bindings.c.customer_id))),
        "customer_contacts": _rows(conn, sa.select(customer_contacts).where(owns(customer_contacts.c.customer_id))),
        "customer_contact_changes": _rows(conn, sa.select(customer_contact_changes).where(
            owns(customer_contact_changes.c.customer_id)).order_by(customer_contact_changes.c.id)),
        "tickets": _rows(conn, sa.select(tickets).where(tickets.c.ticket_id.in_(found_tickets)).order_by(tickets.c.id)),
        "ticket_history": history,
        "ticket_owners": owners,
        "conversation_events": _rows(conn, sa.select(conversation_events).where(own_event_filter(subject))
                                     .order_by(conversation_events.c.at, conversation_events.c.id)),
        "outbox": _rows(conn, sa.select(outbox).where(outbox_filter(subject, found_tickets)).order_by(outbox.c.id)),
        "contacts": _rows(conn, sa.select(contacts).where(contacts.c.id.in_(contact_ids)).order_by(contacts.c.id)),
        "contact_attempts": _rows(conn, sa.select(contact_attempts).where(
            contact_attempts.c.contact_id.in_(contact_ids)).order_by(contact_attempts.c.id)),
        "contact_blocks": _rows(conn, sa.select(contact_blocks).where(
            contact_blocks.c.address.in_(contact_addresses(subject)))),
    }
