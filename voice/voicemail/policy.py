"""Where a recognised voice message goes: self-help, a ticket, or a person.

The rules are data (``content/voicemail.yml``, owned by operations); :func:`decide` is a pure
function of those rules, what was recognised and the catalogue, so every branch is testable
without audio, a database or a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.selfhelp import Catalogue, SelfHelpEntry
from voice.errors import VoicemailConfigError
from voice.voicemail.nlu import NluResult

POLICY_FILE = "voicemail.yml"

# Outcomes stored on the voice message.
RECEIVED = "received"  # stored, not routed yet (bot.db.repository.add_voice_message)
SELFHELP_SENT = "selfhelp_sent"
TICKET = "ticket"
CALLBACK = "callback"
NEEDS_HUMAN = "needs_human"
# Ticket kinds whose outcome is "callback": a person listens to the message and calls back.
CALLBACK_KINDS = frozenset({"callback", "voice_message"})

# Why a message went to a person without a trusted intent.
EMPTY_TRANSCRIPT = "empty_transcript"
LOW_ASR_CONFIDENCE = "low_asr_confidence"
LOW_INTENT_CONFIDENCE = "low_intent_confidence"
ASR_UNAVAILABLE = "asr_unavailable"
ASR_FAILED = "asr_failed"
NLU_UNAVAILABLE = "nlu_unavailable"
NOTIFY_FAILED = "notify_failed"  # the reply could not be queued at all
# The caller got no answer: the outbox gave the reply up (its gateway refused it, its hour ran out, or its channel, SMS
# or WeChat, reported it not delivered), or a person dropped it before it went (``kefu outbox drop``).
NOTIFY_UNDELIVERED = "notify_undelivered"
NOTIFY_DROPPED = "notify_dropped"
# The self-help reply was held back, the caller having opted out (``opt_out``) or being on the do-not-disturb list
# (``dnd``): not the gateway's failure, and the agent must not text them either (bot.notify.Withheld).
NOTIFY_WITHHELD = {"opt_out": "notify_withheld_opt_out", "dnd": "notify_withheld_dnd"}
UNCLEAR_REASONS = (EMPTY_TRANSCRIPT, LOW_ASR_CONFIDENCE, LOW_INTENT_CONFIDENCE, ASR_UNAVAILABLE, ASR_FAILED, NLU_UNAVAILABLE,
                   NOTIFY_FAILED, NOTIFY_UNDELIVERED, NOTIFY_DROPPED, *NOTIFY_WITHHELD.values())


def with_a_person(outcome: str) -> bool:
    """Whether a message routed ``outcome`` is a person's to answer: neither waiting to be routed nor left to its
    self-help reply. Its self-help reply, if one is still waiting, is then never sent (bot/outbound/voice_reply.py)."""
    return outcome not in (RECEIVED, SELFHELP_SENT)


@dataclass(frozen=True)
class TicketRule:
    kind: str
    priority: int = 0
    needs_human: bool = False


@dataclass(frozen=True)
class VoicemailPolicy:
    asr_threshold: float
    intent_threshold: float
    vip_min_tier: int
    vip_bonus: int
    selfhelp_intents: frozenset[str]
    selfhelp: TicketRule
    routes: dict[str, TicketRule]
    default: TicketRule
    unclear: TicketRule
    reply_channels: dict[str, str] = field(default_factory=dict)

    def reply_channel(self, channel: str) -> str:
        """The channel a written reply goes out on for a message left on ``channel``."""
        return self.reply_channels.get(channel, channel)


@dataclass(frozen=True)
class Recognition:
    """What the ASR and NLU made of a message; ``failure`` names a stage that gave no answer."""

    transcript: str = ""
    asr_confidence: float = 0.0
    nlu: NluResult | None = None
    failure: str | None = None


@dataclass(frozen=True)
class Decision:
    outcome: str
    kind: str
    priority: int
    needs_human: bool
    reason: str  # the intent it was routed on, or why it went to a person
    selfhelp_entry: SelfHelpEntry | None = None


def decide(policy: VoicemailPolicy, catalogue: Catalogue, recognition: Recognition,
           vip_tier: int = 0) -> Decision:
    unclear = _unclear_reason(policy, recognition)
    if unclear:
        return _ticket(policy.unclear, unclear, vip_tier, policy, force_human=True)
    intent = recognition.nlu.intent
    if intent in policy.selfhelp_intents:
        entry = catalogue.best_match(intent, recognition.transcript, recognition.nlu.entity("fault_code"))
        if entry is not None:
            rule = policy.selfhelp
            return Decision(SELFHELP_SENT, rule.kind, _priority(rule, vip_tier, policy), rule.needs_human,
                            intent, entry)
    return _ticket(policy.routes.get(intent, policy.default), intent, vip_tier, policy)


def unclear_decision(policy: VoicemailPolicy, reason: str, vip_tier: int = 0) -> Decision:
    """Send the message to a person for ``reason`` (e.g. the self-help reply could not be queued)."""
    return _ticket(policy.unclear, reason, vip_tier, policy, force_human=True)


def _unclear_reason(policy: VoicemailPolicy, recognition: Recognition) -> str | None:
    if recognition.failure:
        return recognition.failure
    if not recognition.transcript.strip():
        return EMPTY_TRANSCRIPT
    if recognition.asr_confidence < policy.asr_threshold:
        return LOW_ASR_CONFIDENCE
    if recognition.nlu is None:
        return NLU_UNAVAILABLE
    if not recognition.nlu.intent or recognition.nlu.confidence < policy.intent_threshold:
        return LOW_INTENT_CONFIDENCE
    return None


def _ticket(rule: TicketRule, reason: str, vip_tier: int, policy: VoicemailPolicy,
            force_human: bool = False) -> Decision:
    if force_human:
        outcome = NEEDS_HUMAN
    else:
        outcome = CALLBACK if rule.kind in CALLBACK_KINDS else TICKET
    return Decision(outcome, rule.kind, _priority(rule, vip_tier, policy), rule.needs_human or force_human,
                    reason)


def _priority(rule: TicketRule, vip_tier: int, policy: VoicemailPolicy) -> int:
    return rule.priority + (policy.vip_bonus if vip_tier >= policy.vip_min_tier else 0)


def load_policy(path: Path) -> VoicemailPolicy:
    """Parse ``content/voicemail.yml``; :class:`VoicemailConfigError` says what is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VoicemailConfigError(f"cannot read {path}: {exc}") from exc
    try:
        thresholds, vip = raw["thresholds"], raw.get("vip") or {}
        return VoicemailPolicy(
            asr_threshold=float(thresholds["asr_confidence"]),
            intent_threshold=float(thresholds["intent_confidence"]),
            vip_min_tier=int(vip.get("min_tier", 2)),
            vip_bonus=int(vip.get("bonus", 0)),
            selfhelp_intents=frozenset(str(i) for i in raw.get("selfhelp_intents") or ()),
            selfhelp=_rule(raw["selfhelp"]),
            routes={str(intent): _rule(rule) for intent, rule in (raw.get("routes") or {}).items()},
            default=_rule(raw["default"]),
            unclear=_rule(raw["unclear"]),
            reply_channels={str(k): str(v) for k, v in (raw.get("reply_channels") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VoicemailConfigError(f"{path}: missing or bad setting: {exc!r}") from exc


def _rule(raw: dict) -> TicketRule:
    return TicketRule(kind=str(raw["kind"]), priority=int(raw.get("priority", 0)),
                      needs_human=bool(raw.get("needs_human", False)))
