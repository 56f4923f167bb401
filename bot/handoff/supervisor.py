"""What a supervisor sees: every agent (every account, offline ones too) and their state, every queue with its longest wait.

Read from the same Redis the queue and the roster use, so it is true for all processes.
Removing a stale entry ends its wait (reason ``removed_by_supervisor``: counted as removed, not as
the customer abandoning) and hands the conversation back to the bot, which tells the customer.
A web-chat customer who closed the page is shown ``gone`` (they keep their place for the grace period,
but no agent is handed them, and they are not counted as waiting); never a booked callback, which an agent
rings (``bot.handoff.presence.page_tells_presence``). The page's silence (``silent_s``) is shown only
where the page tells: never for a call; a callback is marked ``callback`` instead (its ``waited_s`` runs
from the time promised to the customer). A supervisor cannot hand one waiting customer to an agent;
removing a gone customer's entry is recorded as the customer's abandonment (``customer_gone``, the wait
until they left, ``by`` the supervisor): the customer gave up, the supervisor only tidied the queue.
"""
from __future__ import annotations

from typing import Iterable

from bot.handoff import keys
from bot.handoff.accounts import AgentAccount
from bot.handoff.agents import is_callback
from bot.handoff.presence import customers_last_seen, gone_among, page_tells_presence
from bot.handoff.queue import HandoffQueue


def agent_state(status: str, online: bool, active: int, capacity: int) -> str:
    if not online:
        return "offline"
    if status != "available":
        return "away"
    return "full" if active >= capacity else "available"


async def agents(queue: HandoffQueue) -> list[dict]:
    roster, now = queue.roster, queue.clock()
    ids = sorted(m.decode() if isinstance(m, bytes) else m for m in await queue.redis.smembers(keys.agents()))
    shown = []
    for agent_id in ids:
        state = await roster.get(agent_id)
        if state is None:
            continue
        online = state.last_seen is not None and now - state.last_seen <= roster.presence_timeout_s
        shown.append({"agent_id": agent_id, "name": state.name, "skills": list(state.skills),
                      "capacity": state.capacity, "active": state.active,
                      "state": agent_state(state.status, online, state.active, state.capacity),
                      "serving": await queue.serving(agent_id)})
    return shown


def with_accounts(shown: list[dict], accounts: Iterable[AgentAccount]) -> list[dict]:
    """The roster's agents plus every account not on it (never signed in since Redis was filled) as
    offline: a supervisor grants skill groups to a new agent before their first shift."""
    on_roster = {a["agent_id"] for a in shown}
    offline = [{"agent_id": account.agent_id, "name": account.display_name, "skills": [],
                "capacity": account.capacity, "active": 0, "state": "offline", "serving": []}
               for account in accounts if account.agent_id not in on_roster]
    return sorted(shown + offline, key=lambda a: a["agent_id"])


async def queues(queue: HandoffQueue) -> list[dict]:
    rules, now = queue.rules, queue.clock()
    shown = []
    for skill, label in rules.skills.items():
        entries = []
        found = list(enumerate(await queue.entries(await queue.waiting(skill)), start=1))
        gone = await gone_among(queue.redis, [e for _, e in found], now)
        # The page's silence only where the page tells (not a call's, nor a callback's: found by an
        # operator, it showed how long a callback's page had been closed); a callback says so instead.
        last_seen = await customers_last_seen(queue.redis, [e["conversation_id"] for _, e in found
                                                            if page_tells_presence(e["channel"], e["call"])])
        for place, entry in found:
            conversation_id = entry["conversation_id"]
            seen = last_seen.get(conversation_id)
            entries.append({"conversation_id": conversation_id, "position": place, "channel": entry["channel"],
                            "priority": entry["priority"], "waited_s": round(now - entry["waiting_since"], 1),
                            "silent_s": round(now - seen, 1) if seen else None,
                            "callback": is_callback(entry["request"].context),
                            # closed the page: keeps the place for the grace period, not handed to an agent
                            "gone": conversation_id in gone})
        present = [e for e in entries if not e["gone"]]
        shown.append({"skill": skill, "label": label, "waiting": len(present), "gone": len(entries) - len(present),
                      "longest_wait_s": max((e["waited_s"] for e in present), default=0.0),
                      "available_capacity": await queue.roster.capacity_for(skill),
                      "sla_s": rules.sla_seconds.get(skill), "entries": entries})
    return shown


async def overview(queue: HandoffQueue) -> dict:
    return {"agents": await agents(queue), "queues": await queues(queue)}
