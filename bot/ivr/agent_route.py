"""Whether a step of a phone flow is the caller asking for a person.

The KPIs need the moment a caller asked for an agent, not only the moment they were queued: at a
peak the flow first offers a callback or a message (``peak_offer``), and a caller who hangs up there
was counted as "no answer", and the wait of one who stayed was counted from the queue, 76 s short
(found by a tester). A ``goto`` that routes the call towards a ``transfer`` node — directly, or through
a menu whose options or time-outs lead to one — is where the caller asked; the flow editor's node
names do not matter.
"""
from __future__ import annotations

from bot.ivr.flow import Flow, Node


def leads_to_agent(flow: Flow, node_id: str | None) -> bool:
    """The node queues for an agent, or is a menu (like the peak offer) one step away from that."""
    if not node_id:
        return False
    node = flow.node(node_id)
    if node.kind == "transfer":
        return True
    if node.kind != "menu":
        return False
    return any(flow.node(target).kind == "transfer" for _, target in node.targets())


def asks_for_agent(flow: Flow, node: Node, chosen: str | None) -> bool:
    """A goto step that chose a way to an agent (not, e.g., the after-hours menu)."""
    return node.kind == "goto" and leads_to_agent(flow, chosen)
