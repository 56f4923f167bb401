"""A booked callback's 转接 cut off right after the queue moved it (Redis not answering for a moment) is still noted
on its ticket, once: by the waiting room finishing the transfer, the desk's retry adding nothing.

Found in review: the transfer of a booked callback was never noted on its ticket (bot.handoff.callback_transferred).
The fault is real: ``CLIENT PAUSE`` on a Redis server of this module's own (test_desk_close_faults), so the desk's
next command after the transfer's script fails before it notes the ticket.
"""
from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.handoff.transfer_owed import TRANSFER_GRACE_S
from tests.handoff.test_callback_requeued import BOOKED, callback_taken, repository, room  # noqa: F401
from tests.handoff.test_callback_transferred import (SAID, conversations, desk, to_billing,  # noqa: F401
                                                     told_since, transferred_notes)
from tests.handoff.test_desk_close_faults import queue_giving_up, redis_answers_again, redis_stops_answering_after
from tests.paused_redis import redis_url  # noqa: F401 - a server of its own: CLIENT PAUSE stops it all


@pytest.fixture
def queue(redis_url, clock, rules, events, redis):  # noqa: F811
    return queue_giving_up(redis_url, clock, rules, events)


async def test_a_callback_transfer_cut_off_before_its_note_is_noted_by_the_waiting_room_once(
        queue, clock, desk, room, conversations, repository, redis, redis_url):  # noqa: F811
    ticket_id = await callback_taken(queue, clock, conversations, repository)
    before = len(conversations.responses(BOOKED))
    redis_stops_answering_after(queue, "_transfer", redis_url)
    with pytest.raises(aioredis.RedisError):
        await desk.close("wang", BOOKED, "transfer", skill="billing", agent_name="王芳")
    await redis_answers_again(redis)
    assert await queue.waiting("billing") == [BOOKED], "the queue moved it before the cut"
    assert transferred_notes(repository, ticket_id) == []

    clock.advance(TRANSFER_GRACE_S + 1)
    await room.tick()
    assert transferred_notes(repository, ticket_id) == [to_billing(queue)], "the waiting room notes it"
    assert told_since(conversations, before) == [SAID]

    again = await desk.close("wang", BOOKED, "transfer", skill="billing", agent_name="王芳")
    assert again.get("closed_before")
    clock.advance(TRANSFER_GRACE_S + 1)
    await room.tick()
    assert transferred_notes(repository, ticket_id) == [to_billing(queue)], "noted once"
