"""`kefu contacts plan`: what the worker's next pass would schedule, and what would then become of
each contact — made when, by which channel, or not made and why — written nowhere.

An operator reads it before going live on imported data, so it asks the worker's own question
(:meth:`ContactGate.decide`) at each contact's due time, in the worker's order: a contact due in
quiet hours is looked at again when they end, one past the daily limit the next morning, and the
earlier contacts of the list count against that limit as the worker's attempts would. Opt-outs,
do-not-disturb and open complaints are taken as they stand now.
"""
from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.analytics.config import local_time
from bot.contacts.decision import (BLOCK, DAILY_LIMIT, DEMO_CUSTOMER, HOLD, NO_CHANNEL, QUIET_HOURS, SEND, WAIT,
                                   ContactGate, Decision)
from bot.contacts.planner import Planner
from bot.contacts.rules import ContactRules


@dataclass(frozen=True)
class Foreseen:
    """A contact a pass would schedule (as the schedule would keep it) and the worker's last word on
    it: ``SEND`` at ``at``, ``BLOCK``/``HOLD`` at ``at``, or ``WAIT`` (no channel reaches them)."""

    contact: dict
    decision: Decision
    at: dt.datetime
    waited_for: tuple[str, ...] = ()  # what it waited for first, in turn: quiet_hours, daily_limit


def foresee(planner: Planner, gate: ContactGate, rules: ContactRules, now: dt.datetime) -> list[Foreseen]:
    """Each contact ``planner`` would add now, in the planner's order, with what the worker would do."""
    contacts = planner.preview(now)
    due = [(max(contact["due_at"], now), index) for index, contact in enumerate(contacts)]
    heapq.heapify(due)  # the worker takes due contacts by due time, then by id (the planner's order)
    waited: dict[int, list[str]] = {}
    sent: list[tuple[str, dt.datetime]] = []
    found: dict[int, Foreseen] = {}
    while due:
        at, index = heapq.heappop(due)
        decision = gate.decide(contacts[index], rules, at, planned=sent)
        if decision.action == WAIT and decision.reason != NO_CHANNEL:
            waited.setdefault(index, []).append(decision.reason)
            heapq.heappush(due, (decision.until, index))
            continue
        if decision.action == SEND:
            sent.append((decision.address, at))
        found[index] = Foreseen(contacts[index], decision, at, tuple(waited.get(index, ())))
    return [found[index] for index in range(len(contacts))]


# -- what the operator reads (English: an operator's tool) ---------------------------------------
MADE_BY = {"phone": "call", "sms": "text (SMS)", "wechat": "WeChat message", "agent": "offer to agents"}
WAITED = {QUIET_HOURS: "after the quiet hours", DAILY_LIMIT: "a later day: daily limit reached"}
NOT_MADE = {"opt_out": "opted out", "dnd": "do-not-disturb", DEMO_CUSTOMER: "withheld demo customer's number"}
SHOWN_DETAILS = ("amount", "ticket_kind", "fault")


def outcome(foreseen: Foreseen) -> str:
    """What becomes of the contact, in a few words (the summary counts these)."""
    decision = foreseen.decision
    if decision.action == SEND:
        return f"made, {WAITED[foreseen.waited_for[-1]]}" if foreseen.waited_for else "made when due"
    if decision.action == BLOCK:
        return f"skipped: {NOT_MADE.get(decision.reason, decision.reason)}"
    if decision.action == HOLD:
        return "held: open complaint"
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


def plan_lines(foreseen: list[Foreseen], zone: ZoneInfo) -> list[str]:
    """The table `kefu contacts plan` prints, soonest due first, and the summary under it."""
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
    lines.append("Opt-outs, do-not-disturb and open complaints are taken as they stand now.")
    return lines


def _counted(names) -> dict[str, int]:
    return dict(sorted(Counter(names).items()))
