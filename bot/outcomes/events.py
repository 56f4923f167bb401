"""The one shape of an outcome event, and the one function that builds it.

``customer`` links one person across channels: ``customer:<id>`` once the database knows them,
else ``phone:<number>``, ``account:<number>`` or ``openid:<wechat openid>``. ``at`` is taken when
the event happens (UTC), not when it reaches the database, so a write retried later keeps its time.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

EVENT_KINDS = frozenset({
    "contact_started",      # channel; customer if known
    "intent_seen",          # intent, confidence
    "customer_identified",  # customer key(s) learnt mid-conversation
    "selfhelp_sent",        # selfhelp_id
    "selfhelp_resolved",    # selfhelp_id: the customer said it worked
    "selfhelp_failed",      # selfhelp_id: the customer said it did not
    "resolved_by_selfhelp_while_waiting",  # selfhelp_id: "解决了" in the waiting room; left the queue
    "ticket_created",       # ticket_id, kind
    "ticket_chased",        # ticket_id, kind: the same request again while its ticket was open (no new ticket)
    "handoff_requested",    # skill, priority, reason
    "handoff_queued",       # skill, priority; transferred (by an agent), back_in_line (back at the place left)
    "handoff_work_item",    # skill, priority, reason, ticket_id: a person acts on it later (a voice message); nobody waits
    "handoff_claimed",      # answered by an agent: wait_s, agent_id
    "handoff_abandoned",    # wait_s, reason; left_at, removed_at; agent_id, claimed_wait_s (closed by an agent,
                            # customer gone; or the customer left as an agent claimed them, before being told); by
    "handoff_customer_left",
    "handoff_closed",       # disposition, handle_s; reason call_lost, left_at: a call lost after words with the agent
    "handoff_requeued",     # agent_id (who held it), reason (signed_out, supervisor, removed, agent_gone), by: back in its queue
    "callback_booked",
    "voice_message_left",
    "voicemail_routed",     # outcome of a voice message (ticket, self-help, callback, needs_human)
    "csat_asked",
    "csat_given",           # score 1..5
    "csat_skipped",
    "conversation_ended",   # reason
    "nlu_fallback",
    "handoff_pii_revealed",
    "handoff_proof_asked",  # an agent had the bot ask the customer for proof (agent_id, state); the outcome is verification_*
    "recording_played",     # an agent played a recording (kind, recording_id, agent_id; ticket_id for a voice message)
    "contact_details_corrected",  # an agent corrected a customer's contact detail (field, agent_id)
    "customer_media_opened",  # an agent opened a WeChat follower's picture or video (media_id, kind, agent_id)
    "knowledge_sent",       # an agent pushed a knowledge article (article_id, agent_id)
    "knowledge_answered",   # the assistant answered a how-to question from an article (article_id, intent)
    "answer_given",         # the assistant delivered what was asked: topic (bill, plan, ticket_status, resume_after_payment); KPIs: contained
    "ivr_transferred",      # phone: queued for an agent (skill, priority)
    "ivr_nobody_available", # phone: no agent of the skill signed in; offered a callback or a message (skill)
    "ivr_queued_by_assistant",  # phone: the assistant queued the caller during a bot turn (node, position)
    "verification_code_sent",   # a one-time code went to the registered number
    "verification_passed",      # the customer proved who they are (how)
    "verification_failed",      # a wrong code or password (attempts left)
    "ivr_selfhelp_sent",    # phone: a notify node's self-help text was sent (node, selfhelp: the entries it links, ["all"])
    "ivr_voicemail_started",  # phone: the caller reached a voice-message node (node); a message may or may not follow
    "ivr_voicemail_left",   # phone: the caller left a voice message
    "ivr_call_ended",       # phone: the call is over (reason, seconds)
    "voicemail_received",   # voice message from `kefu voicemail` / WeChat voice: a contact on its own
    "contact_scheduled",    # bot/contacts: a follow-up/care/arrears/callback contact entered the schedule
    "contact_attempted",    # one attempt: channel, result (placed, sent, no_answer, failed...)
    "contact_answered",     # the customer's answer (fixed, not_fixed, csat, opt_out, heard), ledger effect
    "contact_opted_out",    # TD, key 9, the assistant or the desk: no more contacts to this address
    "contact_skipped",      # not attempted now: quiet hours, daily limit, opted out, do-not-disturb, open complaint (held)
    "contact_brought_forward",  # an agent asked for a scheduled follow-up now ("call now" on the ledger page)
    "callback_offered",     # a booked callback joined the agents' queue at its time
})


class UnknownEventKind(ValueError):
    """A caller tried to record an event kind the KPIs do not know (a typo would be lost silently)."""


@dataclass(frozen=True)
class OutcomeEvent:
    conversation_id: str
    kind: str
    channel: str = ""
    customer: str = ""
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    at: dt.datetime = field(default_factory=lambda: dt.datetime.utcnow())
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def row(self) -> dict:
        """The event as a row of ``conversation_events``."""
        return {"event_id": self.event_id, "conversation_id": self.conversation_id, "kind": self.kind,
                "channel": self.channel, "customer": self.customer, "data": dict(self.data), "at": self.at}


def outcome_event(conversation_id: str, kind: str, /, *, channel: str = "", customer: str = "",
                  at: dt.datetime | None = None, event_id: str | None = None, **data: Any) -> OutcomeEvent:
    """Build an event, refusing unknown kinds; ``data`` must be JSON-serialisable. ``event_id``: one of the
    event's own when it may be recorded twice (a step finished by the waiting room, bot.handoff.transfer_owed):
    the record stores it once."""
    if kind not in EVENT_KINDS:
        raise UnknownEventKind(kind)
    return OutcomeEvent(conversation_id=conversation_id, kind=kind, channel=channel or "",
                        customer=customer or "", data=MappingProxyType(dict(data)),
                        at=at or dt.datetime.utcnow(), **({"event_id": event_id} if event_id else {}))


def customer_key(*, customer_id: Any = None, phone: str | None = None, account: str | None = None,
                 openid: str | None = None) -> str:
    """The strongest identifier known for a customer, as stored in ``customer``."""
    if customer_id not in (None, ""):
        return f"customer:{customer_id}"
    if phone:
        return f"phone:{phone}"
    if account:
        return f"account:{account}"
    return f"openid:{openid}" if openid else ""
