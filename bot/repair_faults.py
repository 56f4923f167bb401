"""Which faults a conversation, or a repair ticket, is about: one message may name two ("电视和宽带都不行了").

The assistant looks at them one after the other and files one repair for those self-help did not fix
(actions/selfhelp.py); the agent's summary, the agent's follow-up ticket and "is this repair already open?"
read them here, so none of them sees only the fault in hand.
"""
from __future__ import annotations


def repairs(ticket: dict, fault_type: str) -> bool:
    """Whether ``ticket`` is a repair of ``fault_type``: its own fault, or one named with it ("电视和宽带都不行了"
    files one repair for both, ``also_fault_types``)."""
    details = ticket.get("details") or {}
    return ticket["kind"] == "fault" and fault_type in (details.get("fault_type"), *(details.get("also_fault_types") or ()))


def faults_of(slots: dict) -> list[str]:
    """The faults a conversation is about, in the order named: those self-help did not fix before the one in
    hand, that one, and those named with it still to be looked at (actions/selfhelp.py)."""
    named = [*(slots.get("faults_unfixed") or []), slots.get("fault_type"), *(slots.get("faults_next") or [])]
    return [fault for fault in dict.fromkeys(named) if fault]


def fault_names(faults: list, words: dict, default_separator: str = "、") -> str:
    """The faults as tickets and the agent's summary name them (``summary_words`` in content/handoff.yml:
    ``fault_<type>``, joined by ``list_separator``); empty when there are none."""
    separator = words.get("list_separator", default_separator)
    return separator.join(words.get(f"fault_{fault}", fault) for fault in faults if fault)
