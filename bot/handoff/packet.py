"""The handoff packet: everything an agent needs to take over, in one typed shape for every channel.

Who (customer record, the number the channel vouches for, apart from a number a client only
claimed), how (channel), where it goes
(skill, priority) and why (reason), what was said (transcript, intents, slots), what was tried
(every self-help entry sent and the customer's answer, open tickets) and, for a phone call,
what the call flow collected (flow, nodes passed, keyed values). Built only by
:func:`build_packet` and moved on to another skill group only by :func:`transferred`; stored unmasked with the queue entry (or a work item's ticket) and shown
through ``bot.handoff.masking.masked_packet``.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, TypedDict

from bot.handoff.context import SLOTS, selfhelp_outcomes, transcript
from bot.handoff.masking import without_proofs


class FlowCollected(TypedDict, total=False):
    """What an IVR flow learned before the transfer."""

    flow: str
    path: list[str]
    vars: dict[str, str]


class Transfer(TypedDict):
    """One hand-over to another skill group: the next agent reads who sent it, from where, when and why."""

    agent_id: str
    agent_name: str
    from_skill: str
    to_skill: str
    at: float
    note: str


# Why a customer is handed to a person (the packet's ``reason``): actions/handoff.py handoff_reason, the phone's
# flow transfer, a booked callback offered to the agents. The desk names each by ``reason_<reason>`` (content/ui/;
# `kefu validate` names one missing; tests/editor tie this list to the code that gives them).
HANDOFF_REASONS = ("request_human", "vip_direct", "selfhelp_failed", "complaint", "fallback", "flow_transfer", "callback")


class HandoffPacket(TypedDict):
    conversation_id: str
    channel: str
    phone: Optional[str]  # vouched for: the customer's registered number, or a phone caller's own line
    claimed_phone: Optional[str]  # what a client's metadata said, unverified: shown masked, never used
    customer: Optional[dict]
    skill: str
    priority: int
    reason: str
    transcript: list[dict]
    intents: list[dict]
    slots: dict[str, Any]
    selfhelp: list[dict]
    open_tickets: list[dict]
    collected: FlowCollected
    enqueued_at: float
    transfers: list[Transfer]


def build_packet(*, conversation_id: str, channel: str, skill: str, priority: int, reason: str,
                 enqueued_at: float, events: Iterable[dict] = (), slots: Mapping[str, Any] | None = None,
                 customer: dict | None = None, phone: str | None = None, claimed_phone: str | None = None,
                 open_tickets: Iterable[dict] = (),
                 titles: Mapping[str, str] | None = None, collected: FlowCollected | None = None,
                 faults: Mapping[str, str] | None = None) -> HandoffPacket:
    """The packet; ``titles`` and ``faults`` name each self-help entry and the fault it is for, by id."""
    turns = transcript(without_proofs(events))
    slots = slots or {}
    return HandoffPacket(
        conversation_id=conversation_id,
        channel=channel,
        phone=phone or (customer or {}).get("phone"),
        claimed_phone=claimed_phone,
        customer=customer,
        skill=skill,
        priority=int(priority),
        reason=reason,
        transcript=turns,
        intents=[{"intent": t["intent"], "confidence": t["confidence"], "text": t["text"]}
                 for t in turns if t["who"] == "customer" and t.get("intent")],
        slots={name: slots.get(name) for name in SLOTS},
        selfhelp=selfhelp_outcomes(turns, dict(titles or {}), dict(faults or {})),
        open_tickets=ticket_lines(open_tickets),
        collected=FlowCollected(**(collected or {})),
        enqueued_at=enqueued_at,
        transfers=[],
    )


def ticket_lines(open_tickets: Iterable[dict]) -> list[dict]:
    """A packet's open tickets: what the agent reads of each ticket row, with a visit's promised time."""
    return [{"ticket_id": t["ticket_id"], "kind": t["kind"], "status": t["status"], "summary": t.get("summary", ""),
             "visit_time": (t.get("details") or {}).get("visit_time") or None} for t in open_tickets]


def transferred(packet: Mapping[str, Any], *, to_skill: str, agent_id: str, agent_name: str, at: float,
                note: str) -> dict:
    """The packet for ``to_skill``'s agents: the group it is in now, and this hand-over after any earlier ones.

    Found by a tester: the next agent saw the old group (in the summary too) and never the first agent's note.
    """
    transfer = Transfer(agent_id=agent_id, agent_name=agent_name, from_skill=str(packet.get("skill") or ""),
                        to_skill=to_skill, at=at, note=note)
    return {**packet, "skill": to_skill, "transfers": [*(packet.get("transfers") or []), transfer]}
