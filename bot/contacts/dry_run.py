"""`kefu contacts plan`: what the worker's next pass would schedule, and what would then become of
each contact — made when, by which channel, or not made and why — written nowhere.

An operator reads it before going live on imported data, so it asks the worker's own question
(:meth:`ContactGate.decide`) at each contact's due time, in the worker's order (due time, then
id): a contact due in quiet hours is looked at again when they end, one past the daily limit the
next morning. Against that limit count, as in the worker, the attempts already made today (the
worker's own count, read), the calls and texts of contacts already in the schedule for the same
customers — retries after no answer among them — and the list's earlier contacts. Opt-outs,
do-not-disturb and open complaints are taken as they stand now; retries the list's own contacts
may need are not foreseen.
"""
from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.analytics.config import local_time
from bot.contacts.decision import (BLOCK, DAILY_LIMIT, DEMO_CUSTOMER, DROP, EXPIRE, FOLLOWED_UP, HOLD, NO_CHANNEL, PAID,
                                   QUIET_HOURS, REOPENED, SEND, WAIT, ContactGate, Decision)
from bot.contacts.planner import Planner
from bot.contacts.rules import ContactRules
from bot.contacts.schedule import Schedule


@dataclass(frozen=True)
class Foreseen:
    """A contact a pass would schedule (as the schedule would keep it) and the worker's last word on
    it: ``SEND`` at ``at``, ``BLOCK``/``HOLD`` at ``at``, or ``WAIT`` (no channel reaches them)."""

    contact: dict
    decision: Decision
    at: dt.datetime
    waited_for: tuple[str, ...] = ()  # what it waited for first, in turn: quiet_hours, daily_limit


@dataclass(frozen=True)
class Plan:
    """The contacts a pass would schedule, in the planner's order, and what of today's daily limit
    of their customers (by the addresses they would be reached at) is taken already."""

    foreseen: list[Foreseen]
    daily_limit: int
    made_today: int       # attempts made today (in the rules' zone), as the worker counts them
    scheduled_today: int  # calls and texts of contacts already scheduled the worker would make today


def foresee(planner: Planner, gate: ContactGate, rules: ContactRules, now: dt.datetime) -> Plan:
    """Each contact ``planner`` would add now, with what the worker would do."""
    new = planner.preview(now)
    schedule = Schedule(gate.repository)
    scheduled = schedule.still_to_make({c["phone"] for c in new}, {c["openid"] for c in new})
    contacts = scheduled + new  # in id order: the pass adds its contacts after every scheduled one
    new_ones = range(len(scheduled), len(contacts))
    undecided = len(new_ones)
    tomorrow = rules.day_start(rules.next_day_open(now))
    due = [(max(contact["due_at"], now), contact["due_at"], index) for index, contact in enumerate(contacts)]
    heapq.heapify(due)  # the worker takes due contacts by due time, then by id
    waited: dict[int, list[str]] = {}
    counted: list[tuple[str, dt.datetime]] = []
    found: dict[int, Foreseen] = {}
    while due and (undecided or due[0][0] < tomorrow):  # until the new ones are decided, and all of today
        at, _, index = heapq.heappop(due)
        decision = gate.decide(contacts[index], rules, at, planned=counted)
        if decision.action == WAIT and decision.reason != NO_CHANNEL:
            waited.setdefault(index, []).append(decision.reason)
            heapq.heappush(due, (decision.until, decision.until, index))
            continue
        if decision.counted:
            counted.append((decision.address, at))
        found[index] = Foreseen(contacts[index], decision, at, tuple(waited.get(index, ())))
        undecided -= index in new_ones
    addresses = {found[index].decision.address for index in new_ones} - {""}
    return Plan(
        [found[index] for index in new_ones], rules.daily_attempt_limit,
        made_today=sum(schedule.attempts_since(address, rules.day_start(now)) for address in sorted(addresses)),
        scheduled_today=sum(1 for index, item in found.items() if index not in new_ones and item.decision.counted
                            and item.decision.address in addresses and item.at < tomorrow))


# -- what the operator reads (English: an operator's tool) ---------------------------------------
MADE_BY = {"phone": "call", "sms": "text (SMS)", "wechat": "WeChat message", "agent": "offer to agents"}
WAITED = {QUIET_HOURS: "after the quiet hours", DAILY_LIMIT: "a later day: daily limit reached"}
NOT_MADE = {"opt_out": "opted out", "dnd": "do-not-disturb", DEMO_CUSTOMER: "withheld demo customer's number",
            FOLLOWED_UP: "its ticket was followed up already", REOPENED: "its repair was reopened",
            PAID: "its customer owes nothing any more"}
SHOWN_DETAILS = ("amount", "ticket_kind", "fault")


def outcome(foreseen: Foreseen) -> str:
    """What becomes of the contact, in a few words (the summary counts these)."""
    decision = foreseen.decision
    if decision.action == SEND:
        return f"made, {WAITED[foreseen.waited_for[-1]]}" if foreseen.waited_for else "made when due"
    if decision.action in (BLOCK, DROP):
        return f"skipped: {NOT_MADE.get(decision.reason, decision.reason)}"
    if decision.action == HOLD:
        return "held: open complaint"
    if decision.action == EXPIRE:
        missed = "no channel reached them" if decision.reason == NO_CHANNEL else "not made"
        return f"failed: {missed} within late_limit_hours of being due"
    return "waiting: no channel reaches them"


def what_happens(foreseen: Foreseen, zone: ZoneInfo) -> str:
    decision = foreseen.decision
    if decision.action == SEND:
        waited = "".join(f", {WAITED[reason]}" for reason in dict.fromkeys(foreseen.waited_for))
        return f"{MADE_BY[decision.channel]} at {local_time(foreseen.at, zone)}{waited}"
    if decision.action == HOLD:
        return f"held: open complaint {decision.complaint['ticket_id']}, left to its handler"
    if decision.action == WAIT:
        return "waiting: no channel this deployment has reaches them (looked at again hourly)"
    return outcome(foreseen)


def plan_lines(plan: Plan, zone: ZoneInfo) -> list[str]:
    """The table `kefu contacts plan` prints, soonest due first, and the summary under it."""
    foreseen = plan.foreseen
    lines = [f"{'rule':<18} {'purpose':<9} {'customer':>8} {f'due ({zone.key})':<16} {'ticket':<9} "
             f"{'details':<18} what the worker would do"]
    for item in sorted(foreseen, key=lambda f: (f.contact["due_at"], f.contact["rule"])):
        contact = item.contact
        details = " ".join(f"{k}={v}" for k, v in sorted(contact["details"].items()) if k in SHOWN_DETAILS)
        customer = contact["customer_id"] if contact["customer_id"] is not None else "-"
        lines.append(f"{contact['rule']:<18} {contact['purpose']:<9} {customer:>8} "
                     f"{local_time(contact['due_at'], zone):<16} {contact['ticket_id'] or '-':<9} "
                     f"{details or '-':<18} {what_happens(item, zone)}")
    by_rule = _counted(item.contact["rule"] for item in foreseen)
    by_outcome = _counted(outcome(item) for item in foreseen)
    lines.append(f"{len(foreseen)} contact(s) would be scheduled"
                 + (f" ({', '.join(f'{n} {r}' for r, n in by_rule.items())})" if by_rule else "")
                 + "; nothing was written.")
    lines += [f"  {n} {what}" for what, n in by_outcome.items()]
    lines.append(f"Daily attempt limit {plan.daily_limit} a customer: {plan.made_today} attempt(s) already made today "
                 f"to these customers, {plan.scheduled_today} more today by contacts already scheduled "
                 f"(retries included).")
    lines.append("Opt-outs, do-not-disturb and open complaints are taken as they stand now.")
    return lines


def _counted(names) -> dict[str, int]:
    return dict(sorted(Counter(names).items()))
