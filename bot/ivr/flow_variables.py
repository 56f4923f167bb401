"""Which of a call's variables are set by the time each node of a flow is reached.

The engine (``bot/ivr/engine.py``, ``bot/ivr/conditions.py``) sets a variable at one step of a call:
a number keyed at a ``collect_digits`` node (its ``store_as``, once valid, on the way to ``next``);
the place and wait once the caller is queued (at a ``transfer`` node, whose own ``say`` is said then
and whose ``next`` follows the agent; or by the assistant at a ``bot`` node, on the way to
``on_handoff``); the wait when a ``queue_wait_over_s`` condition of a ``goto`` case or a menu option
holds (when it does not, the wait was looked at only if agents are signed in: with none, the later
cases, the default ``target`` and a transfer's ``on_nobody`` after them go on without it); the ticket and
the time promised (``callback_by``) of a ``callback`` node with ``ask_number`` or ``on_failure`` (without
either, a caller nobody vouched for is booked nothing and goes on to its ``next`` all the same), and of a
callback a hold key books from the queue.
Before that, a text naming it is said with nothing in its place ("您排在第位").

A variable counts as set at a node when every way there passes a step that may set it: a node the
call can reach with it never set (``{position}`` in the menu before any transfer, ``{wait_minutes}`` where
no agent is signed in) is named, and no text is named for a way the engine does not take.
"""
from __future__ import annotations

from bot.ivr.flow import INPUT_KINDS, Flow, Node

QUEUED = frozenset({"position", "wait_minutes"})
BOOKED = frozenset({"ticket_id", "callback_by"})  # a callback node's ticket and the time promised
COUNT = "count"  # how many digits were keyed: a number's invalid_say / too_short_say only
COUNTED_FIELDS = ("invalid_say", "too_short_say")
NOT_QUEUED_WAYS = ("on_nobody", "on_failure")  # a transfer that did not queue the caller


def on_entry(node: Node, arrived: frozenset[str]) -> frozenset[str]:
    """What the node's texts may name, having arrived with ``arrived`` (a number's invalid_say and
    too_short_say also {count}, which ``variable_problems`` adds)."""
    here = set(arrived)
    if node.kind == "transfer":
        here |= QUEUED  # its `say` is said once the caller is queued
    return frozenset(here)


def _chosen_by_the_wait(node: Node, field: str) -> bool:
    """Whether the way ``field`` (``cases[i].target``, ``options[i].target``) is taken only when its
    ``queue_wait_over_s`` held, the wait looked at (bot/ivr/conditions.py)."""
    for name, choices in (("cases", node.cases), ("options", node.options)):
        if field.startswith(f"{name}["):
            return choices[int(field[len(name) + 1:field.index("]")])].when.queue_wait_over_s is not None
    return False


def _ways_on(flow: Flow, node: Node, arrived: frozenset[str]) -> list[tuple[str, frozenset[str]]]:
    """(node, variables set) of each way the engine leaves ``node``, arrived with ``arrived``."""
    here = on_entry(node, arrived)
    ways = []
    for field, target in node.targets():
        if field in ("on_no_input", "on_no_match") and node.kind not in INPUT_KINDS:
            continue  # a default's retry: only a node listening to the caller gives up on them
        if node.kind == "collect_digits" and field == "next":
            ways.append((target, here | {node.store_as}))
        elif node.kind == "callback" and field == "next":
            # Booked on the way only where a caller whose number nobody vouched for keys one (``ask_number``),
            # or goes to ``on_failure`` instead: else they are told no callback can be booked and go on to
            # ``next`` with no ticket.
            ways.append((target, here | BOOKED if node.ask_number or node.on_failure else here))
        elif node.kind == "bot" and field == "on_handoff":
            ways.append((target, here | QUEUED))
        elif node.kind == "transfer" and field in NOT_QUEUED_WAYS:
            ways.append((target, arrived))
        elif _chosen_by_the_wait(node, field):
            ways.append((target, here | {"wait_minutes"}))
        else:
            ways.append((target, here))
    if node.kind in ("transfer", "bot"):  # the caller queued here: each hold key leads on
        waiting = here | QUEUED
        for _, target in flow.hold.keys:
            ways.append((target, waiting))
            booked = flow.nodes.get(target)
            if booked is not None and booked.kind == "callback" and booked.next:  # booked from the queue
                ways.append((booked.next, waiting | BOOKED))
    return ways


def variables_at(flow: Flow) -> dict[str, frozenset[str]]:
    """Each reachable node's variables set on every way there (its texts' names: ``on_entry``)."""
    everything = frozenset(QUEUED | BOOKED | {n.store_as for n in flow.nodes.values()})
    arrived: dict[str, frozenset[str]] = {flow.start: frozenset()}
    todo = [flow.start]
    while todo:  # the nodes reached, each first assumed to have everything
        for target, _ in _ways_on(flow, flow.nodes[todo.pop()], everything):
            if target in flow.nodes and target not in arrived:
                arrived[target] = everything
                todo.append(target)
    changed = True
    while changed:  # then only what every way in sets; sets only shrink, so this ends
        changed = False
        incoming: dict[str, frozenset[str]] = {flow.start: frozenset()}
        for node_id, names in arrived.items():
            for target, out in _ways_on(flow, flow.nodes[node_id], names):
                if target in arrived:
                    incoming[target] = incoming[target] & out if target in incoming else out
        for node_id in arrived:
            if incoming.get(node_id, arrived[node_id]) != arrived[node_id]:
                arrived[node_id] = incoming[node_id]
                changed = True
    return arrived
