"""Agents removed from the desk (``kefu agent remove``): their conversations go back to the queue.

The command only deletes the account in the database, which every process reads: sign-in and the
agent's desk sessions are refused from then on. The live side in Redis is tidied by the waiting
room's loop (one process at a time): each conversation the agent held goes back to its queue,
keeping its place in time as a transfer to the same group does, and the agent leaves the roster.
"""
from __future__ import annotations

import asyncio

from bot.handoff import keys
from bot.handoff.accounts import AccountStore
from bot.handoff.queue import HandoffError, HandoffQueue


async def requeue_removed_agents(queue: HandoffQueue, accounts: AccountStore) -> list[str]:
    """Conversations put back in the queue because the agent holding them has no account any more."""
    roster = [m.decode() if isinstance(m, bytes) else m for m in await queue.redis.smembers(keys.agents())]
    if not roster:
        return []
    kept = await asyncio.to_thread(accounts.existing, roster)
    requeued = []
    for agent_id in sorted(set(roster) - kept):
        for conversation_id in await queue.serving(agent_id):
            entry = await queue.entry(conversation_id)
            if entry is None:
                continue
            try:
                await queue.transfer(conversation_id, agent_id, entry["skill"])
            except HandoffError:
                continue  # the customer left meanwhile
            requeued.append(conversation_id)
        await queue.roster.forget(agent_id)
    return requeued
