"""From outcome events to contacts: one contact per customer session, with how it ended.

A conversation id (the Rasa sender id) may hold several contacts: a new one starts at a
``contact_started`` once the previous contact has ended or been idle for ``SESSION_GAP``.
Events are ordered by time, so a few seconds of clock skew between processes only moves an
event within its contact. Customers are linked across channels by any shared key
(``customer:``, ``phone:``, ``account:``, ``openid:``). Contacts Kefu starts itself (bot/contacts/:
the schedule's ``contact:<id>`` records and the automated calls it places) are not customer contacts:
they are left out, so a follow-up call neither counts as volume nor breaks the FCR of the contact
it follows up.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Iterable

from bot.analytics import waits

SESSION_GAP = dt.timedelta(minutes=10)
PHONE_CSAT = re.compile(r"csat_[1-5]")  # ivr_flows/main.yml: the caller pressed N at csat_survey
STARTS = {"contact_started", "voicemail_received"}
OUTBOUND_PREFIX = "contact:"  # the contact schedule's own records (bot/contacts/worker.py)
ENDS = {"conversation_ended", "ivr_call_ended"}
NOT_A_TOPIC = {"greet", "goodbye", "thanks", "affirm", "deny", "inform", "nlu_fallback", "request_human",
               "bot_challenge", "out_of_scope",
               "csat_score", "csat_skip"}
# A contact offered to a person: asked, queued, put through by the phone, or left as a work item (a voice message).
HANDOFF_KINDS = ("handoff_requested", "handoff_queued", "ivr_transferred", "handoff_work_item")
FLOW_FINISHED = {"flow", "bot_done"}  # the phone flow reached its own end (not a hang-up mid-menu)
HOW = ("assistant", "agent", "agent_ticket", "agent_callback", "agent_transfer", "agent_open", "ticket", "callback", "message", "message_abandoned",
       "selfhelp_sent", "removed", "waiting", "unknown", "abandoned", "unserved", "no_request", "no_answer")
# A voice message left (the phone's, or one Kefu received on its own) / a voice-message node reached.
MESSAGE_LEFT = {"ivr_voicemail_left", "voicemail_received", "voice_message_left"}
MESSAGE_STARTED = "ivr_voicemail_started"
# Recorded facts that the assistant served the request (bot/outcomes/events.py).
SERVED = {"answer_given", "knowledge_answered"}
# No request made: out of every rate's denominator (the customer said nothing, or only hello/thanks).
NO_REQUEST = {"no_request", "no_answer"}
# An answered contact the (last) agent closed as 转工单跟进 or 预约回电 was passed on, not resolved
# (bot/handoff/tickets.py DISPOSITIONS); any other close counts as the agent's.
AGENT_PASSED_ON = {"ticket": "agent_ticket", "callback": "agent_callback"}
# An agent answered it and has not closed it (still talking when the report ran, or never closed): not
# resolved, as nobody said so.
AGENT_OPEN = "agent_open"
# An agent transferred it to another group (disposition ``transfer:<group>``, bot/handoff/queue.py) and no
# agent answered it there: passed on and given up in the next queue, not resolved.
TRANSFERRED = "agent_transfer"
# handoff_abandoned reasons that are not abandonment, and what they count as (a supervisor's 移出队列
# is not the customer giving up: it must not move the abandonment rate)
LEFT_QUEUE_FOR = {"callback": "callback", "message": "message", "resolved_by_selfhelp": "assistant",
                  "removed_by_supervisor": "removed",
                  # the phone's hold key for a voice message (ivr_flows `hold.keys`): the node is reached as the
                  # caller leaves the queue, and one who leaves no message is **message abandoned** (MESSAGE_STARTED)
                  "caller_chose_record": "message"}
# Took the self-help guide by text instead of waiting for a person (the phone's peak offer, or 3 on hold): deflected
# to self-help, not abandonment (found in review: counted abandoned, so the rate rose exactly when the peak offer did
# its job). Not contained either: nobody said the guide fixed anything. The fact is the text sent.
SELFHELP_SENT = "selfhelp_sent"
SELFHELP_TEXTED = "ivr_selfhelp_sent"
# Ways out of the queue that count only once a fact is recorded, and what each fact makes them: a caller whose line is
# not proven leaves the queue (hold keys 3 and 1) to key a number first, and one whose text was then not sent, or whose
# callback was then not booked (a hang-up at the number prompt), gave up (found in review: counted a callback, though
# nobody rings them). A callback not booked may go on to a voice message instead (main.yml's number that would not do,
# or the ticket refused): a message chosen, as with the hold's 2.
WAY_OUT_NEEDS = {"caller_chose_notify": {SELFHELP_TEXTED: SELFHELP_SENT},
                 "caller_chose_callback": {"callback_booked": "callback", MESSAGE_STARTED: "message"}}
# Still in the queue when the report ran: queued, and nothing after that ended the wait (found in review: counted
# "abandoned" in the outcomes table, though nobody had given up; the rate already left it out).
WAITING = "waiting"
WAIT_ENDED = waits.WAIT_OVER | {"handoff_claimed"}
# Still queued by the record, but since longer than anyone waits (the queue's ``max_wait_s``, content/handoff.yml, plus
# ``WAIT_MARGIN`` for the waiting room's round and a restart): what ended the wait was never recorded (a process killed
# between the two), and such a contact showed as waiting in every later report. Ended, how unknown: in the handoff
# rate (the customer did ask for a person) and in no other rate's numerator (nothing says it was served, answered or
# given up).
UNKNOWN = "unknown"
WAIT_MARGIN = dt.timedelta(minutes=10)


def waits_over_before(now: dt.datetime, max_wait_s: float) -> dt.datetime | None:
    """The time (naive UTC, as the events') before which a wait still open at ``now`` (naive UTC, or aware) has
    ended, how unknown; None when the queue lets customers wait for ever (``max_wait_s`` 0)."""
    if max_wait_s <= 0:
        return None
    utc = now.astimezone(dt.timezone.utc).replace(tzinfo=None) if now.tzinfo else now
    return utc - dt.timedelta(seconds=max_wait_s) - WAIT_MARGIN


@dataclass(frozen=True)
class Contact:
    conversation_id: str
    started_at: dt.datetime  # naive UTC
    channel: str
    customers: frozenset
    intent: str
    skill: str
    how: str
    handoff_requested: bool
    answered_wait_s: float | None  # answered by an agent after this wait (from asking for a person, bot/analytics/waits.py)
    abandoned_wait_s: float | None  # asked for a person and left unanswered after this wait (queued or not)
    handle_s: float | None
    csat: int | None
    selfhelp: tuple = ()  # (entry id, "resolved" | "failed" | "no_answer")
    agent: str = ""  # the agent who closed it at the desk (the last one, after a transfer); "" if none
    events: tuple = field(default=(), repr=False, compare=False)

    @property
    def answered(self) -> bool:
        return self.answered_wait_s is not None

    @property
    def abandoned_in_queue(self) -> bool:
        return self.abandoned_wait_s is not None and not self.answered


def split_contacts(events: Iterable[dict], waits_over: dt.datetime | None = None) -> list[Contact]:
    """Group events (rows of ``conversation_events``) into contacts, oldest first; a contact still queued since
    before ``waits_over`` (``waits_over_before``) ended, how unknown, rather than waiting."""
    by_conversation: dict[str, list[list[dict]]] = {}
    for event in sorted(events, key=lambda e: (e["at"], e.get("id") or 0)):
        groups = by_conversation.setdefault(event["conversation_id"], [])
        if not groups or _starts_new(groups[-1], event):
            groups.append([])
        groups[-1].append(event)
    contacts = [_contact(group, waits_over) for groups in by_conversation.values() for group in groups
                if not _outbound(group)]
    return sorted(contacts, key=lambda c: (c.started_at, c.conversation_id))


def _outbound(events: list[dict]) -> bool:
    return events[0]["conversation_id"].startswith(OUTBOUND_PREFIX) or any(
        e["kind"] == "contact_started" and (e.get("data") or {}).get("direction") == "outbound" for e in events)


def _starts_new(current: list[dict], event: dict) -> bool:
    if event["kind"] not in STARTS or not any(e["kind"] in STARTS for e in current):
        return False
    ended = any(e["kind"] in ENDS for e in current)
    return ended or event["at"] - current[-1]["at"] >= SESSION_GAP


def _contact(recorded: list[dict], waits_over: dt.datetime | None = None) -> Contact:
    events = waits.one_wait(recorded)
    kinds = [e["kind"] for e in events]
    data = [(e["kind"], e.get("data") or {}) for e in events]
    channel = next((e["channel"] for e in events if e.get("channel")), "")
    customers = frozenset(e["customer"] for e in events if e.get("customer"))
    intent = next((d.get("intent") for k, d in data if k == "intent_seen" and d.get("intent") not in NOT_A_TOPIC), "")
    skill = next((d.get("skill") for k, d in data if k in HANDOFF_KINDS and d.get("skill")), "")
    answered, claim = _answered_wait(data)
    left = [d for k, d in data if k == "handoff_abandoned"]
    abandoned = _abandoned_wait(left, kinds)
    handle = [_seconds(d.get("handle_s")) for k, d in data if k == "handoff_closed" and d.get("handle_s") is not None]
    closers = [d.get("agent_id") for k, d in data if k == "handoff_closed" and d.get("agent_id")]
    scores = [d.get("score") for k, d in data if k == "csat_given" and d.get("score") in (1, 2, 3, 4, 5)]
    scores += [int(node[-1]) for k, d in data if k == "ivr_call_ended" for node in d.get("path") or []
               if PHONE_CSAT.fullmatch(str(node))]
    selfhelp: dict[str, str] = {}
    for kind, d in data:
        entry = d.get("selfhelp_id")
        if kind == "selfhelp_sent" and entry:
            selfhelp.setdefault(entry, "no_answer")
        elif kind in ("selfhelp_resolved", "selfhelp_failed") and entry:
            selfhelp[entry] = kind.removeprefix("selfhelp_")
    how = _how(kinds, data, answered, abandoned, left, selfhelp)
    if how == WAITING and waits_over is not None and _last_queued_at(events) < waits_over:
        how = UNKNOWN
    return Contact(
        conversation_id=recorded[0]["conversation_id"], started_at=recorded[0]["at"], channel=channel,
        customers=customers, intent=intent, skill=skill, how=how,
        handoff_requested=any(k in HANDOFF_KINDS for k in kinds),
        answered_wait_s=waits.answered_wait(events, answered, claim),
        abandoned_wait_s=waits.abandoned_wait(events, abandoned, how == "abandoned"),
        handle_s=sum(handle) if handle else None,
        csat=scores[-1] if scores else None, selfhelp=tuple(selfhelp.items()), agent=closers[-1] if closers else "",
        events=tuple(recorded))


def _how(kinds: list[str], data: list, answered, abandoned, left: list[dict], selfhelp: dict) -> str:
    """How the contact ended; the first matching rule wins (README, "How each KPI is defined").

    "assistant" (contained) needs a recorded fact that the request was served: a self-help the
    customer confirmed fixed, an answer delivered (``answer_given``, ``knowledge_answered``), or a
    phone menu flow played to its end with no request left unanswered. Speaking is not enough: a
    complaint left at the identity question was counted contained (found by a tester)."""
    if answered is not None:
        last_kind, last = next(((k, d) for k, d in reversed(data) if k in ("handoff_claimed", "handoff_closed")), (None, {}))
        if str(last.get("disposition") or "").startswith("transfer"):
            return TRANSFERRED  # nobody took it after the transfer (found in review: counted resolved)
        if last_kind != "handoff_closed":
            return AGENT_OPEN  # found in review: counted resolved by the agent though nobody said so
        return AGENT_PASSED_ON.get(last.get("disposition"), "agent")
    reasons = {_way_out(d, kinds) for d in left}
    ticket_kinds = {d.get("kind") for k, d in data if k == "ticket_created"}
    if "callback_booked" in kinds or "callback" in reasons or "callback" in ticket_kinds:
        return "callback"
    if MESSAGE_LEFT & set(kinds) or "voice_message" in ticket_kinds:
        return "message"
    if MESSAGE_STARTED in kinds:
        # Reached the voice-message node (pressed 4, or chose a message at the peak offer or on hold) and
        # left none: a request given up, not "no answer" and not contained (found by the head-of-operations
        # tester: counted 无应答 and out of every rate).
        return "message_abandoned"
    if "message" in reasons:
        return "message"
    if "assistant" in reasons:
        return "assistant"  # self-help fixed it while the customer waited for a person
    if "removed" in reasons:
        return "removed"  # a supervisor took the request out of the queue
    if _still_queued(kinds):
        return WAITING
    if _selfhelp_instead_of_waiting(kinds):
        return SELFHELP_SENT  # at the peak offer (never queued) or on hold: the guide texted, no wait given up
    if abandoned is not None:
        return "abandoned"
    if "ticket_created" in kinds or "ticket_chased" in kinds:
        return "ticket"
    if any(k in HANDOFF_KINDS for k in kinds):
        return "abandoned"  # asked for a person (on the phone: pressed 0) and left before an agent answered
    if SERVED & set(kinds) or (selfhelp and list(selfhelp.values())[-1] == "resolved"):
        return "assistant"
    asked = _asked_something(kinds, data, selfhelp)
    served_by_menu = any(k == "ivr_call_ended" and d.get("reason") in FLOW_FINISHED for k, d in data)
    if asked:
        return "unserved"  # a request the assistant did not serve: left mid-flow, or self-help did not work
    if served_by_menu:
        return "assistant"  # the phone menu played to its own end (information the caller keyed for)
    said = "intent_seen" in kinds or "nlu_fallback" in kinds
    return "no_request" if said else "no_answer"


def _asked_something(kinds: list[str], data: list, selfhelp: dict) -> bool:
    """Whether the customer made a request: a topic intent, a self-help, a misunderstood message, an
    identity check (asked only when a request needs it)."""
    topics = any(k == "intent_seen" and d.get("intent") not in NOT_A_TOPIC for k, d in data)
    checked = {"verification_code_sent", "verification_passed", "verification_failed", "nlu_fallback"} & set(kinds)
    return bool(topics or selfhelp or checked)


def _answered_wait(data: list) -> tuple[float | None, int | None]:
    """The wait of the first claim that reached the customer and its index, or (None, None). A claim the
    agent closed with the customer gone before any exchange (a ``handoff_abandoned`` naming the agent,
    bot/handoff/unanswered.py) answered nobody: found by a tester, such empty chats counted as answered
    and resolved."""
    wait, index = None, None
    for n, (kind, d) in enumerate(data):
        if kind == "handoff_claimed":
            if wait is not None:
                return wait, index
            wait, index = _seconds(d.get("wait_s")), n
        elif kind == "handoff_abandoned" and d.get("agent_id"):
            wait, index = None, None
    return wait, index


def _abandoned_wait(left: list[dict], kinds: list[str]) -> float | None:
    """The wait of a customer who gave up, or None. Only what came before a chosen way out counts: a
    phone caller who booked a callback on hold is taken off the queue again when the call ends
    (``call_flow``), and that is not giving up (found by a tester: the wallboard showed 56 %, not 36 %)."""
    for d in left:
        if _way_out(d, kinds) is not None:
            return None
        return _seconds(d.get("wait_s"))
    return None


def _way_out(left: dict, kinds: list[str]) -> str | None:
    """What leaving the queue (a ``handoff_abandoned``) counts as, or None when it is abandonment: its reason's
    outcome (``LEFT_QUEUE_FOR``), or that of the first fact it needs (``WAY_OUT_NEEDS``) that is recorded."""
    reason = left.get("reason")
    if reason in WAY_OUT_NEEDS:
        return next((outcome for fact, outcome in WAY_OUT_NEEDS[reason].items() if fact in kinds), None)
    return LEFT_QUEUE_FOR.get(reason)


def _still_queued(kinds: list[str]) -> bool:
    """Queued, and neither answered, nor gone from the queue, nor ended since."""
    queued = [n for n, kind in enumerate(kinds) if kind == "handoff_queued"]
    return bool(queued) and not any(kind in WAIT_ENDED for kind in kinds[queued[-1]:])


def _last_queued_at(events: list[dict]) -> dt.datetime:
    """When the contact last joined the queue (its wait runs from there, as the waiting room times it)."""
    return max(e["at"] for e in events if e["kind"] == "handoff_queued")


def _selfhelp_instead_of_waiting(kinds: list[str]) -> bool:
    """The self-help guide texted after the contact's last request for a person (or queue entry)."""
    asked = [n for n, kind in enumerate(kinds) if kind in HANDOFF_KINDS]
    texted = [n for n, kind in enumerate(kinds) if kind == SELFHELP_TEXTED]
    return bool(asked and texted and texted[-1] > asked[-1])


def _seconds(value) -> float | None:
    """Wait and handle times; a negative value (clock skew between processes) counts as zero."""
    if value is None:
        return None
    return max(0.0, float(value))


def link_customers(contacts: list[Contact]) -> dict[str, str]:
    """Map every customer key to one representative key (keys met in one contact are one person)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for contact in contacts:
        keys = sorted(contact.customers)
        for key in keys:
            find(key)
        for other in keys[1:]:
            parent[find(other)] = find(keys[0])
    return {key: find(key) for key in parent}


def person_of(contact: Contact, people: dict[str, str]) -> str:
    """The linked customer of a contact, or "" when nobody is known."""
    keys = sorted(contact.customers)
    return people.get(keys[0], keys[0]) if keys else ""
