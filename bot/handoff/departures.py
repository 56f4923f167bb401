"""Agents who leave the desk: their conversations go back to the queue, the customers told.

An agent who signs out with conversations open hands them back at once (the desk asks first). A
supervisor can put one conversation an agent is serving back in the queue.

An agent removed with ``kefu agent remove``: the command only deletes the account in the database,
which every process reads: sign-in and the agent's desk sessions are refused from then on. The live side in Redis is tidied by the waiting
room's loop (one process at a time): each conversation the agent held goes back to its queue,
keeping its place in time as a transfer to the same group does, and the agent leaves the roster.
"""
from __future__ import annotations

import asyncio

from bot.handoff import keys
from bot.handoff.accounts import AccountStore
from bot.handoff.queue import HandoffError, HandoffQueue


async def requeue(queue: HandoffQueue, conversation_id: str, agent_id: str) -> bool:
    """One conversation ``agent_id`` holds back to its queue, keeping its place in time as a transfer
    to the same group does; the waiting room's next visit tells the customer their place again.
    False when the agent no longer holds it (closed, or the customer left meanwhile)."""
    from bot.handoff.watcher import remember_notice  # the waiting room imports this module

    entry = await queue.entry(conversation_id)
    if entry is None or entry["state"] != "claimed" or entry["agent_id"] != agent_id:
        return False
    try:
        await queue.transfer(conversation_id, agent_id, entry["skill"])
    except HandoffError:
        return False
    await remember_notice(queue, conversation_id, "with_agent")
    return True


async def requeue_held(queue: HandoffQueue, agent_id: str) -> list[str]:
    """Every conversation the agent holds back to its queue (the agent signs out, or was removed)."""
    return [c for c in await queue.serving(agent_id) if await requeue(queue, c, agent_id)]


async def requeue_removed_agents(queue: HandoffQueue, accounts: AccountStore) -> list[str]:
    """Conversations put back in the queue because the agent holding them has no account any more."""
    roster = [m.decode() if isinstance(m, bytes) else m for m in await queue.redis.smembers(keys.agents())]
    if not roster:
        return []
    kept = await asyncio.to_thread(accounts.existing, roster)
    requeued = []
    for agent_id in sorted(set(roster) - kept):
        requeued += await requeue_held(queue, agent_id)
        await queue.roster.forget(agent_id)
    return requeued
