"""Personal numbers on the agent desk and in logs: phone, account and ID numbers show their last
4 digits only. This is the one place a packet is masked.

Agents see masked values by default and open one value with the desk's explicit reveal call,
which is recorded (``handoff_pii_revealed``) with the agent and the field.
"""
from __future__ import annotations

import copy
import re
from typing import Iterable, Iterator

from bot import chinese_numerals

# Personal numbers only: 10+ digits (mobile 11, account 10, ID card 17 + check char, bank cards, a
# landline with its area code), unbroken or in groups as customers and phone ASR write them
# ("138 0000 0003", "+86-138-0000-0004", "1101 0119 9001 0112 34"); digits run on across groups, so a
# number split anywhere is masked whole. Shorter numbers — a default password, a code, an amount, a
# date — are what the agent needs to read. Numbers glued to letters (ticket ids like TK000123) stay
# readable, and a short group before ":" is a time, not part of a number ("2024-11-30 10:00").
GROUP_SEPARATOR = r"[ \u3000.\-－]"  # one space, dot or dash between groups
NUMBER = re.compile(rf"(?<![A-Za-z0-9])\d+(?:{GROUP_SEPARATOR}\d+)*(?:{GROUP_SEPARATOR}?[Xx])?"
                    rf"(?![A-Za-z0-9])(?!(?<!\d{{3}}):)")
DIGIT = re.compile(r"[0-9Xx]")
LAST_FOUR = re.compile(r"(?:[0-9Xx][^0-9Xx]*){1,4}$")  # from the 4th-last digit on, separators kept
PERSONAL_DIGITS = 10
REVEALABLE = ("phone", "account_number", "transcript", "collected", "callback_phone")
# A one-time code or service password typed when Kefu asked for proof (slot ``awaiting``).
AWAITING_PROOF = "verification_code"
PROOF = re.compile(r"(?<!\d)\d{6}(?!\d)")
PROOF_SHOWN = "******"
# ...and one the customer volunteers in a sentence, asked or not ("验证码是861005", "密码：123456").
PROOF_WORDS = r"(?:验证码|校验码|动态码|短信码|密码)"
# Not a date, an amount or a count after the word ("密码2024年改过", "验证码60秒就过期").
NAMED_PROOF = re.compile(rf"({PROOF_WORDS}\s*(?:是|为)?\s*[:：]?\s*)\d{{4,8}}(?![\d年月日号点时分秒元块次位个天])")
# An agent's message that mentions one ("请回复您的6位服务密码"): only a reply that is nothing but the six
# digits is taken as the secret (an agent's words set no ``awaiting``, and nothing checks the reply, so
# an order number or a date in a sentence after "密码不要告诉别人" stays readable). A reply of six digits alone
# to the assistant, which never asks for six digits but a code or a password, is one too (found trying the
# chat: the password typed unasked after a repair was filed was stored as typed).
ASKS_FOR_PROOF = re.compile(PROOF_WORDS)
BARE_PROOF = re.compile(r"\s*(\d{6})\s*[。.!！~～]?\s*")
RESETS = ("session_started", "restart", "reset_slots")  # events after which nothing is awaited


def mask_number(value: str) -> str:
    value = str(value or "")
    last_four = LAST_FOUR.search(value)
    cut = last_four.start() if last_four else len(value)
    return DIGIT.sub("*", value[:cut]) + value[cut:]


def mask_phone(phone: str) -> str:
    """A phone number as the customer is told it (the number a code or a callback goes to): 139****5678."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def _masked(match: re.Match) -> str:
    number = match.group(0)
    return mask_number(number) if len(DIGIT.findall(number)) >= PERSONAL_DIGITS else number


def mask_text(text: str) -> str:
    return chinese_numerals.mask_numbers(NUMBER.sub(_masked, text or ""))


def proof_secrets(text: str, awaiting: object = None, asked: bool | None = None) -> set[str]:
    """The codes or passwords in a customer's message, never to be shown or stored.

    One given by name ("密码是135790") anywhere; when Kefu was waiting for proof (``awaiting``), each
    6-digit number, as the assistant checks each (``actions.identity``); and a reply that is only the six
    digits, unless the message just before was an agent's asking for something else (``asked`` False, as
    :func:`asks_for_proof` tells: an order number stays readable). The one rule for the desk and packet
    (:func:`without_proofs`) and the tracker store (``bot.security.secret_answers``).
    """
    text = text or ""
    found = {match.group(0)[len(match.group(1)):] for match in NAMED_PROOF.finditer(text)}
    if awaiting == AWAITING_PROOF:
        found.update(PROOF.findall(text))
    elif asked is not False and (bare := BARE_PROOF.fullmatch(text)):
        found.add(bare.group(1))
    return found


def is_bare_proof(text: str) -> bool:
    """Whether a message is six digits and nothing else: a code or a password, to the assistant."""
    return BARE_PROOF.fullmatch(text or "") is not None


def asks_for_proof(event: dict) -> bool | None:
    """Whether a bot event is an agent's message asking for a code or password (True), an agent's asking for
    anything else (False), or no agent's (None: the assistant's own proof prompts set ``awaiting`` instead).
    The web chat's agent messages carry the words in ``custom``, other channels' in the metadata the desk
    adds (``bot.handoff.desk_view.agent_said``)."""
    if event.get("event") != "bot":
        return None
    custom = (event.get("data") or {}).get("custom") or {}
    agent = (event.get("metadata") or {}).get("agent")
    from_agent = custom.get("kind") == "agent_message" or isinstance(agent, dict)
    words = str(custom.get("text") or "") if custom.get("kind") == "agent_message" else ""
    words += str(agent.get("text") or "") if isinstance(agent, dict) else ""
    return bool(ASKS_FOR_PROOF.search(words)) if from_agent else None


def blank_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (as a whole number) shown as ``******``."""
    secrets = set(secrets)
    return secret_pattern(secrets).sub(PROOF_SHOWN, text) if secrets else text


def secret_pattern(secrets: set[str]) -> re.Pattern:
    """Each of ``secrets`` as a whole number (longest first)."""
    return re.compile(r"(?<!\d)(?:" + "|".join(map(re.escape, sorted(secrets, key=len, reverse=True))) + r")(?!\d)")


def _given_secrets(events: Iterable[dict]) -> Iterator[tuple[dict, set[str]]]:
    """Each event with the codes or passwords its customer's message gives (none for other events)."""
    awaiting, asked = None, None
    for event in events:
        secrets: set[str] = set()
        if event.get("event") == "slot" and event.get("name") == "awaiting":
            awaiting = event.get("value")
        elif event.get("event") in RESETS:  # as the tracker store reads it (bot.security.secret_answers)
            awaiting, asked = None, None
        elif event.get("event") == "bot":
            asked = asks_for_proof(event)
        elif event.get("event") == "user":
            secrets = proof_secrets(event.get("text") or "", awaiting, asked)
            asked = None
        yield event, secrets


def without_proofs(events: Iterable[dict]) -> list[dict]:
    """The events with every code or password the customer gave as proof blanked out.

    Unlike a phone number, a secret is never the agent's to read, not even by an explicit reveal,
    so it is dropped before a packet or a desk view is made from the conversation.
    """
    return [{**event, "text": blank_secrets(event.get("text") or "", secrets)} if secrets else event
            for event, secrets in _given_secrets(events)]


def tracker_without_proofs(state: dict) -> dict:
    """A tracker's state (``Tracker.current_state()``) with every code or password the customer gave
    blanked wherever it is (texts, parse data, entities, a slot filled from it), as the tracker store
    writes a conversation: for a copy kept elsewhere (``actions.kept_requests``). The conversation's id
    stays as it is."""
    secrets = set().union(*(found for _, found in _given_secrets(state.get("events") or [])))
    if not secrets:
        return state
    pattern = secret_pattern(secrets)
    return {**state, **{key: blanked_everywhere(state[key], pattern)
                        for key in ("events", "latest_message", "slots") if key in state}}


def blanked_everywhere(value: object, pattern: re.Pattern) -> object:
    """``value`` (text, or dicts and lists of them, as events and slots hold) with ``pattern`` blanked."""
    if isinstance(value, str):
        return pattern.sub(PROOF_SHOWN, value)
    if isinstance(value, dict):
        return {key: blanked_everywhere(item, pattern) for key, item in value.items()}
    if isinstance(value, list):
        return [blanked_everywhere(item, pattern) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and pattern.fullmatch(str(value)):
        return PROOF_SHOWN  # a number an extractor made of the answer
    return value


def masked_packet(packet: dict) -> dict:
    """A copy of a handoff packet safe to show: every number the customer gave is masked."""
    shown = copy.deepcopy(packet)
    customer = shown.get("customer") or {}
    for name in ("phone", "account_number"):
        if customer.get(name):
            customer[name] = mask_number(customer[name])
    for name in ("phone", "claimed_phone"):
        if shown.get(name):
            shown[name] = mask_number(shown[name])
    callback = shown.get("callback") or {}  # a booked callback's number to ring (bot/contacts/offer.py)
    if callback.get("phone"):
        callback["phone"] = mask_number(callback["phone"])
    for turn in shown.get("transcript") or []:
        turn["text"] = mask_text(turn.get("text", ""))
    for item in shown.get("intents") or []:
        item["text"] = mask_text(item.get("text", ""))
    collected = shown.get("collected") or {}
    if isinstance(collected.get("vars"), dict):
        collected["vars"] = {name: mask_text(str(value)) for name, value in collected["vars"].items()}
    for transfer in shown.get("transfers") or []:
        transfer["note"] = mask_text(transfer.get("note", ""))
    for ticket in shown.get("open_tickets") or []:  # a summary is the customer's words ("客户投诉：…")
        ticket["summary"] = mask_text(ticket.get("summary", ""))
    shown["summary"] = mask_text(shown.get("summary", ""))
    return shown


def for_log(packet: dict) -> str:
    """The packet as one log fragment: routing facts and the masked number, never text."""
    phone = mask_number(packet.get("phone") or "") if packet.get("phone") else "-"
    return (f"conversation={packet.get('conversation_id')} channel={packet.get('channel')} "
            f"skill={packet.get('skill')} priority={packet.get('priority')} reason={packet.get('reason')} "
            f"phone={phone}")


def reveal(packet: dict, field: str) -> object:
    """The unmasked value of a revealable field; KeyError for anything else."""
    if field not in REVEALABLE:
        raise KeyError(field)
    if field == "transcript":
        return [turn.get("text", "") for turn in packet.get("transcript") or []]
    if field == "collected":
        return dict((packet.get("collected") or {}).get("vars") or {})
    if field == "callback_phone":
        return (packet.get("callback") or {}).get("phone")
    if field == "phone":
        return packet.get("phone") or (packet.get("customer") or {}).get("phone")
    return (packet.get("customer") or {}).get(field)
