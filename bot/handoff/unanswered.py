"""A conversation an agent took whose customer was already gone: no answer, whatever the agent closes it as.

Found by a tester: web-chat customers who had closed the page were handed to agents, who greeted
nobody and closed the chats as 已解决; the record counted them answered and resolved (abandonment 11 %
instead of 33 %) and each got a follow-up ledger item. The claim now passes over customers who are
gone, but a page can go without the server knowing yet (a lost signal is noticed at the Socket.IO ping
timeout), so the close checks the recorded facts again.

The rule (a web chat's page, and a phone call whose process stopped vouching for it — the process died and
the line with it, ``bot.ivr.held_calls`` — not a call bridged to the agent's own phone, whose media stream
ends as the carrier connects them; no other channel tells whether the customer is there, and never a booked
callback, whose customer the agent rings: ``bot.handoff.presence.page_tells_presence``): the customer is gone
now (no open page, ``bot.handoff.presence``), showed no sign of life after the claim (no ping of an
open page, no message) and wrote nothing in the conversation after the claim. The page's disconnect
is not a sign of life: a lost connection is noticed late. A customer who left right after the claim
without a word is counted the same way: nothing was exchanged.
"""
from __future__ import annotations

from bot.handoff.agents import PHONE_CHANNEL
from bot.handoff.conversations import RasaConversations
from bot.handoff.presence import Absence, customer_gone
from bot.handoff.queue import HandoffQueue


async def _absence(queue: HandoffQueue, entry: dict) -> Absence | None:
    """The customer's absence (``customer_gone``), but none for a call bridged to the agent's phone: its
    process let the call go as the carrier connected the agent, who is talking to the caller."""
    from bot.ivr.bridge import bridged_agent

    absence = await customer_gone(queue.redis, entry, queue.clock())
    if absence is not None and entry["channel"] == PHONE_CHANNEL \
            and await bridged_agent(queue.redis, entry["conversation_id"]) is not None:
        return None
    return absence


async def absent_at_close(queue: HandoffQueue, conversations: RasaConversations,
                          entry: dict) -> tuple[Absence | None, float | None]:
    """What an agent's close of ``entry`` (claimed) needs to know of the customer's absence, from one read of it:
    (their absence when the conversation never reached them, else None; when a call lost after words with the agent
    was lost, else None). Found in review: the close read the absence twice, once for each."""
    absence = await _absence(queue, entry)
    if await _before_any_exchange(conversations, entry, absence):
        return absence, None
    return None, _lost_at(entry, absence)


async def _before_any_exchange(conversations: RasaConversations, entry: dict, absence: Absence | None) -> bool:
    """Whether the customer, gone as ``absence`` says, left before anything was exchanged with the agent."""
    claimed_at = entry.get("claimed_at")
    if claimed_at is None or absence is None or (absence.alive_at is not None and absence.alive_at > claimed_at):
        return False
    events = await conversations.events(entry["conversation_id"])
    return not any(e.get("event") == "user" and float(e.get("timestamp") or 0) > claimed_at for e in events)


async def customer_left_at(queue: HandoffQueue, entry: dict) -> float | None:
    """When the customer of a conversation an agent holds left, while they are gone (the desk shows them
    offline, a call as cut off); None while they are there, or when nothing tells (another channel, a
    callback, a bridged call)."""
    absence = await _absence(queue, entry)
    return round(absence.seen_at, 3) if absence else None


def _lost_at(entry: dict, absence: Absence | None) -> float | None:
    """When a call an agent holds was lost (its process died, and the line with it), while it is; None for
    a call on the line, a bridged one, and every other channel (a web chat's closed page may open again)."""
    return round(absence.seen_at, 3) if absence and entry["channel"] == PHONE_CHANNEL else None


async def call_lost_at(queue: HandoffQueue, entry: dict) -> float | None:
    """When the call ``entry`` (claimed) was lost, while it is; None for a call on the line and every other channel.
    For a transfer, which reads nothing else of the customer's absence (a close reads it in ``absent_at_close``)."""
    return _lost_at(entry, await _absence(queue, entry))


async def lost_by_silence(queue: HandoffQueue, entry: dict) -> bool:
    """Whether the call ``entry`` is lost once its process stops vouching for it (``HandoffQueue.transfer``'s
    ``unless_lost``): a call on the line, not one bridged to the agent's phone (its process let it go as the carrier
    connected them), nor another channel."""
    from bot.ivr.bridge import bridged_agent

    return entry["channel"] == PHONE_CHANNEL and await bridged_agent(queue.redis, entry["conversation_id"]) is None
