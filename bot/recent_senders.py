"""The event brokers' memory of recent senders, bounded.

A broker sees one process's events and needs to know only live conversations (a slot follows the user
event of its turn; a session's first message comes in the burst that starts it), so it keeps the most
recent ``REMEMBERED_SENDERS`` and forgets the oldest: a process lives for months.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

REMEMBERED_SENDERS = 10_000


def remember(senders: OrderedDict, sender: str, value: Any) -> None:
    """``sender`` (with ``value``) as the most recent of ``senders``; the oldest forgotten past the bound."""
    senders[sender] = value
    senders.move_to_end(sender)
    while len(senders) > REMEMBERED_SENDERS:
        senders.popitem(last=False)
