"""Who a request is about: one customer record and every key Kefu filed their data under.

A customer's data is not all keyed by their customer id: analytics rows carry ``phone:``/``openid:``
keys, tickets and trackers carry conversation ids, the outbox carries numbers and openids. Finding
them all in one place keeps export and erasure reaching the same rows.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.db.schema import (
    channel_bindings,
    contacts,
    conversation_events,
    customer_contact_changes,
    customer_contacts,
    customers,
    outbox,
    tickets,
    voice_messages,
)
from bot.handoff.masking import mask_phone
from bot.outcomes.events import customer_key
from bot.phone import SMS_CONVERSATION, local_phone

# How a number the carrier gave is stored where Kefu kept it as given (a text the phone line sent to the
# caller's line, a callback's number): Twilio's ``From`` is E.164, ``+8613800000001``.
CARRIER_SPELLINGS = ("{}", "86{}", "+86{}", "0086{}")
VOICEMAIL_CONVERSATION = "voicemail-{}"  # voice/voicemail/pipeline.py's conversation ids
CONTACT_CONVERSATION = "contact:{}"  # bot/contacts/worker.py's


class UnknownCustomer(LookupError):
    """No customer has that id, number or account."""


# What a given value may be, as ``kind:value`` says when one bare value names two customers.
KINDS = {"id": "id", "phone": "phone number", "account": "account number"}


class AmbiguousCustomer(LookupError):
    """The value is one customer's id and another's account number (or phone): which is meant?"""

    def __init__(self, given: str, matches: dict[str, int]) -> None:
        super().__init__(given)
        self.given = given
        self.matches = matches  # kind (KINDS) -> the customer it names


@dataclass
class Subject:
    customer_id: int | None  # None: a caller who is no customer, known by their number only
    phones: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    openids: set[str] = field(default_factory=set)
    conversation_ids: set[str] = field(default_factory=set)

    def owns(self, column: sa.ColumnElement) -> sa.ColumnElement:
        """``column`` (a customer id) is theirs; nothing is for a caller who is no customer (a bare
        ``column == None`` would be every row filed under no customer)."""
        return column == self.customer_id if self.customer_id is not None else sa.false()

    @property
    def label(self) -> str:
        """Who, for the operator: the customer's id, or the caller's number masked."""
        return f"customer {self.customer_id}" if self.customer_id is not None else f"caller {mask_phone(min(self.phones))}"

    @property
    def folder_prefix(self) -> str:
        """Their exports' folder names start with this; a caller's number is not written in clear."""
        if self.customer_id is not None:
            return f"customer-{self.customer_id}-"
        return f"caller-{hashlib.sha256(min(self.phones).encode()).hexdigest()[:16]}-"

    @property
    def keys(self) -> set[str]:
        """Every ``conversation_events.customer`` value that names this customer."""
        keys = ({customer_key(phone=p) for p in self.phone_spellings} | {customer_key(account=a) for a in self.accounts}
                | {customer_key(openid=o) for o in self.openids})
        return keys | ({customer_key(customer_id=self.customer_id)} if self.customer_id is not None else set())

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
    """The customer ``given`` names (customer id, registered or corrected phone, account number; or
    ``id:``/``phone:``/``account:`` and one of them, to say which).

    Raises :class:`UnknownCustomer`, or :class:`AmbiguousCustomer` for a bare value that names two
    customers (a short account number that is another customer's id): a request is answered for the
    customer Kefu was asked about, never guessed.
    """
    kind, _, value = given.strip().partition(":")
    wanted = kind if kind in KINDS and value.strip() else None
    given = value.strip() if wanted else given.strip()
    with engine.connect() as conn:
        matches = {k: v for k, v in _matches(conn, given).items() if wanted in (None, k)}
        if not matches:
            return _caller(conn, given, wanted)
        if len(set(matches.values())) > 1:
            raise AmbiguousCustomer(given, matches)
        row = conn.execute(sa.select(customers).where(customers.c.id == next(iter(matches.values())))).mappings().one()
        return _gather(conn, Subject(customer_id=row["id"], phones={row["phone"]}, accounts={row["account_number"]}))


def _caller(conn: sa.engine.Connection, given: str, wanted: str | None) -> Subject:
    """A number that is no customer's, but that Kefu kept: a caller's line the carrier vouched for, a
    voice message's caller, a text or a call to it. Their data is theirs to see and erase too."""
    phone = local_phone(given) if wanted in (None, "phone") else None
    if phone is None:
        raise UnknownCustomer(given)
    subject = _gather(conn, Subject(customer_id=None, phones={phone}))
    texted = conn.execute(sa.select(outbox.c.id).where(outbox.c.recipient.in_(sorted(subject.addresses))).limit(1)).first()
    if not subject.conversation_ids and texted is None:
        raise UnknownCustomer(given)
    return subject


def _matches(conn: sa.engine.Connection, given: str) -> dict[str, int]:
    """The customer ``given`` is the id, phone number (registered, else a corrected callback number) or
    account number of, by kind."""
    found: dict[str, int] = {}
    if given.isdigit() and len(given) < 10:
        known = conn.execute(sa.select(customers.c.id).where(customers.c.id == int(given))).scalar()
        if known is not None:
            found["id"] = known
    phone = local_phone(given) or given
    owner = conn.execute(sa.select(customers.c.id).where(customers.c.phone == phone)).scalar()
    if owner is None:
        owner = conn.execute(sa.select(customer_contacts.c.customer_id).where(
            customer_contacts.c.field == "callback_phone", customer_contacts.c.value == phone)).scalar()
    if owner is not None:
        found["phone"] = owner
    account = conn.execute(sa.select(customers.c.id).where(customers.c.account_number == given)).scalar()
    if account is not None:
        found["account"] = account
    return found


def _gather(conn: sa.engine.Connection, subject: Subject) -> Subject:
    """``subject`` with every number, openid and conversation id Kefu filed their data under."""
    subject.phones |= {r.value for r in conn.execute(sa.select(customer_contacts.c.value).where(
        subject.owns(customer_contacts.c.customer_id), customer_contacts.c.field == "callback_phone"))}
    for change in conn.execute(sa.select(customer_contact_changes).where(
            subject.owns(customer_contact_changes.c.customer_id))).mappings():
        if change["field"] == "callback_phone":
            subject.phones |= {v for v in (change["old_value"], change["new_value"]) if v}
        if change["conversation_id"]:
            subject.conversation_ids.add(change["conversation_id"])
    subject.openids = {r.external_id for r in conn.execute(sa.select(channel_bindings.c.external_id).where(
        subject.owns(channel_bindings.c.customer_id)))}
    subject.conversation_ids |= subject.openids  # a WeChat conversation's sender id is the openid
    subject.conversation_ids |= {r.conversation_id for r in conn.execute(
        sa.select(conversation_events.c.conversation_id).distinct().where(sa.or_(
            conversation_events.c.customer.in_(sorted(subject.keys)),
            conversation_events.c.conversation_id.in_(sorted(SMS_CONVERSATION.format(p) for p in subject.phones)))))}
    subject.conversation_ids |= {r.conversation_id for r in conn.execute(
        sa.select(tickets.c.conversation_id).where(subject.owns(tickets.c.customer_id))) if r.conversation_id}
    subject.conversation_ids |= {VOICEMAIL_CONVERSATION.format(r.id) for r in conn.execute(
        sa.select(voice_messages.c.id).where(sa.or_(subject.owns(voice_messages.c.customer_id),
                                                    voice_messages.c.caller_phone.in_(sorted(subject.phone_spellings)))))}
    subject.conversation_ids |= {CONTACT_CONVERSATION.format(r.id) for r in conn.execute(
        sa.select(contacts.c.id).where(sa.or_(subject.owns(contacts.c.customer_id),
                                              contacts.c.phone.in_(sorted(subject.phone_spellings)))))}
    return subject
