"""Another agent taking a waiting customer and leaving them within the waiting room's notice (its read of what the
customer was last told, and its write of what it tells them now: one round trip apart) is told to the customer; so is
one within a customer's "多久能排到我" answered, a callback's "your agent left, the callback stands" noted, or the
desk's transfer telling the customer their place in the new group.

Found in review: that agent's leaving wrote "your agent left" (``with_agent``) between the two, and the pass wrote
its place notice over it: the customer heard the agent join, then at most their place, never that he had left. On a
real Redis: the waiting room's pass reaches it through a hop that holds back the answer to its read
(``tests/handoff/held_reply.py``) while the other agent, on a client of his own, takes the customer and signs out.
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff import keys
from bot.handoff.departures import sign_out
from bot.handoff.desk import Desk
from bot.handoff.joined import say_joined, told
from bot.handoff.queue import HandoffQueue, transfer_mark
from bot.handoff.watcher import WaitingRoom
from bot.redis_reconnect import reconnecting
from tests.handoff.held_reply import HeldReplyProxy
from tests.handoff.test_callback_requeued import BOOKED, callback_taken, requeued_notes, room_settings, taken
from tests.handoff.test_callback_transferred import HandingOver
from tests.handoff.test_waiting_room import agent_available, wait_in_line
from tests.scale.reply_lost import ReplyLosingProxy

# The waiting room's read of the customer's notice state (bot.handoff.watcher.WaitingRoom.notify_if_changed), and its
# read before it remembers the place a customer asked for as told (``WaitingRoom.tell_place``: HGET or HMGET).
NOTICE_READ = ("HMGET", "notified", "channel")
ASKED_READ = ("GET", "notified")
# The desk's transfer, telling the customer their place in the new group, reads who can serve it
# (bot.handoff.queue_notice.tell_place: the roster's presence).
WHO_SERVES_READ = ("ZRANGEBYSCORE", keys.presence())
# Its note on the ticket of a callback put back, before it remembers the customer told (bot.handoff.callback_requeued).
CALLBACK_NOTED = ("EVAL", "transfer_noted")


@pytest.fixture
async def proxy(redis_url):
    hop = await HeldReplyProxy(urlparse(redis_url).port).start()
    yield hop
    await hop.close()


@pytest.fixture
async def room(proxy, redis_url, queue, clock, rules, events):
    """The waiting room, its Redis through the hop; the agents' desk (``queue``) on a client of its own."""
    parts = urlparse(redis_url)
    client = aioredis.Redis(host=parts.hostname, port=proxy.port, db=int(parts.path.lstrip("/") or 0))
    yield WaitingRoom(HandoffQueue(client, clock, rules=rules, recorder=events), HandingOver(clock), room_settings())
    await client.close()


async def pass_while_li_takes_and_leaves(room, proxy, queue, clock, read: tuple[str, ...] = NOTICE_READ,
                                         conversation_id: str = "chat") -> float:
    """A pass of the waiting room, 李雷 taking ``conversation_id`` and signing out between its ``read`` of the notice
    state and what it does next; when he left."""
    proxy.hold_reply_to(*read)
    visit = asyncio.create_task(room.tick())
    await asyncio.wait_for(proxy.held.wait(), 10)  # the pass has read the customer's notice state
    clock.advance(1)
    await taken(queue, room.conversations, "li", "李雷", conversation_id)
    clock.advance(1)
    li_left_at = clock()
    assert await sign_out(queue, "li", None) == 1
    proxy.release()
    await asyncio.wait_for(visit, 10)
    return li_left_at


async def after_passes(room, clock, count: int = 2) -> None:
    for _ in range(count):
        clock.advance(1)
        await room.tick()


def told_left(room, conversation_id: str) -> list[str | None]:
    """The marks "your agent left" was said under."""
    return [values.get("once") for response, values in room.conversations.said.get(conversation_id, [])
            if response == "utter_queue_agent_left"]


async def test_an_agent_who_takes_and_leaves_a_customer_as_their_place_changes_is_told_to_them(
        room, proxy, queue, clock):
    await agent_available(queue, "zhao")
    await wait_in_line(queue, "ahead")
    await wait_in_line(queue, "chat")
    await room.tick()  # "chat" second in line, noted as told (the request told them)
    assert await queue.stop_waiting("ahead", "cancelled")  # "chat" moves up: the next pass tells them

    li_left_at = await pass_while_li_takes_and_leaves(room, proxy, queue, clock)
    await after_passes(room, clock)

    assert told_left(room, "chat") == [f"agent_left:{transfer_mark('li', li_left_at)}"], \
        room.conversations.responses("chat")
    assert room.conversations.responses("chat")[-3:] == [
        "utter_agent_joined", "utter_queue_agent_left", "utter_queue_update"]


async def test_the_next_agent_who_takes_and_leaves_a_customer_told_of_the_last_is_told_to_them(
        room, proxy, queue, clock):
    """The pass read that 王芳 left "chat"; 李雷 took them and left too before it wrote: his leaving is told, once."""
    await wait_in_line(queue, "chat")
    await taken(queue, room.conversations, "wang", "王芳", "chat")
    assert await sign_out(queue, "wang", None) == 1
    await agent_available(queue, "zhao")

    li_left_at = await pass_while_li_takes_and_leaves(room, proxy, queue, clock)
    await after_passes(room, clock)

    assert told_left(room, "chat") == [f"agent_left:{transfer_mark('li', li_left_at)}"], \
        room.conversations.responses("chat")
    assert room.conversations.responses("chat")[-3:] == [
        "utter_agent_joined", "utter_queue_agent_left", "utter_queue_update"]


async def test_an_agent_who_takes_and_leaves_a_customer_as_they_ask_their_place_is_told_to_them(
        room, proxy, queue, clock):
    """The customer asked "多久能排到我": the pass told their place and read their notice state to remember it as
    told; 李雷 took them and left before it wrote. His leaving is told, in that pass or the next."""
    await agent_available(queue, "zhao")
    await wait_in_line(queue, "chat")
    await room.tick()
    room.conversations.customer("chat", "多久能排到我")

    li_left_at = await pass_while_li_takes_and_leaves(room, proxy, queue, clock, ASKED_READ)
    await after_passes(room, clock)

    assert told_left(room, "chat") == [f"agent_left:{transfer_mark('li', li_left_at)}"], \
        room.conversations.responses("chat")
    assert room.conversations.responses("chat") == [
        "utter_queue_update", "utter_agent_joined", "utter_queue_agent_left", "utter_queue_update"]


async def test_an_agent_who_takes_and_leaves_a_callback_as_its_last_leaving_is_noted_is_told_and_noted(
        room, proxy, queue, clock, kefu_env):
    """The pass told the callback's customer that 王芳 left and the callback stands, and noted its ticket; 李雷 took
    the callback and left it too before the pass remembered them told. His leaving is told and noted, once."""
    from bot.db.repository import Repository

    repository = Repository(kefu_env.database_url)
    ticket_id = await callback_taken(queue, clock, room.conversations, repository)
    assert await sign_out(queue, "wang", None) == 1
    await agent_available(queue, "zhao")

    await pass_while_li_takes_and_leaves(room, proxy, queue, clock, CALLBACK_NOTED, BOOKED)
    await queue.roster.register("li", name="李雷", skills=["tv"], capacity=2, status="away")  # his own name
    await after_passes(room, clock)

    assert requeued_notes(repository, ticket_id) == [{"kind": "callback_requeued", "agent": "王芳"},
                                                     {"kind": "callback_requeued", "agent": "李雷"}]
    assert room.conversations.responses(BOOKED) == [
        "utter_agent_calling_back", "utter_callback_requeued", "utter_agent_calling_back", "utter_callback_requeued"]


class HoldingAfterTransferred(HandingOver):
    """The customer's chat; once the desk has said "已为您转接", the hop holds back the answer to its next read of
    who can serve the new group."""

    def __init__(self, clock, proxy) -> None:
        super().__init__(clock)
        self.proxy = proxy

    async def utter(self, conversation_id: str, response: str, **values) -> bool | None:
        said = await super().utter(conversation_id, response, **values)
        if response == "utter_queue_transferred":
            self.proxy.hold_reply_to(*WHO_SERVES_READ)
        return said


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_an_agent_who_takes_and_leaves_a_customer_as_the_desk_tells_their_transfer_is_told_to_them(
        proxy, redis_url, queue, clock, rules, events, kefu_env):
    """王芳 transfers "chat" to billing; as her desk tells them their place there (its read of who serves billing
    held back), 李雷 of billing takes them and signs out. The waiting room tells them he left, once; the desk's place,
    out of date once he had them, is not said after his "joined" (bot.handoff.transfer_owed.tell_transferred)."""
    conversations = HoldingAfterTransferred(clock, proxy)
    await wait_in_line(queue, "chat")
    await taken(queue, conversations, "wang", "王芳", "chat")
    parts = urlparse(redis_url)
    client = aioredis.Redis(host=parts.hostname, port=proxy.port, db=int(parts.path.lstrip("/") or 0))
    try:
        desk = Desk(HandoffQueue(client, clock, rules=rules, recorder=events), conversations,
                    AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
        clock.advance(1)
        transfer = asyncio.create_task(desk.close("wang", "chat", "transfer", skill="billing", agent_name="王芳"))
        await asyncio.wait_for(proxy.held.wait(), 10)  # told "已为您转接"; their place not yet remembered as told
        clock.advance(1)
        await queue.roster.register("li", name="李雷", skills=["billing"], capacity=2, status="available")
        request = await queue.claim_next("li")
        assert request.conversation_id == "chat"
        await say_joined(conversations, request, "李雷", once="joined:li")
        await told(queue, "chat")
        clock.advance(1)
        li_left_at = clock()
        assert await sign_out(queue, "li", None) == 1
        proxy.release()
        assert (await asyncio.wait_for(transfer, 10))["transferred_to"] == "billing"
    finally:
        await client.close()
    room = WaitingRoom(queue, conversations, room_settings())
    await after_passes(room, clock)

    assert told_left(room, "chat") == [f"agent_left:{transfer_mark('li', li_left_at)}"], conversations.responses("chat")
    assert conversations.responses("chat")[2:] == [
        "utter_agent_joined", "utter_queue_agent_left", "utter_queue_nobody_available"]


async def test_a_notice_whose_answer_was_lost_is_still_said(redis_url, queue, clock, rules, events):
    """The notice's write runs, its answer is lost with the connection, and the client sends it once more
    (``bot.redis_reconnect``): finding it written, the customer is still told their new place, once."""
    await agent_available(queue, "zhao")
    await wait_in_line(queue, "ahead")
    await wait_in_line(queue, "chat")
    hop = await ReplyLosingProxy(urlparse(redis_url).port).start()
    parts = urlparse(redis_url)
    client = aioredis.Redis(host=parts.hostname, port=hop.port, db=int(parts.path.lstrip("/") or 0), **reconnecting())
    try:
        room = WaitingRoom(HandoffQueue(client, clock, rules=rules, recorder=events), HandingOver(clock),
                           room_settings())
        # Second in line, as the request told them; the write's script is loaded now, so the next runs when first sent.
        await room.notify_if_changed("chat", await queue.position("chat"), True)
        assert await queue.stop_waiting("ahead", "cancelled")
        hop.armed = True
        await room.notify_if_changed("chat", await queue.position("chat"), True)
        assert hop.lost == 1
        await room.notify_if_changed("chat", await queue.position("chat"), True)
        assert room.conversations.responses("chat") == ["utter_queue_update"]
        assert dict(room.conversations.said["chat"])["utter_queue_update"]["position"] == 1
    finally:
        await client.close()
        await hop.close()
