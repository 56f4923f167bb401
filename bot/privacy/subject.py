"""Who a request is about: one customer record and every key Kefu filed their data under.

A customer's data is not all keyed by their customer id: analytics rows carry ``phone:``/``openid:``
keys, tickets and trackers carry conversation ids, the outbox carries numbers and openids. Finding
them all in one place keeps export and erasure reaching the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.db.schema import (
    channel_bindings,
    contacts,
    conversation_events,
    customer_contact_changes,
    customer_contacts,
    customers,
    tickets,
    voice_messages,
)
from bot.outcomes.events import customer_key

# How a number the carrier gave is stored where Kefu kept it as given (a text the phone line sent to the
# caller's line, a callback's number): Twilio's ``From`` is E.164, ``+8613800000001``.
CARRIER_SPELLINGS = ("{}", "86{}", "+86{}")
VOICEMAIL_CONVERSATION = "voicemail-{}"  # voice/voicemail/pipeline.py's conversation ids
CONTACT_CONVERSATION = "contact:{}"  # bot/contacts/worker.py's


class UnknownCustomer(LookupError):
    """No customer has that id, number or account."""


@dataclass
class Subject:
    customer_id: int
    phones: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    openids: set[str] = field(default_factory=set)
    conversation_ids: set[str] = field(default_factory=set)

    @property
    def keys(self) -> set[str]:
        """Every ``conversation_events.customer`` value that names this customer."""
        return ({customer_key(customer_id=self.customer_id)} | {customer_key(phone=p) for p in self.phones}
                | {customer_key(account=a) for a in self.accounts} | {customer_key(openid=o) for o in self.openids})

    @property
    def phone_spellings(self) -> set[str]:
        """Their numbers as stored by Kefu (11 digits) and as a carrier gives them (``+86...``)."""
        return {spelling.format(p) for p in self.phones for spelling in CARRIER_SPELLINGS}

    @property
    def addresses(self) -> set[str]:
        """Where messages to this customer are sent (outbox recipients, contact addresses)."""
        return self.phone_spellings | self.openids | self.conversation_ids

    @property
    def identifiers(self) -> set[str]:
        """Strings that identify the customer when found inside free data (numbers, accounts, openids)."""
        return {value for value in self.phones | self.accounts | self.openids if len(value) >= 5}


def find_subject(engine: sa.engine.Engine, given: str) -> Subject:
    """The customer ``given`` names (customer id, registered or corrected phone, account number).

    Raises :class:`UnknownCustomer`: a request is answered for a customer Kefu knows, never guessed.
    """
    given = given.strip()
    with engine.connect() as conn:
        row = conn.execute(sa.select(customers).where(sa.or_(
            customers.c.phone == given, customers.c.account_number == given,
            customers.c.id == (int(given) if given.isdigit() and len(given) < 10 else -1)))).mappings().first()
        if row is None:
            owner = conn.execute(sa.select(customer_contacts.c.customer_id).where(
                customer_contacts.c.field == "callback_phone", customer_contacts.c.value == given)).scalar()
            row = conn.execute(sa.select(customers).where(customers.c.id == owner)).mappings().first() \
                if owner is not None else None
        if row is None:
            raise UnknownCustomer(given)
        return _gather(conn, row)


def _gather(conn: sa.engine.Connection, row) -> Subject:
    subject = Subject(customer_id=row["id"], phones={row["phone"]}, accounts={row["account_number"]})
    cid = subject.customer_id
    subject.phones |= {r.value for r in conn.execute(sa.select(customer_contacts.c.value).where(
        customer_contacts.c.customer_id == cid, customer_contacts.c.field == "callback_phone"))}
    for change in conn.execute(sa.select(customer_contact_changes).where(
            customer_contact_changes.c.customer_id == cid)).mappings():
        if change["field"] == "callback_phone":
            subject.phones |= {v for v in (change["old_value"], change["new_value"]) if v}
        if change["conversation_id"]:
            subject.conversation_ids.add(change["conversation_id"])
    subject.openids = {r.external_id for r in conn.execute(sa.select(channel_bindings.c.external_id).where(
        channel_bindings.c.customer_id == cid))}
    subject.conversation_ids |= subject.openids  # a WeChat conversation's sender id is the openid
    subject.conversation_ids |= {r.conversation_id for r in conn.execute(
        sa.select(conversation_events.c.conversation_id).distinct().where(
            conversation_events.c.customer.in_(sorted(subject.keys))))}
    subject.conversation_ids |= {r.conversation_id for r in conn.execute(
        sa.select(tickets.c.conversation_id).where(tickets.c.customer_id == cid)) if r.conversation_id}
    subject.conversation_ids |= {VOICEMAIL_CONVERSATION.format(r.id) for r in conn.execute(
        sa.select(voice_messages.c.id).where(sa.or_(voice_messages.c.customer_id == cid,
                                                    voice_messages.c.caller_phone.in_(sorted(subject.phone_spellings)))))}
    subject.conversation_ids |= {CONTACT_CONVERSATION.format(r.id) for r in conn.execute(
        sa.select(contacts.c.id).where(sa.or_(contacts.c.customer_id == cid,
                                              contacts.c.phone.in_(sorted(subject.phone_spellings)))))}
    return subject
