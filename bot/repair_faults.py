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


def selfhelp_by_fault(tried: list[tuple[str | None, str]], faults: list, words: dict, default_separator: str = "、") -> str:
    """The self-help tried, ``(fault, title)`` in the order sent, as tickets and the agent's summary list it: with
    more than one fault in play each fault's own under its name (``selfhelp_of_fault``, joined by
    ``fault_separator``, in ``summary_words``), so the agent can tell which went with which (found in review:
    the TV's and the broadband's self-help read as one list); with one, the titles alone. Empty for none."""
    separator = words.get("list_separator", default_separator)
    grouped: dict[str | None, list[str]] = {}
    for fault, title in tried:
        grouped.setdefault(fault or None, []).append(title)
    if len({*(fault for fault in faults if fault), *(fault for fault in grouped if fault)}) < 2:
        return separator.join(title for _, title in tried)
    line = words.get("selfhelp_of_fault", "{fault}: {selfhelp}")
    return words.get("fault_separator", "; ").join(
        line.format(fault=fault_names([fault], words), selfhelp=separator.join(titles)) if fault
        else separator.join(titles) for fault, titles in grouped.items())
