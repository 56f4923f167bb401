"""Reading a conversation for the agent: the transcript, self-help answers and the summary.

The packet itself (``bot.handoff.packet.HandoffPacket``) is built from these by
``bot.handoff.packet.build_packet``. The one-paragraph summary is filled from the template in
content/handoff.yml when shown, so it carries the current wait.
"""
from __future__ import annotations

from typing import Iterable

from bot.handoff.desk_view import agent_said
from bot.handoff.rules import HandoffRules
from bot.labels import labels, names_any
from bot.repair_faults import fault_names, faults_of, selfhelp_by_fault
from bot.selfhelp import sent_entry_id

SLOTS = ("fault_type", "faults_unfixed", "faults_next", "fault_code", "selfhelp_sent", "selfhelp_failures",
         "last_ticket_id", "customer_name")
ANSWERS = {"affirm": "worked", "deny": "failed", "request_human": "asked_for_human"}
# The customer's answers to self-help (``other``: only unclear turns) and who says a turn: the desk names
# each (``answer_<answer>``, ``who_<who>``) and `kefu validate` names one missing.
SELFHELP_ANSWERS = (*ANSWERS.values(), "other")
SPEAKERS = ("customer", "bot", "agent")


def transcript(events: Iterable[dict]) -> list[dict]:
    """Customer and bot turns in order; voice turns carry their transcript and ``voice: True``."""
    turns = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            metadata = event.get("metadata") or {}
            turns.append({
                "who": "customer", "text": event.get("text") or "", "intent": intent.get("name"),
                "confidence": round(float(intent.get("confidence") or 0), 3), "at": event.get("timestamp"),
                "voice": metadata.get("wechat_msg_type") == "voice" or bool(metadata.get("voice")),
            })
        elif kind == "bot":
            data = event.get("data") or {}
            agent = agent_said(event)
            who = "agent" if agent is not None else "bot"
            text = agent[1] if agent is not None else event.get("text")
            selfhelp_id = sent_entry_id(data)
            if not text and not selfhelp_id:
                continue
            turn = {"who": who, "text": text or "", "at": event.get("timestamp")}
            if selfhelp_id:
                turn["selfhelp_id"] = selfhelp_id
            if agent is not None:
                turn["agent_name"] = agent[0]
            turns.append(turn)
    return turns


def selfhelp_answer(later: list[dict]) -> str | None:
    """The customer's answer to "did it work?" among the turns after an entry, up to the next entry sent.

    The first clear answer (解决了, 没解决, 转人工) counts, not merely the first turn: found by a journey
    tester, "这个我在微信上已经试过了，没用" was not understood, the bot asked again, the customer pressed
    没解决, and the packet still said the customer had not answered. ``other``: only unclear turns.
    """
    said = []
    for turn in later:
        if "selfhelp_id" in turn:
            break
        if turn["who"] == "customer":
            said.append(answer_of(turn))
    return next((answer for answer in said if answer != "other"), "other" if said else None)


def answer_of(turn: dict) -> str:
    """A customer's turn as an answer to "did it work?": by its intent, or, read as none of the answers, by the words
    the assistant takes as 没解决 there (``selfhelp_not_fixed_words`` in content/labels.yml). Found in a live trial:
    "还是没用，给我转人工吧", read as nothing in particular, was taken as a no and queued the customer, and the agent
    read 客户未明确回答."""
    answer = ANSWERS.get(turn.get("intent") or "", "other")
    if answer == "other" and names_any(str(turn.get("text") or "").lower(),
                                       [word.lower() for word in labels().get("selfhelp_not_fixed_words") or ()]):
        return "failed"
    return answer


def selfhelp_outcomes(turns: list[dict], titles: dict[str, str], faults: dict[str, str] | None = None) -> list[dict]:
    """Each self-help entry sent, with the customer's answer to "did it work?" (if any), and the fault it is
    for (``fault_type``) where ``faults`` knows it: the summary names it."""
    outcomes: list[dict] = []
    for index, turn in enumerate(turns):
        if "selfhelp_id" not in turn:
            continue
        answer = selfhelp_answer(turns[index + 1:])
        entry_id = turn["selfhelp_id"]
        outcome = {"id": entry_id, "title": titles.get(entry_id, entry_id), "answer": answer}
        if (faults or {}).get(entry_id):
            outcome["fault_type"] = faults[entry_id]
        outcomes.append(outcome)
    return outcomes


def wait_words(wait_s: float, words: dict[str, str]) -> str:
    """Waits read in minutes ("12分钟"), or "under a minute"; seconds only if no minute word is configured."""
    if "minutes" not in words:
        return f"{int(wait_s)}{words.get('seconds', 's')}"
    if wait_s < 60:
        return words.get("under_a_minute", f"1{words['minutes']}")
    return f"{round(wait_s / 60)}{words['minutes']}"


def summary(packet: dict, rules: HandoffRules, wait_s: float) -> str:
    """The one paragraph for the agent, from content/handoff.yml's ``summary_template``."""
    words = rules.summary_words
    none = words.get("none", "-")
    customer = packet.get("customer") or {}
    slots = packet.get("slots") or {}
    tried = packet.get("selfhelp") or []
    answers = {o.get("answer") for o in tried}
    if not tried:
        outcome = words.get("not_tried", none)
    elif "failed" in answers:
        outcome = words.get("tried_failed", none)
    else:
        outcome = words.get("tried_unknown", none)
    separator = words.get("list_separator", ", ")
    return rules.summary_template.format(
        customer=customer.get("name") or words.get("unknown_customer", none),
        tier=customer.get("vip_tier", 0) if customer else none,
        channel=rules.channel_names.get(packet.get("channel", ""), packet.get("channel", "")),
        skill=rules.skills.get(packet.get("skill", ""), packet.get("skill", "")),
        fault=fault_names(faults_of(slots), words, separator) or none,
        code=slots.get("fault_code") or none,
        selfhelp=selfhelp_by_fault([(o.get("fault_type"), o["title"]) for o in tried], faults_of(slots), words,
                                   separator) or none,
        selfhelp_outcome=outcome,
        tickets=separator.join(t["ticket_id"] for t in packet.get("open_tickets") or []) or none,
        wait=wait_words(wait_s, words),
    )
