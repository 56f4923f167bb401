"""Personal numbers on the agent desk: phone, account and ID numbers show their last 4 digits only.

Agents see masked values by default and open a value with the desk's explicit reveal call,
which is logged (``handoff_pii_revealed``).
"""
from __future__ import annotations

import copy
import re

# 6+ digits not glued to letters (ticket ids like TK000123 stay readable), optional ID check char.
NUMBER = re.compile(r"(?<![A-Za-z0-9])\d{6,}[\dXx]?(?![A-Za-z0-9])")
REVEALABLE = ("phone", "account_number", "transcript")


def mask_number(value: str) -> str:
    value = str(value or "")
    return "*" * max(0, len(value) - 4) + value[-4:]


def mask_text(text: str) -> str:
    return NUMBER.sub(lambda m: mask_number(m.group(0)), text or "")


def masked_packet(packet: dict) -> dict:
    """A copy of a context packet safe to show: customer numbers and numbers in turns masked."""
    shown = copy.deepcopy(packet)
    customer = shown.get("customer") or {}
    for name in ("phone", "account_number"):
        if customer.get(name):
            customer[name] = mask_number(customer[name])
    for turn in shown.get("transcript") or []:
        turn["text"] = mask_text(turn.get("text", ""))
    for item in shown.get("intents") or []:
        item["text"] = mask_text(item.get("text", ""))
    shown["summary"] = mask_text(shown.get("summary", ""))
    return shown


def reveal(packet: dict, field: str) -> object:
    """The unmasked value of a revealable field; KeyError for anything else."""
    if field not in REVEALABLE:
        raise KeyError(field)
    if field == "transcript":
        return [turn.get("text", "") for turn in packet.get("transcript") or []]
    return (packet.get("customer") or {}).get(field)
