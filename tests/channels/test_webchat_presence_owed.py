"""What a web chat worker owes Redis of its pages' presence during a long outage is bounded
(``bot.channels.webchat_presence``), and what it writes once Redis answers still tells the waiting room
who is there and when each customer was last seen.

Written with the channel's own presence writes to a real Redis; the outage is the channel's failed writes
(``customer_seen`` owes each one as here).
"""
from __future__ import annotations

import time

from bot.channels import webchat_presence
from bot.handoff.presence import customer_gone, customer_last_seen
from tests.channels.test_webchat_addresses import channel_with
from tests.channels.test_webchat_inflight import secrets_in_environment  # noqa: F401  signed sessions
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

LIMIT = 40


def chat(conversation_id: str) -> dict:
    return {"conversation_id": conversation_id, "channel": "webchat", "call": False}


async def test_a_long_outage_s_owed_closes_are_bounded_and_what_is_written_after_still_tells_who_is_there(
        redis_url, redis, monkeypatch):  # noqa: F811
    """Found in review: a worker owed one entry per socket seen during an outage, without end (a page that
    reconnects every few seconds, every customer who came and went). Now closes whose page no longer counts
    open are coalesced per conversation, and the oldest dropped beyond the bound; the recent ones, which
    decide whether a queued customer is still there, are kept."""
    monkeypatch.setattr(webchat_presence, "MAX_OWED", LIMIT, raising=False)
    channel = channel_with(redis_url)
    owed, now = channel.owed, time.time()
    before = now - 600

    def owe(conversation_id: str, sid: str, closed: bool, at: float) -> None:
        owed.owe((conversation_id, sid), closed, at, owed.ticket())
        assert len(owed) <= LIMIT, "the worker's owed presence grew past its bound"

    # Before the outage: customers who left during it had their page counted open.
    recent = [f"left-{i}" for i in range(10)]  # their page showed life a minute ago, closed 20 s ago
    long_gone = [f"gone-{i}" for i in range(30)]  # closed minutes ago
    for i, conversation_id in enumerate(long_gone):
        await channel.write_presence(conversation_id, "page", False, before + i)
    for conversation_id in recent:
        await channel.write_presence(conversation_id, "page", False, now - 60)
    # During it, in the order it happened: a customer's page reconnecting every 5 s, the others leaving.
    for i in range(100):
        owe("returning", f"socket-{i}", True, now - 500 + 5 * i)
    for i, conversation_id in enumerate(long_gone):
        owe(conversation_id, "page", True, before + 60 + i)
    owe("returning", "socket-live", False, now - 3)  # its page open now
    left_at = now - 20
    for conversation_id in recent:
        owe(conversation_id, "page", True, left_at)

    await owed.pay(channel.write_presence, lambda _conversation_id, sid: sid == "socket-live")  # Redis is back
    assert len(owed) == 0
    client, now = channel.redis(), time.time()
    assert await customer_gone(client, chat("returning"), now) is None, "the customer whose page is open is there"
    for conversation_id in recent:
        absence = await customer_gone(client, chat(conversation_id), now)
        assert absence is not None and absence.seen_at == left_at, f"{conversation_id}: gone since its page closed"
    for i, conversation_id in enumerate(long_gone):
        absence = await customer_gone(client, chat(conversation_id), now)
        assert absence is not None, f"{conversation_id}: gone"
        assert absence.seen_at >= before + i, "a customer's last sight never goes back"
    assert await customer_last_seen(client, "returning") >= now - 5


async def test_a_close_written_late_does_not_move_a_customer_s_last_sight_back(redis_url, redis):  # noqa: F811
    """Found in review: a page's close owed during an outage was written, once Redis answered, at the time it
    closed, over what the conversation's other pages wrote since: the customer's last sight went back, and
    the waiting room counted their grace period from then (passed over sooner than their newest page allowed)."""
    channel = channel_with(redis_url)
    owed, now = channel.owed, time.time()
    await channel.write_presence("two-tabs", "old-tab", False, now - 120)  # open before the outage
    owed.owe(("two-tabs", "old-tab"), True, now - 60, owed.ticket())  # it closed while Redis failed
    await channel.write_presence("two-tabs", "new-tab", False, now - 30)  # Redis back: the customer's new tab
    left_at = now - 10
    await channel.write_presence("two-tabs", "new-tab", True, left_at)  # which they closed too

    await owed.pay(channel.write_presence, lambda _conversation_id, _sid: False)  # the worker heals
    assert len(owed) == 0
    absence = await customer_gone(channel.redis(), chat("two-tabs"), time.time())
    assert absence is not None, "no page of theirs is open"
    assert absence.seen_at == left_at, "the customer was last seen when their newest page closed"
    assert absence.alive_at == now - 30, "and last alive in it"
