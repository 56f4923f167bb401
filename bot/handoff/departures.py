"""Agents who leave the desk: their conversations go back to the queue, the customers told.

An agent who signs out with conversations open hands them back at once (the desk asks first). A
supervisor can put one conversation an agent is serving back in the queue. The waiting room's loop
(one process at a time, ``bot.handoff.watcher``) looks after the two ways of leaving without a word,
every ``DEPARTURES_CHECK_S``:

* **Removed** with ``kefu agent remove``: the command deletes the account and writes a removal record
  (``agent_removals``) in the same transaction. Sign-in and the agent's desk sessions are refused from
  then on (every process reads the account). The loop acts on the removal records only — never on
  "on the roster but no account in this database", which is also true of the agents of another
  deployment (or a test stack) sharing the Redis database: each conversation the removed account
  held goes back to its queue, the agent leaves the roster, and the record is deleted. A name added
  again before the loop ran keeps what the new account took after the removal (claimed later than
  ``removed_at``) and its place on the roster; what the removed account held goes back all the same.
* **Gone**: a desk that has not checked in for ``agent_gone_after_s`` (``content/handoff.yml``; the
  browser was closed, the session expired, the machine slept). Their conversations go back to the
  queue and the agent is set away. An open desk checks in far more often, even in a background tab (see
  ``bot.handoff.agents``), so an agent at work is never taken for gone. A phone call bridged to the
  agent's own phone (``bot.ivr.bridge``) stays theirs: they are talking to the caller.

Either way each conversation keeps its place in time, as a transfer to the same group does; the
waiting room's next visit tells the customer that their agent left, and their place again;
``handoff_requeued`` is recorded with the agent and the reason (``removed``, ``agent_gone``; the desk's
``signed_out`` and ``supervisor``, with ``by``), under the mark of the transfer that put the conversation back
(``HandoffQueue.transfer``'s ``requeued``): one cut off mid-way is recorded by the waiting room with the
transfer's other events (``bot.handoff.transfer_owed``). Found in review: recorded after every conversation
was back, it was lost when cut off in between.

Cost: the removal records are read every ``DEPARTURES_CHECK_S`` (5 s), not every tick: one indexed
query on a table that is empty almost always (measured 0.6 ms on SQLite through ``asyncio.to_thread`` on
the busy 2-core test machine; the old check ran a roster read and an accounts query every second),
a few seconds' delay on a rare operation. The presence check is one Redis range query on the presence
set plus one pipelined round trip for what the quiet agents hold.
"""
from __future__ import annotations

import asyncio
import logging

from bot.handoff import keys
from bot.handoff.accounts import AccountStore, Removal
from bot.handoff.queue import HandoffError, HandoffQueue
from bot.handoff.sessions import close_session, requeued_key
from bot.redis_text import as_text

logger = logging.getLogger(__name__)

DEPARTURES_CHECK_S = 5.0


async def requeue(queue: HandoffQueue, conversation_id: str, agent_id: str, reason: str, *, by: str = "",
                  claimed_by: float | None = None, served_until: float | None = None, noted_in: str = "") -> bool:
    """One conversation ``agent_id`` holds back to its queue, keeping its place in time as a transfer
    to the same group does; the waiting room's next visit tells the customer their place again.
    ``handoff_requeued`` (``reason``, ``by``) is recorded with the transfer's events.
    False when the agent no longer holds it (closed, or the customer left meanwhile), or took it
    after ``claimed_by``. ``served_until``: the gone agent's last check-in; ``noted_in``: as for
    ``HandoffQueue.transfer``."""
    from bot.handoff.watcher import WITH_AGENT  # the waiting room imports this module

    entry = await queue.entry(conversation_id)
    if entry is None or entry["state"] != "claimed" or entry["agent_id"] != agent_id:
        return False
    if claimed_by is not None and (entry["claimed_at"] or 0.0) > claimed_by:
        return False
    try:
        # The next visit says the agent left, and the place: noted in the transfer's script (found in review: cut off
        # after it, the customer was told nothing at all, the first visit of a record saying nothing).
        await queue.transfer(conversation_id, agent_id, entry["skill"], served_until=served_until,
                             requeued={"reason": reason, **({"by": by} if by else {})}, notice=WITH_AGENT,
                             noted_in=noted_in)
    except HandoffError:
        return False
    return True


async def requeue_held(queue: HandoffQueue, agent_id: str, reason: str, *,
                       claimed_by: float | None = None, noted_in: str = "") -> list[str]:
    """Every conversation the agent holds back to its queue (the agent signs out, was removed, is gone)."""
    return [c for c in await queue.serving(agent_id)
            if await requeue(queue, c, agent_id, reason, claimed_by=claimed_by, noted_in=noted_in)]


async def sign_out(queue: HandoffQueue, agent_id: str, token: str | None) -> int:
    """The agent signs out of the desk session ``token``: set away, then what they hold back to its queue, then the
    session closed. How many conversations the sign-out put back, a try of it cut off before included (noted in
    the transfer's script, ``sessions.requeued_key``). Found in review: cut off after putting a customer back, the
    agent stayed available (counted in every estimate, nobody there) and the retry answered ``requeued: 0``."""
    await queue.roster.set_status(agent_id, "away")  # first: no new customer is counted on them from now
    noted = requeued_key(token) if token else ""
    requeued = await requeue_held(queue, agent_id, "signed_out", noted_in=noted)
    count = await queue.redis.scard(noted) if noted else len(requeued)
    await close_session(queue.redis, token)
    return count


async def requeue_removed_agents(queue: HandoffQueue, accounts: AccountStore) -> list[str]:
    """Conversations put back in the queue because the account holding them was removed (removal records)."""
    requeued = []
    for removal in await asyncio.to_thread(accounts.removals):
        requeued += await act_on_removal(queue, accounts, removal)
    return requeued


async def act_on_removal(queue: HandoffQueue, accounts: AccountStore, removal: Removal) -> list[str]:
    agent_id = removal.name
    requeued = await requeue_held(queue, agent_id, "removed", claimed_by=removal.removed_at)
    if not await asyncio.to_thread(accounts.exists, agent_id):  # added again: their roster entry is the new one's
        await queue.roster.forget(agent_id)
    await asyncio.to_thread(accounts.removal_done, removal)
    logger.info("handoff.agent_removed agent=%s requeued=%d", agent_id, len(requeued))
    return requeued


async def requeue_gone_agents(queue: HandoffQueue) -> list[str]:
    """Conversations put back in the queue because their agent's desk stopped checking in
    ``agent_gone_after_s`` ago; those agents are set away."""
    limit = queue.rules.agent_gone_after_s
    if not limit:
        return []
    since = await queue.roster.seen_since(limit)  # not an outage's missed check-ins (AgentRoster.excuse)
    quiet = [as_text(a) for a in await queue.redis.zrangebyscore(keys.presence(), "-inf", f"({since!r}")]
    if not quiet:
        return []
    async with queue.redis.pipeline(transaction=False) as pipe:
        for agent_id in quiet:
            pipe.scard(keys.agent_active(agent_id))
        held = await pipe.execute()
    requeued = []
    for agent_id, count in zip(quiet, held):
        if count:
            requeued += await agent_gone(queue, agent_id, since)
    return requeued


async def agent_gone(queue: HandoffQueue, agent_id: str, since: float) -> list[str]:
    seen = await queue.redis.zscore(keys.presence(), agent_id)
    if seen is None or float(seen) >= since:
        return []  # checked in meanwhile
    requeued = [c for c in await queue.serving(agent_id)
                if not await _bridged(queue, c) and await requeue(queue, c, agent_id, "agent_gone",
                                                                  served_until=float(seen))]
    await queue.roster.set_status(agent_id, "away", from_desk=False)
    if requeued:
        logger.info("handoff.agent_gone agent=%s requeued=%d last_seen_s_ago=%.0f", agent_id, len(requeued),
                    queue.clock() - float(seen))
    return requeued


async def _bridged(queue: HandoffQueue, conversation_id: str) -> bool:
    """A phone call the carrier connected to the agent's own phone: the agent is on it, desk or not."""
    from bot.ivr.bridge import bridged_agent

    return await bridged_agent(queue.redis, conversation_id) is not None


class Departures:
    """The waiting room's check on agents who left without a word, at most every ``DEPARTURES_CHECK_S``."""

    def __init__(self, queue: HandoffQueue, accounts: AccountStore | None) -> None:
        self.queue = queue
        self.accounts = accounts
        self.checked_at: float | None = None

    async def check(self) -> list[str]:
        now = self.queue.clock()
        if self.checked_at is not None and now - self.checked_at < DEPARTURES_CHECK_S:
            return []
        self.checked_at = now
        requeued = await requeue_removed_agents(self.queue, self.accounts) if self.accounts is not None else []
        return requeued + await requeue_gone_agents(self.queue)

