"""What the contact worker does with a due contact: the checks it makes before an attempt, in one place.

The worker acts on the decision (blocks, holds, postpones or places the contact); ``kefu contacts
plan`` (:mod:`bot.contacts.dry_run`) asks the same question of the contacts a pass would schedule
and only shows the answer — so the dry run an operator reads before go-live cannot drift from what
the worker really does (it did: opted-out customers and withheld demo numbers were listed as
contacts to be made). Reading only: every side effect is the caller's.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa

from bot.arrears import owed_cents, owed_yuan
from bot.contacts.addresses import Reach, reach_of
from bot.contacts.complaints import OPEN_COMPLAINT, open_complaint
from bot.contacts.rules import ContactRules
from bot.contacts.schedule import Schedule, address_of, first_due
from bot.db.repository import Repository
from bot.db.schema import customers
from bot.phone import local_phone

SEND, BLOCK, HOLD, WAIT, DROP, EXPIRE = "send", "block", "hold", "wait", "drop", "expire"
DEMO_CUSTOMER = "demo_customer"
FOLLOWED_UP = "followed_up"  # the follow-up's ticket was followed up meanwhile (an agent, the dispatch system)
REOPENED = "reopened"  # the follow-up's repair was reopened meanwhile: its next resolution has its own
PAID = "paid"  # an arrears reminder's customer owes nothing any more (paid, or credited) when it comes due
NO_CHANNEL = "no_channel"
TOO_LATE = "too_late"
QUIET_HOURS = "quiet_hours"
DAILY_LIMIT = "daily_limit"
# Every reason a decision gives (and a block's, bot/contacts/schedule.py BLOCK_REASONS): the contact keeps it as its result.
REASONS = (DEMO_CUSTOMER, FOLLOWED_UP, REOPENED, PAID, NO_CHANNEL, TOO_LATE, QUIET_HOURS, DAILY_LIMIT, OPEN_COMPLAINT)
NO_CHANNEL_WAIT = dt.timedelta(hours=1)  # nothing configured reaches them: look again after this
TEXT_CHANNELS = ("sms", "wechat")


@dataclass(frozen=True)
class Decision:
    """``SEND`` by ``channel`` to ``address``; ``BLOCK`` (never made: ``reason`` is ``demo_customer`` or
    the block list's ``opt_out``/``dnd``); ``HOLD`` (left to the handler of ``complaint``); ``WAIT``
    until ``until`` (``quiet_hours``, ``daily_limit``, ``no_channel``); ``DROP`` (no longer wanted:
    ``followed_up``, ``reopened``, ``paid``); ``EXPIRE`` (never made: ``too_late``, not first tried within the
    purpose's ``late_limit_hours``, or ``no_channel``, none reached the customer by then; ``until`` when it
    first came due)."""

    action: str
    reason: str = ""
    channel: str = ""
    address: str = ""
    until: dt.datetime | None = None
    complaint: dict | None = None
    amount: str = ""  # an arrears reminder's: what the customer owes now, as its ``{amount}``

    @property
    def counted(self) -> bool:
        """Whether the attempt counts against the daily limit: a call placed or a text sent (the worker
        records it, :meth:`Schedule.placed`); an offer to agents is no attempt at the customer."""
        return self.action == SEND and self.channel != "agent"


@dataclass(frozen=True)
class ContactGate:
    """A worker's view of what may be attempted: its database, the channels it has (``phone`` with a
    dialer, ``sms``/``wechat`` with a messenger, ``agent`` with a queue) and the numbers it never
    contacts (demo customers' without demo data: ``contact_withheld_phones``)."""

    repository: Repository
    channels: frozenset[str]
    withheld_phones: frozenset[str] = frozenset()

    def channel(self, contact: dict) -> str | None:
        """The first of the contact's channels, in the rule's order, that this worker can reach them by."""
        for channel in contact["channels"] or []:
            if channel not in self.channels:
                continue
            if channel == "sms" and local_phone(contact["phone"]) is None:
                continue  # a landline (an agent's corrected callback number): the gateway texts mobiles only
            if channel == "phone" and contact["phone"]:
                return channel
            if channel in TEXT_CHANNELS and address_of(channel, contact["phone"], contact["openid"]):
                return channel
            if channel == "agent":
                return channel
        return None

    def decide(self, contact: dict, rules: ContactRules, now: dt.datetime,
               planned: Iterable[tuple[str, dt.datetime]] = (), reach: Reach | None = None) -> Decision:
        """What an attempt at ``now`` does. ``planned``: (address, time) of attempts not in the database
        yet that count against the daily limit (the dry run's earlier calls and texts, of contacts
        already scheduled and of its own list; the worker has none). ``reach``: the customer's addresses
        as read with the contact's (the worker's one read, :mod:`bot.contacts.addresses`); else read here."""
        if contact["phone"] and contact["phone"] in self.withheld_phones:  # whatever the purpose or channel
            return Decision(BLOCK, DEMO_CUSTOMER)
        if contact["purpose"] == "followup" and contact["ticket_id"]:  # done by a person meanwhile: not again
            ticket = self.repository.get_ticket(contact["ticket_id"])
            if ticket is not None and ticket["status"] == "follow_up_done":
                return Decision(DROP, FOLLOWED_UP)
            if ticket is not None and ticket["status"] in ("open", "assigned"):  # "solved?" of a repair redone
                return Decision(DROP, REOPENED)
        amount = ""
        if contact["purpose"] == "arrears" and contact["customer_id"] is not None:
            # Planned from the balance of a while ago (found in review: a customer who paid overnight was
            # told at 08:00 they owed it, and one who paid part of it the old amount).
            amount = self.owed_now(contact["customer_id"])
            if not amount:
                return Decision(DROP, PAID)
        channel = self.channel(contact)
        # A callback the customer booked goes to the agents without its rule: the waiting room schedules it
        # under ``waiting_callback`` whatever the editors call that rule now. Others wait for theirs.
        booked = contact["purpose"] == "callback" and channel == "agent"
        reachable = channel is not None and (contact["rule"] in rules.rules or booked)
        due = first_due(contact)
        deadline = due + rules.late_limit[contact["purpose"]]
        # Not first made late (found in review: a follow-up the planner found weeks late rang about an old
        # repair), nor made days late once a channel is set up; a retry after no answer is the contact's plan.
        if now >= deadline and (not reachable or not contact.get("attempts")):
            return Decision(EXPIRE, TOO_LATE if reachable else NO_CHANNEL, until=due)
        complaint = open_complaint(self.repository, contact)
        if complaint is not None:  # a person is handling their complaint: no robot asks "solved?" meanwhile
            return Decision(HOLD, OPEN_COMPLAINT, complaint=complaint)
        if not reachable:  # keep it, look again later (until its deadline)
            return Decision(WAIT, NO_CHANNEL, until=min(now + NO_CHANNEL_WAIT, deadline))
        address = address_of(channel, contact["phone"], contact["openid"])
        if contact["purpose"] != "callback":  # a callback the customer booked is made whatever the hour
            schedule = Schedule(self.repository)
            blocked = self.blocked(contact, reach)
            if blocked:
                return Decision(BLOCK, blocked)
            if rules.in_quiet_hours(now):
                return Decision(WAIT, QUIET_HOURS, channel, address, until=rules.quiet_hours_end(now))
            day_start = rules.day_start(now)
            attempts = schedule.attempts_since(address, day_start) + sum(
                1 for at_address, at in planned if at_address == address and at >= day_start)
            if attempts >= rules.daily_attempt_limit:
                return Decision(WAIT, DAILY_LIMIT, channel, address, until=rules.next_day_open(now))
        return Decision(SEND, channel=channel, address=address, amount=amount)

    def owed_now(self, customer_id: int) -> str:
        """What the customer owes now (``owed_yuan``), "" when nothing (or they are no customer any more)."""
        with self.repository.engine.connect() as conn:
            balance = conn.execute(sa.select(customers.c.balance_cents).where(customers.c.id == customer_id)).first()
        return owed_yuan(balance[0]) if balance is not None and owed_cents(balance[0]) else ""

    def blocked(self, contact: dict, reach: Reach | None = None) -> str | None:
        """Why the customer may not be contacted (opted out, do-not-disturb), by the contact's number or
        WeChat, or by any address of the customer it is for: an opt-out is the customer's, so one
        given from their registered number also stops a contact to the number an agent corrected.
        ``reach``: the customer's addresses as the caller read them (else read here)."""
        schedule = Schedule(self.repository)
        addresses = {address_of("phone", contact["phone"], ""), address_of("wechat", "", contact["openid"])}
        if reach is not None:
            addresses |= reach.addresses
        elif contact["customer_id"] is not None:
            addresses |= customer_addresses(self.repository, contact["customer_id"])
        return schedule.first_blocked({a for a in addresses if a})


def customer_addresses(repository: Repository, customer_id: int) -> set[str]:
    """Every address a customer is reached at: the registered number, an agent's corrected callback
    number, their WeChat accounts (``phone:…``/``wechat:…``, as the block list keeps them)."""
    reach = reach_of(repository, {customer_id}).get(customer_id)
    return set(reach.addresses) if reach else set()
