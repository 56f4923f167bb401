"""The contact worker: one pass plans new contacts, recovers what a dead worker left, and attempts
every due contact it can claim — honouring opt-outs, do-not-disturb, quiet hours and the daily limit,
and leaving a follow-up or care contact to the handler of the customer's open complaint.

Several workers may run at once (one per ``kefu run``): every claim and every state change is a
conditional UPDATE (:mod:`bot.contacts.schedule`), so a contact is attempted by exactly one. Nothing is
kept in memory between passes: a worker restarted at any moment carries on from the database.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Callable

from bot.contacts.answers import ANSWERS
from bot.contacts.complaints import OPEN_COMPLAINT, hand_to_complaint
from bot.contacts.decision import (BLOCK, DAILY_LIMIT, DROP, EXPIRE, HOLD, NO_CHANNEL, PAID, QUIET_HOURS,
                                   REASONS, TEXT_CHANNELS, WAIT, ContactGate)
from bot.contacts.dialer import NOT_REACHED, DialError, Dialer
from bot.contacts.offer import offer_to_agents
from bot.contacts.addresses import Reach, reach_of
from bot.contacts.planner import Planner
from bot.contacts.rules import ContactRule, ContactRules
from bot.contacts.schedule import BLOCK_REASONS, DailyLimitReached, Schedule
from bot.db.repository import Repository
from bot.handoff.queue import HandoffQueue
from bot.ledger.rules import LedgerRules
from bot.notify import Notifier, NotifyError
from bot.outcomes import record
from bot.outcomes.events import customer_key

logger = logging.getLogger(__name__)

CARRIER_PAUSE = dt.timedelta(minutes=5)  # before trying again after the telephony API or a text channel was unavailable
CARRIER_UNAVAILABLE = "carrier_unavailable"  # no call went out, for a reason on Kefu's side or the carrier's load
LAST_CARRIER_STATUS = "last_carrier_status"  # in a retried call's details: the carrier's final status of the last call
CHANNEL_UNAVAILABLE = "channel_unavailable"  # no text went out, for a reason on Kefu's side or the channel's load
CHANNEL_REFUSED = "channel_refused"  # the SMS gateway or WeChat refused the text for good (a bad number…)
# What an attempt recorded as ``contact_attempted`` came to (its ``result``: a call placed, a text sent, a callback
# in line for the agents, or why not): the desk's glance names each by ``glance_outcome_contact_<result>``
# (`kefu validate` names one missing; tests/editor tie this list to the code that records them).
ATTEMPT_RESULTS = ("placed", "sent", "in_line", "dial_failed", "send_failed", CHANNEL_REFUSED, "no_answer") + tuple(
    status.replace("-", "_") for status in NOT_REACHED)
OFFERED = "offered"  # a callback handed to the agents' queue (an agent's close is its result once served)
# Every result a contact is left with (``contacts.result``): an attempt's, why none was made (or none more:
# a decision's reason, a block's), the customer's answer on the call, a callback handed to the agents (and an
# agent's close of it, bot/handoff/tickets.py DISPOSITIONS). The ledger names a follow-up's by ``result_<result>``
# (tests/editor tie this list to the code that records them).
CONTACT_RESULTS = tuple(dict.fromkeys(ATTEMPT_RESULTS + (CARRIER_UNAVAILABLE, CHANNEL_UNAVAILABLE, OFFERED) + REASONS
                                      + BLOCK_REASONS + ANSWERS))
MAYBE_SENT = "maybe_sent"  # in a contact's details: the client_ref and address of a text that may have gone out
SENT_REF = "sent_ref"  # in a sent contact's details: the client_ref its text went out under (a delivery report's)
CLAIM_LEASE = dt.timedelta(minutes=2)  # time to place an attempt; a worker dead longer gives the contact back


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def contact_values(contact: dict) -> dict:
    """What a contact's texts may name: its ticket and its details (``amount`` for arrears)."""
    return {"ticket_id": contact["ticket_id"] or "", **{k: v for k, v in (contact["details"] or {}).items()
                                                       if isinstance(v, (str, int, float))}}


def kept_ref(contact: dict, to: str) -> str | None:
    """The ``client_ref`` of an earlier attempt's text to ``to`` that may have gone out (no answer in time)."""
    kept = (contact["details"] or {}).get(MAYBE_SENT) or {}
    return kept["ref"] if kept.get("ref") and kept.get("to") == to else None


def text_ref(contact: dict, to: str, attempt: int) -> str:
    """The ``client_ref`` of a contact's text: that of an earlier attempt at the same address that may have
    gone out (no answer in time), so that the gateway sends the retry once (found in review: each retry
    named its own attempt, and a text that had gone out reached the customer again); else this attempt's."""
    return kept_ref(contact, to) or f"contact-{contact['id']}-{attempt}"


def text_address(contact: dict, channel: str) -> str:
    """Where a contact's text goes on ``channel``: its number (SMS) or its follower's openid (WeChat)."""
    return contact["phone"] if channel == "sms" else contact["openid"]


def same_words(contact: dict, channel: str) -> bool:
    """Whether the text must say what the earlier attempt's said: a WeChat message that may have gone out
    is known by its words as well as its ``client_ref`` (bot/outbound/wechat_delivery.py), so a retry
    saying another amount was another message, sent although WeChat reported the first delivered (found
    in review: a customer who had paid part of it got two reminders). The SMS gateway knows the
    ``client_ref`` alone: its retry says what is owed now, sent only if the first did not arrive."""
    return channel == "wechat" and kept_ref(contact, contact["openid"]) is not None


def message_text(rule: ContactRule, contact: dict, footer: str) -> str:
    try:
        text = rule.message.format(**contact_values(contact))
    except (KeyError, IndexError, ValueError):
        text = rule.message
    return f"{text}{footer}"


@dataclass
class ContactWorker:
    repository: Repository
    rules: Callable[[], ContactRules]          # the current rules (an editor file snapshot)
    ledger_rules: Callable[[], LedgerRules]
    dialer: Dialer | None = None
    messengers: dict[str, Notifier] = field(default_factory=dict)  # "sms", "wechat"
    queue: HandoffQueue | None = None        # for callbacks and contacts a person makes
    clock: Callable[[], dt.datetime] = dt.datetime.utcnow
    name: str = field(default_factory=worker_name)
    # Numbers never contacted automatically: the demo customers' when the deployment did not ask for
    # demo data (an older Kefu seeded them into every database; see contact_withheld_phones).
    withheld_phones: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.schedule = Schedule(self.repository)

    @property
    def gate(self) -> ContactGate:
        """The checks before an attempt, over the channels this worker has (a dialer, messengers, a queue)."""
        channels = ({"phone"} if self.dialer else set()) | {c for c in self.messengers if c in TEXT_CHANNELS}
        if self.queue is not None:
            channels.add("agent")
        return ContactGate(self.repository, frozenset(channels), self.withheld_phones)

    async def run_pass(self) -> dict[str, int]:
        """Plan, recover, attempt; returns counts by what happened (for logs and tests)."""
        now = self.clock()
        rules = self.rules()
        counts: dict[str, int] = {}
        planner = Planner(self.repository, rules, self.ledger_rules())
        for contact_id in await asyncio.to_thread(planner.plan, now):
            counts["scheduled"] = counts.get("scheduled", 0) + 1
            await self._event(await asyncio.to_thread(self.schedule.get, contact_id), "contact_scheduled")
        await asyncio.to_thread(self.schedule.recover_unplaced, now)
        # Each contact is judged and timed when the worker gets to it: a pass placing many calls lasts
        # minutes (each a request to the carrier), and the pass's start is no time to count a call's
        # lease from or to tell quiet hours by.
        for contact in await asyncio.to_thread(self.schedule.expired_calls, now):
            outcome = await self._call_over(contact, rules, self.clock())
            counts[outcome] = counts.get(outcome, 0) + 1
        for contact in await asyncio.to_thread(self.schedule.due, now):
            moment = self.clock()
            token = await asyncio.to_thread(self.schedule.claim, contact["id"], self.name, moment, CLAIM_LEASE)
            if token is None:
                continue  # another worker has it
            outcome = await self.attempt(await asyncio.to_thread(self.schedule.get, contact["id"]), token, rules,
                                         moment)
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    # -- one attempt ---------------------------------------------------------------------
    def _addressed_now(self, contact: dict, token: str) -> tuple[dict, Reach | None]:
        """The contact addressed as its customer's record is now, and every address of theirs an opt-out
        covers — one read of both, which the gate uses as it is (found in review: the number and the
        opt-out check were read apart, and could disagree). Scheduled a day or more before, the contact
        kept the number of that moment, which a nightly import may have changed (found in review: the
        follow-up rang the number the customer had given up). A callback keeps the number given for it."""
        if contact["purpose"] == "callback" or contact["customer_id"] is None:
            return contact, None
        reach = reach_of(self.repository, {contact["customer_id"]}).get(contact["customer_id"])
        if reach is None:  # no such customer any more: nothing of theirs beyond the contact's own
            return contact, Reach("", "", frozenset())
        if (reach.phone, reach.openid) == (contact["phone"] or "", contact["openid"] or ""):
            return contact, reach
        if not self.schedule.readdress(contact["id"], token, phone=reach.phone, openid=reach.openid):
            return contact, reach  # no longer this worker's: the attempt finds that out itself
        return {**contact, "phone": reach.phone, "openid": reach.openid}, reach

    async def attempt(self, contact: dict, token: str, rules: ContactRules, now: dt.datetime) -> str:
        contact, reach = await asyncio.to_thread(self._addressed_now, contact, token)
        decision = await asyncio.to_thread(self.gate.decide, contact, rules, now, reach=reach)
        if decision.action == BLOCK:
            await asyncio.to_thread(self.schedule.block_contact, contact["id"], decision.reason)
            await self._event(contact, "contact_skipped", reason=decision.reason)
            return decision.reason
        if decision.action == DROP:
            await asyncio.to_thread(self.schedule.drop_contact, contact["id"], decision.reason)
            await self._event(contact, "contact_skipped", reason=decision.reason)
            return decision.reason
        if decision.action == EXPIRE:  # not made in time (by any channel, or at all): not made days late
            if await asyncio.to_thread(self.schedule.expire_contact, contact["id"], decision.reason):
                logger.warning("contacts.contact.expired contact=%s purpose=%s reason=%s due=%s", contact["id"],
                               contact["purpose"], decision.reason, decision.until.isoformat(timespec="minutes"))
                await self._event(contact, "contact_skipped", reason=decision.reason, final=True,
                                  due=decision.until.isoformat(timespec="minutes"))
            return "expired"
        if decision.action == HOLD:
            complaint = decision.complaint
            if await asyncio.to_thread(hand_to_complaint, self.repository, contact, complaint):
                await self._event(contact, "contact_skipped", reason=OPEN_COMPLAINT, complaint_id=complaint["ticket_id"])
            return OPEN_COMPLAINT
        if decision.action == WAIT:
            return await self._wait(contact, token, decision.until, decision.reason)
        if decision.amount and decision.amount != (contact["details"] or {}).get("amount") \
                and not same_words(contact, decision.channel):
            contact = {**contact, "details": {**(contact["details"] or {}), "amount": decision.amount}}
        if decision.channel == "agent":
            return await self._offer(contact, token)
        rule = rules.rules[contact["rule"]]
        if decision.channel == "phone":
            return await self._call(contact, token, rule, rules, decision.address, now)
        return await self._message(contact, token, rule, rules, decision.channel, decision.address, now)

    async def _call(self, contact: dict, token: str, rule: ContactRule, rules: ContactRules, address: str,
                    now: dt.datetime) -> str:
        # Counted before dialling, like a text: a worker that dies between the carrier's answer and
        # this record must leave a call that times out as not answered, not a claim that lapses back
        # to the schedule and is dialled again at once while the first call still rings.
        held = await self._count(contact, token, rules, now, channel="phone", address=address,
                                 lease=rules.ring_timeout + rules.call_timeout, lost="answered")
        if held:
            return held
        try:
            placed = await self.dialer.place(contact["phone"], flow=rule.flow, token=token,
                                             ring_timeout_s=int(rules.ring_timeout.total_seconds()))
        except DialError as exc:
            logger.warning("contacts.call.failed contact=%s error=%s", contact["id"], exc)
            if exc.not_placed:  # found in review: a carrier outage used up the customers' attempts and day
                return await self._not_made(contact, token, CARRIER_UNAVAILABLE)
            return await self._retry(contact, token, rules, now, "dial_failed")
        await asyncio.to_thread(self.schedule.carrier_call, contact["id"], token, placed.sid)
        await self._event(contact, "contact_attempted", channel="phone", result="placed", call_sid=placed.sid)
        return "placed"

    async def _count(self, contact: dict, token: str, rules: ContactRules, now: dt.datetime, *, channel: str,
                     address: str, lease: dt.timedelta, lost: str, details: dict | None = None) -> str | None:
        """Count the attempt before it goes out (:meth:`Schedule.placed`). None: go ahead; else the pass's
        outcome — ``lost`` when the claim was lost meanwhile, ``daily_limit`` when another worker's attempt
        at the same customer used up their day first (the contact waits for the next day, as the gate's)."""
        daily = None if contact["purpose"] == "callback" else (rules.daily_attempt_limit, rules.day_start(now))
        try:
            counted = await asyncio.to_thread(self.schedule.placed, contact["id"], token, channel=channel,
                                              address=address, now=now, lease=lease, daily=daily, details=details)
        except DailyLimitReached:
            return await self._wait(contact, token, rules.next_day_open(now), DAILY_LIMIT)
        return None if counted else lost

    async def _wait(self, contact: dict, token: str, until: dt.datetime, reason: str) -> str:
        """Not attempted now (quiet hours, the daily limit, no channel): back in the schedule until ``until``."""
        await asyncio.to_thread(self.schedule.postpone, contact["id"], token, until, reason)
        if reason != NO_CHANNEL:
            await self._event(contact, "contact_skipped", reason=reason, until=until.isoformat(timespec="minutes"))
        return reason

    async def _not_made(self, contact: dict, token: str, reason: str, until: dt.datetime | None = None,
                        details: dict | None = None) -> str:
        """No call or text went out, for a reason on Kefu's side or the channel's load (``reason``): the
        attempt is taken back and tried again after ``CARRIER_PAUSE`` (or at ``until``), whatever the retry
        delays and the daily limit. ``details``, when given, replace the contact's."""
        when = until or self.clock() + CARRIER_PAUSE
        if not await asyncio.to_thread(self.schedule.not_placed, contact["id"], token, due_at=when, result=reason,
                                       details=details):
            return "answered"  # the claim was lost meanwhile
        await self._event(contact, "contact_skipped", reason=reason, until=when.isoformat(timespec="minutes"))
        return reason

    async def _message(self, contact: dict, token: str, rule: ContactRule, rules: ContactRules, channel: str,
                       address: str, now: dt.datetime) -> str:
        # The details as the text says them (an arrears reminder's amount read now): a worker sending it again
        # after this one died sends the same message (found in review: it said the amount owed when planned).
        held = await self._count(contact, token, rules, now, channel=channel, address=address, lease=CLAIM_LEASE,
                                 lost="elsewhere",  # lost: another worker has the contact (and may have sent it)
                                 details=contact["details"])
        if held:
            return held
        return await self._send_text(contact, token, rule, rules, channel, now, attempt=contact["attempts"] + 1)

    async def _send_text(self, contact: dict, token: str, rule: ContactRule, rules: ContactRules, channel: str,
                         now: dt.datetime, *, attempt: int) -> str:
        """Send the text of an attempt already counted (``Schedule.placed``) and finish it. The
        ``client_ref`` names the attempt, so sending it again after a worker died (the gateway may
        have it already) is the same message to the gateway, sent once — and so is the attempt taken back
        when nothing went out (its number is given back with it).

        A failure is judged as a call's is: surely nothing sent (the channel down, Kefu's credentials, its
        rate limit) takes the attempt back; refused for good (a bad number, an unsubscribed follower) ends
        the contact ``failed`` at once, as no retry would reach the customer; any other (a timeout: the
        text may be out) counts, and is tried again after the retry delay."""
        to = text_address(contact, channel)
        text = message_text(rule, contact, rules.opt_out_footer)
        try:
            ref = text_ref(contact, to, attempt)
            message = {"text": text, "kind": contact["purpose"], "client_ref": ref}
            if channel == "wechat":  # the editors' label and field layout, never the purpose's code
                message["template_data"] = rules.wechat_data(contact["purpose"], {**contact_values(contact),
                                                                                  "text": text})
            await self.messengers[channel].send(to, message)
        except NotifyError as exc:
            logger.warning("contacts.message.failed contact=%s channel=%s error=%s", contact["id"], channel, exc)
            if exc.sent_nothing:  # found in review: a gateway outage used up the customers' attempts and day
                return await self._not_made(contact, token, CHANNEL_UNAVAILABLE)
            if not exc.transient:  # found in review: a refused number was sent the text through every delay
                return await self._give_up(contact, token, CHANNEL_REFUSED, channel=channel)
            return await self._retry(contact, token, rules, now, "send_failed",
                                     details={**(contact["details"] or {}), MAYBE_SENT: {"ref": ref, "to": to}})
        await asyncio.to_thread(self.schedule.finish, contact["id"], token, result="sent",
                                details={**(contact["details"] or {}), SENT_REF: ref})
        await self._event(contact, "contact_attempted", channel=channel, result="sent")
        return await self._reported_meanwhile(ref, rules, channel) or "sent"

    async def _reported_meanwhile(self, ref: str, rules: ContactRules, channel: str) -> str | None:
        """The channel's report that the text just recorded as sent did not arrive, when it came before the
        record (WeChat posts it within milliseconds, and the webhook found nothing ``sent`` to apply it to):
        applied now, as the webhook would have (``failed`` or ``retry``); None when none came."""
        status = await self.messengers[channel].reported_not_delivered(ref)
        if not status:
            return None
        from bot.contacts.not_delivered import contact_not_delivered  # it builds on this module

        return await contact_not_delivered(self.repository, lambda: rules, ref, status, self.clock())

    async def _offer(self, contact: dict, token: str) -> str:
        offered = await offer_to_agents(self.queue, contact, self.repository)
        if offered is None:  # its customer is leaving the line they booked it from: on a later pass
            await asyncio.to_thread(self.schedule.release, contact["id"], token)
            return "booking"
        await asyncio.to_thread(self.schedule.finish, contact["id"], token, result=OFFERED if offered else "in_line",
                                status="offered" if offered else "done")
        await self._event(contact, "callback_offered" if offered else "contact_attempted", channel="agent",
                          result=OFFERED if offered else "in_line")
        return OFFERED if offered else "in_line"

    # -- after a call ----------------------------------------------------------------------
    async def _call_over(self, contact: dict, rules: ContactRules, now: dt.datetime) -> str:
        """A placed call's time is up and no answer ended the contact: not answered, try again later.

        A text's attempt is over this way only when its worker died between counting it and hearing
        the gateway's answer: it is sent again as the same attempt (same ``client_ref``), not retried
        as a new text later, which the customer would get twice if the first had gone out. Every worker's
        pass finds the same expired attempts: the one that takes it over finishes it, the others leave it."""
        if not await asyncio.to_thread(self.schedule.take_over, contact["id"], contact["attempt_token"], now,
                                       CLAIM_LEASE):
            return "elsewhere"
        rule = rules.rules.get(contact["rule"])
        if contact["channel"] in self.messengers and contact["channel"] in TEXT_CHANNELS and rule is not None:
            blocked = await asyncio.to_thread(self.gate.blocked, contact)
            if blocked:  # opted out meanwhile (a TD to the first text, had it gone out): nothing more
                await asyncio.to_thread(self.schedule.finish, contact["id"], contact["attempt_token"], result=blocked,
                                        status="blocked")
                await self._event(contact, "contact_skipped", reason=blocked)
                return blocked
            if contact["purpose"] == "arrears" and contact["customer_id"] is not None \
                    and not await asyncio.to_thread(self.gate.owed_now, contact["customer_id"]):
                # Paid while the attempt was left (found in review: Kefu down for the day, the customer
                # who paid at noon was told in the evening they owed it): no reminder, as an attempt's gate.
                await asyncio.to_thread(self.schedule.finish, contact["id"], contact["attempt_token"], result=PAID)
                await self._event(contact, "contact_skipped", reason=PAID)
                return PAID
            if contact["purpose"] != "callback" and rules.in_quiet_hours(now):
                # Found in review: a worker dead at 20:58 had its text sent again at once by the pass at
                # 03:00. It is taken back to the end of quiet hours, when its attempt number gives it the
                # same client_ref again — kept as a text that may have gone out, so that a WeChat message
                # says what it said (found in review: an arrears reminder said the amount owed in the
                # morning, another message to WeChat, which the customer got although the first had reached them).
                to = text_address(contact, contact["channel"])
                maybe_sent = {MAYBE_SENT: {"ref": text_ref(contact, to, contact["attempts"]), "to": to}}
                return await self._not_made(contact, contact["attempt_token"], QUIET_HOURS,
                                            until=rules.quiet_hours_end(now),
                                            details={**(contact["details"] or {}), **maybe_sent})
            return await self._send_text(contact, contact["attempt_token"], rule, rules, contact["channel"], now,
                                         attempt=contact["attempts"])
        details = dict(contact["details"] or {})
        status = details.pop("carrier_status", "")
        if status:  # what the carrier said of the last call, for whoever reads the contact
            details[LAST_CARRIER_STATUS] = status
        result = status.replace("-", "_") if status in NOT_REACHED else "no_answer"
        # The call's final status is this attempt's only: kept, it made the retry's call look over already
        # (its ringing and answer did not hold it open, nor did its own final status come first).
        return await self._retry(contact, contact["attempt_token"], rules, now, result, details=details)

    async def _retry(self, contact: dict, token: str, rules: ContactRules, now: dt.datetime, result: str,
                     details: dict | None = None) -> str:
        done = await asyncio.to_thread(self.schedule.get, contact["id"])
        when = retry_at(rules, done["attempts"] if done else contact["attempts"], now)
        if when is not None:
            if not await asyncio.to_thread(self.schedule.retry_later, contact["id"], token, when, result, details):
                return "answered"  # an answer (or another worker) ended the attempt first
            await self._event(contact, "contact_attempted", result=result, retry_at=when.isoformat(timespec="minutes"))
            return "retry"
        return await self._give_up(contact, token, result)

    async def _give_up(self, contact: dict, token: str, result: str, **event) -> str:
        """The contact ends ``failed`` with ``result``: no attempt will be made any more."""
        if not await asyncio.to_thread(self.schedule.finish, contact["id"], token, result=result, status="failed"):
            return "answered"
        await self._event(contact, "contact_attempted", result=result, final=True, **event)
        return "failed"

    async def _event(self, contact: dict | None, kind: str, **data) -> None:
        await contact_event(self.repository, contact, kind, **data)


def retry_at(rules: ContactRules, attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When a contact not reached by its ``attempts`` attempts is tried again; None: the retries are used up."""
    return now + rules.retry_delays[attempts - 1] if attempts <= len(rules.retry_delays) else None


async def contact_event(repository: Repository, contact: dict | None, kind: str, **data) -> None:
    """The outcome event of a step of ``contact`` (its conversation id is ``contact:<id>``)."""
    if contact is None:
        return
    await record(f"contact:{contact['id']}", kind, channel=data.pop("channel", "") or "",
                 customer=customer_key(customer_id=contact["customer_id"], phone=contact["phone"]),
                 database_url=repository.url, contact_id=contact["id"], purpose=contact["purpose"],
                 rule=contact["rule"], ticket_id=contact["ticket_id"], **data)
