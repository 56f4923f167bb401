"""A queued phone call whose process died, on a real Redis queue with the waiting room's clock in hand.

Found in review: the process holding a call (its media stream) was killed while the caller waited; the
call's queue entry stayed "waiting", nothing checked that the call was still there, and the next agent's
claim took a dead line (the queue's figures and waits counted it meanwhile). The process now vouches for
the calls it holds in their queue records (``bot.ivr.held_calls``, from a thread); one it stopped vouching
for is passed over, and leaves the queue as ``call_lost``.
"""
from __future__ import annotations

import threading

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.analytics.live import queue_figures
from bot.handoff import keys
from bot.handoff.handback import HANDBACK_GRACE_S, finish_owed
from bot.handoff.presence import PAGE_SILENT_S
from bot.handoff.queue import utc
from bot.handoff.unanswered import customer_left_at
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom
from bot.ivr.handoff import QueueHandoff
from bot.ivr.held_calls import RENEW_S, HeldCalls
from bot.ivr.line import CallLines
from bot.renewing_thread import client_like
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_waiting_room import Conversations, agent_available


@pytest.fixture
def room(queue, clock, kefu_env):
    return WaitingRoom(queue, Conversations(clock), load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml"))


async def queue_call(queue, call_id: str) -> None:
    """A transfer node queues the call, as the process holding it does."""
    gateway = QueueHandoff(queue.redis, repository=None)
    gateway.queue = queue  # the test's clock and recorder
    await gateway.enqueue(conversation_id=f"ivr:{call_id}", skill="tv", priority=0, customer_id=None,
                          phone="13800000001", collected={"flow": "main", "path": ["transfer_tv"], "vars": {}})
    queue.clock.advance(1)


async def test_a_call_whose_process_died_is_not_claimed_and_leaves_the_queue_as_lost(room, queue, clock, events):
    await agent_available(queue)
    nobody_ahead = await queue.estimated_wait("tv", "ivr")
    queued_at = clock()
    await queue_call(queue, "MZdead")  # and then its process was killed: nobody vouches for the call again
    clock.advance(PAGE_SILENT_S + 1)
    await queue.roster.heartbeat("a1")  # the agent's desk is open

    assert await queue.take_next("a1") == ("empty", None), "a dead line is not handed to an agent"
    figures = {f["skill"]: f for f in await queue_figures(queue)}
    assert figures["tv"]["waiting"] == 0 and figures["tv"]["longest_wait_s"] == 0.0
    assert await queue.estimated_wait("tv", "ivr") == nobody_ahead, "the next caller does not wait behind it"

    await room.visit("ivr:MZdead")
    assert await queue.position("ivr:MZdead") is None, "out of the queue, not waiting for max_wait_s"
    assert events.data("handoff_abandoned") == [
        {"reason": "call_lost", "skill": "tv", "wait_s": pytest.approx(0.0, abs=0.01),
         "left_at": pytest.approx(queued_at, abs=0.01), "removed_at": pytest.approx(clock(), abs=0.01)}]
    assert room.conversations.resumed == {"ivr:MZdead": None}, "the assistant is no longer paused for it"


def renew_from_a_thread(held: HeldCalls, client) -> None:
    """One round of the process's renewing thread, run while the event loop is held up (joined here)."""
    renewal = threading.Thread(target=held.renew, args=(client,))
    renewal.start()
    renewal.join()


async def test_a_live_call_waits_as_long_as_it_takes_though_a_renewal_fails_and_is_claimed(room, queue, clock):
    held = HeldCalls(queue.redis, clock=clock)
    held.hold("ivr:MZlive")
    await queue_call(queue, "MZlive")
    client = client_like(queue.redis)
    for _ in range(10):  # ten minutes in line, every other renewal lost (Redis did not answer it)
        clock.advance(2 * RENEW_S)
        await room.visit("ivr:MZlive")
        assert (await queue.position("ivr:MZlive")).position == 1
        renew_from_a_thread(held, client)
    clock.advance(2 * RENEW_S)  # a renewal late again: the call is claimed all the same
    await agent_available(queue)
    assert (await queue.take_next("a1"))[1].conversation_id == "ivr:MZlive"
    for _ in range(10):  # with the agent: vouched for still, every other renewal lost
        renew_from_a_thread(held, client)
        clock.advance(2 * RENEW_S)
        assert await customer_left_at(queue, await queue.entry("ivr:MZlive")) is None, "the desk shows no caller gone"


async def test_after_redis_stopped_answering_a_live_call_is_kept_until_its_process_could_vouch_again(room, queue,
                                                                                                     clock, events):
    held = HeldCalls(queue.redis, clock=clock)
    held.hold("ivr:MZwait")
    await queue_call(queue, "MZwait")
    await room.tick()
    clock.advance(4 * RENEW_S)  # Redis down: no renewal landed, no pass of the waiting room ran
    await room.tick()
    assert (await queue.position("ivr:MZwait")).position == 1, "not dropped for a silence nobody could break"
    renew_from_a_thread(held, client_like(queue.redis))
    clock.advance(RENEW_S)
    await room.tick()
    assert (await queue.position("ivr:MZwait")).position == 1
    assert events.data("handoff_abandoned") == []


async def test_a_process_vouches_for_the_calls_its_lines_hold_and_stops_when_a_call_ends(queue, clock):
    """The runtime's wiring (bot.channels.ivr): a call's session attaches its line at the start and detaches
    it at the end. A call that ended while its leaving the queue failed (Redis not answering) is lost too."""
    async def spoken(_message: dict) -> None:
        pass

    held = HeldCalls(queue.redis, clock=clock)
    lines = CallLines(queue.redis, held)
    for call_id in ("MZended", "MZon"):
        lines.attach(call_id, spoken)
        await queue_call(queue, call_id)
    lines.detach("MZended")
    await agent_available(queue)
    for _ in range(4):
        clock.advance(RENEW_S)
        held.renew(client_like(queue.redis))
    assert (await queue.take_next("a1"))[1].conversation_id == "ivr:MZon", "not the call ahead of it, ended"


async def test_a_callback_booked_in_a_call_is_rung_though_the_call_ended_after_it_was_queued(queue, clock):
    """A booked callback is queued under the conversation it was booked in (``ivr:<call id>``) when it is
    due; the call may still be on the line then. Its process must not vouch for the callback as its call:
    once the call ended, the callback would be taken for a lost call and never rung."""
    from bot.handoff.queue import HandoffRequest

    held = HeldCalls(queue.redis, clock=clock)
    held.hold("ivr:MZbooked")  # the caller is still on the line when the callback falls due
    await queue.enqueue(HandoffRequest("ivr:MZbooked", "ivr", "tv", 0, None,
                                       {"callback": {"contact_id": 7, "phone": "13800000001"}}))
    held.renew(client_like(queue.redis))
    held.let_go("ivr:MZbooked")  # and then hangs up
    clock.advance(4 * RENEW_S)
    await agent_available(queue)
    assert (await queue.take_next("a1"))[1].conversation_id == "ivr:MZbooked", "the agent rings them"


async def test_a_supervisor_removing_a_lost_call_records_it_lost_and_says_nothing_into_it(queue, clock, events,
                                                                                          kefu_env):
    """A supervisor's 移出队列 on a call whose process died, before the waiting room saw it out, recorded the
    caller's abandonment as ``customer_gone`` (a web chat's closed page), and said utter_queue_removed
    (您的人工排队已由客服主管结束…) into a line that was gone. It is the same ``call_lost`` the waiting room
    records, and nothing is said."""
    import json

    from bot.channels import agent_desk
    from bot.db.repository import Repository
    from bot.handoff.accounts import SUPERVISOR, AccountStore
    from bot.handoff.desk import Desk
    from tests.handoff.test_desk_database_down import desk_request
    from tests.handoff.test_desk_first_shift import Conversations as DeskConversations

    accounts = AccountStore(kefu_env.database_url)
    accounts.add("boss", "boss-pass-1", ["tv"], role=SUPERVISOR)
    conversations = DeskConversations()
    desk = Desk(queue, conversations, accounts, Repository(kefu_env.database_url))
    queued_at = clock()
    await queue_call(queue, "MZgone")  # its process was killed
    clock.advance(PAGE_SILENT_S + 1)
    token, _ = await desk.login("boss", "boss-pass-1")
    answer = await agent_desk.remove_entry(desk_request(desk, token, "/agent/api/supervisor/queue"),
                                           conversation_id="ivr:MZgone")
    assert answer.status == 200 and json.loads(answer.body) == {"ok": True}
    [abandoned] = events.data("handoff_abandoned")
    assert abandoned["reason"] == "call_lost" and abandoned["left_at"] == pytest.approx(queued_at, abs=0.01)
    assert [response for response, _ in conversations.said.get("ivr:MZgone", [])] == [], "said into a dead line"


async def a_dead_call_is_passed_over_and_lost(room, queue, clock, events, conversation_id: str, skill: str,
                                              agent_id: str) -> None:
    """The process holding ``conversation_id`` died as it was queued (no renewal ever came): past
    ``PAGE_SILENT_S`` the agent's claim passes it over and the waiting room sees it out as lost."""
    clock.advance(PAGE_SILENT_S + 1)
    await queue.roster.register(agent_id, name="李明", skills=[skill], capacity=2, status="available")
    assert await queue.take_next(agent_id) == ("empty", None), "a dead line is not handed to an agent"
    await room.visit(conversation_id)
    assert await queue.position(conversation_id) is None, "out of the queue, not waiting for max_wait_s"
    assert [data["reason"] for data in events.data("handoff_abandoned")] == ["call_lost"]


async def test_a_call_the_assistant_queued_whose_process_then_died_is_not_claimed(room, queue, clock, events):
    """The assistant's own handoff during a call (the action server queues ``ivr:<call id>``, not the
    process holding the call): the process died before its first renewal."""
    from bot.handoff.service import request_handoff

    await request_handoff(conversation_id="ivr:MZasked", channel="ivr", skill="tv", priority=0,
                          reason="customer_asked", phone="13800000001", queue=queue)
    await a_dead_call_is_passed_over_and_lost(room, queue, clock, events, "ivr:MZasked", "tv", "a1")


async def claimed_then_process_died(queue, clock, call_id: str) -> str:
    """A call queued and claimed by agent a1 while its process vouched for it; the process dies then."""
    held = HeldCalls(queue.redis, clock=clock)
    held.hold(f"ivr:{call_id}")
    await queue_call(queue, call_id)
    await agent_available(queue)
    assert (await queue.take_next("a1"))[1].conversation_id == f"ivr:{call_id}"
    clock.advance(10 * RENEW_S)  # renewals ran meanwhile: none writes a claimed record
    held.renew(client_like(queue.redis))
    return f"ivr:{call_id}"


async def test_a_call_transferred_to_another_group_whose_process_then_died_is_not_claimed(room, queue, clock,
                                                                                         events):
    conversation_id = await claimed_then_process_died(queue, clock, "MZmoved")
    await queue.transfer(conversation_id, "a1", "broadband", note="宽带的问题")
    await a_dead_call_is_passed_over_and_lost(room, queue, clock, events, conversation_id, "broadband", "b1")


async def test_a_call_given_back_by_an_agent_who_left_whose_process_then_died_is_not_claimed(room, queue,
                                                                                            clock, events):
    from bot.handoff.departures import requeue

    conversation_id = await claimed_then_process_died(queue, clock, "MZback")
    await queue.roster.set_status("a1", "away")
    assert await requeue(queue, conversation_id, "a1", "signed_out")
    await a_dead_call_is_passed_over_and_lost(room, queue, clock, events, conversation_id, "tv", "b1")


async def test_the_desk_shows_a_call_whose_process_died_with_the_agent_as_cut_off_and_its_close_records_it_lost(
        queue, clock, events, kefu_env):
    """A call an agent took whose process then died stayed on the agent's list as a caller on the line, and
    its close counted it answered: the desk now shows it cut off (as a web chat whose page closed, offline)
    and the close records the caller's loss (``call_lost``), not an answer."""
    from bot.db.repository import Repository
    from bot.handoff.accounts import AccountStore
    from bot.handoff.desk import Desk
    from tests.handoff.test_desk_first_shift import Conversations as DeskConversations

    AccountStore(kefu_env.database_url).add("a1", "a1-pass-1", ["tv"])
    desk = Desk(queue, DeskConversations(), AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    conversation_id = await claimed_then_process_died(queue, clock, "MZcut")
    assert [e["customer_left_at"] for e in await desk._serving_entries("a1")] == [None], "on the line"
    died_at = clock()
    clock.advance(PAGE_SILENT_S + 1)
    [shown] = await desk._serving_entries("a1")
    assert shown["customer_left_at"] == pytest.approx(died_at, abs=0.01), "the desk shows the call cut off"
    assert (await desk.close("a1", conversation_id, "resolved"))["customer_gone"] is True
    [lost] = events.data("handoff_abandoned")
    assert lost["reason"] == "call_lost" and lost["agent_id"] == "a1"
    assert "handoff_closed" not in events.kinds(conversation_id), "not counted answered"


async def test_a_call_bridged_to_the_agents_phone_is_not_shown_cut_off_when_its_stream_ends(queue, clock):
    """The carrier connects the caller to the agent's own phone and ends the media stream: the process lets
    the call go (no more vouching), but the agent is talking to the caller."""
    from bot.ivr.call_state import bridged_key

    conversation_id = await claimed_then_process_died(queue, clock, "MZbridged")
    await queue.redis.set(bridged_key("MZbridged"), "a1")
    clock.advance(10 * PAGE_SILENT_S)
    assert await customer_left_at(queue, await queue.entry(conversation_id)) is None


def desk_of_a1(queue, kefu_env, conversations=None):
    """Agent a1's desk (tv), on the test's queue and a real database."""
    from bot.db.repository import Repository
    from bot.handoff.accounts import AccountStore
    from bot.handoff.desk import Desk
    from tests.handoff.test_desk_first_shift import Conversations as DeskConversations

    AccountStore(kefu_env.database_url).add("a1", "a1-pass-1", ["tv"])
    return Desk(queue, conversations or DeskConversations(), AccountStore(kefu_env.database_url),
                Repository(kefu_env.database_url))


async def test_closing_a_call_lost_before_any_exchange_is_confirmed_as_a_lost_call(queue, clock, kefu_env):
    """Found in review: the desk confirmed the close of a lost call with closed_customer_gone
    (客户在您接入前已离开, a web chat's customer who left before the agent joined). The close's answer now says the call was lost,
    and the desk words that (closed_call_lost_unanswered, bot/web/agent/agent.js)."""
    desk = desk_of_a1(queue, kefu_env)
    conversation_id = await claimed_then_process_died(queue, clock, "MZquiet")
    clock.advance(PAGE_SILENT_S + 1)
    assert await desk.close("a1", conversation_id, "resolved") == {"ticket_id": None, "customer_gone": True,
                                                                   "call_lost": True}


def reply_lost_after(queue, script_name: str) -> None:
    """The queue's script ``script_name`` runs, and its reply is lost: the caller sees Redis time out."""
    script = getattr(queue, script_name)

    async def cut_off(*args, **kwargs):
        setattr(queue, script_name, script)
        await script(*args, **kwargs)
        raise RedisTimeoutError("Timeout reading from socket")

    setattr(queue, script_name, cut_off)


@pytest.mark.parametrize("cut_off", [False, True])  # True: the close's reply lost; the waiting room records it
async def test_a_call_cut_off_after_words_with_the_agent_closes_as_the_agent_chose_and_is_recorded_lost(
        queue, clock, events, kefu_env, cut_off):
    """Found in review: a call whose process died after the caller and the agent had spoken stayed on the
    desk cut off until the agent closed it, and its close was recorded as a plain handoff_closed, told
    from a call that ended well by nothing. It keeps the agent's disposition, notes the loss (reason
    call_lost, left_at, as a call lost before any exchange), its handle time ends at the loss, and the
    close's answer says the call was lost (the desk words it: closed_call_lost). A close cut off after its
    script is recorded so too, by the waiting room's look at the hand-backs owed, dated when it was made."""
    from tests.handoff.test_desk_first_shift import Conversations as DeskConversations

    class Spoken(DeskConversations):
        """The caller spoke to the agent after the claim (their words transcribed into the conversation)."""
        async def events(self, conversation_id: str) -> list[dict]:
            return [{"event": "user", "text": "电视还是没信号", "timestamp": spoke_at}]

    desk = desk_of_a1(queue, kefu_env, Spoken())
    conversation_id = await claimed_then_process_died(queue, clock, "MZtalked")
    claimed_at = (await queue.entry(conversation_id))["claimed_at"]
    spoke_at = claimed_at + 5
    died_at = clock()
    clock.advance(PAGE_SILENT_S + 1)
    [shown] = await desk._serving_entries("a1")
    assert shown["customer_left_at"] == pytest.approx(died_at, abs=0.01), "the desk shows the call cut off"

    closed_at = clock()
    if cut_off:
        reply_lost_after(queue, "_close")
        with pytest.raises(RedisTimeoutError):
            await desk.close("a1", conversation_id, "resolved")
        clock.advance(HANDBACK_GRACE_S + 1)
        await finish_owed(queue, desk.conversations)
    else:
        answer = await desk.close("a1", conversation_id, "resolved")
        assert answer.get("call_lost") is True and "customer_gone" not in answer, answer
    [closed] = events.data("handoff_closed")
    if cut_off:
        assert closed["at"] == utc(closed_at)
    assert closed["disposition"] == "resolved" and closed["agent_id"] == "a1"
    assert closed["reason"] == "call_lost" and closed["left_at"] == pytest.approx(died_at, abs=0.01)
    assert closed["handle_s"] == pytest.approx(died_at - claimed_at, abs=0.01), "not the minutes until noticed"
    assert [float(v) for v in await queue.redis.lrange(keys.handle_times("tv"), 0, -1)] == \
        [pytest.approx(died_at - claimed_at, abs=0.01)], "so is the handle time the estimates use, once"
    assert events.data("handoff_abandoned") == [], "it was answered: words were exchanged"
    assert await desk._serving_entries("a1") == []
    if cut_off:  # 结束 pressed again after the error: confirmed as the lost call's close it was, recorded once
        assert await desk.close("a1", conversation_id, "resolved") == {
            "ticket_id": None, "disposition": "resolved", "closed_before": True, "call_lost": True}
        assert len(events.data("handoff_closed")) == 1


async def test_a_call_on_the_line_closes_with_no_loss_noted(queue, clock, events, kefu_env):
    desk = desk_of_a1(queue, kefu_env)
    held = HeldCalls(queue.redis, clock=clock)
    held.hold("ivr:MZwell")
    await queue_call(queue, "MZwell")
    await agent_available(queue)
    assert (await queue.take_next("a1"))[1].conversation_id == "ivr:MZwell"
    clock.advance(RENEW_S)
    held.renew(client_like(queue.redis))
    assert "call_lost" not in await desk.close("a1", "ivr:MZwell", "resolved")
    [closed] = events.data("handoff_closed")
    assert "reason" not in closed and "left_at" not in closed


@pytest.mark.parametrize("spoken", [False, True])  # lost before any exchange; lost after words with the agent
async def test_an_agents_close_of_a_lost_call_reads_the_callers_absence_once(queue, clock, kefu_env, monkeypatch,
                                                                              spoken):
    """Found in review: the close read the caller's absence twice, in two Redis reads (once for a caller gone
    before any exchange, once for a call lost), and so could answer from two different moments of the call."""
    from bot.handoff import unanswered
    from tests.handoff.test_desk_first_shift import Conversations as DeskConversations

    class Spoken(DeskConversations):
        async def events(self, conversation_id: str) -> list[dict]:
            return [{"event": "user", "text": "电视还是没信号", "timestamp": claimed_at + 5}] if spoken else []

    desk = desk_of_a1(queue, kefu_env, Spoken())
    conversation_id = await claimed_then_process_died(queue, clock, f"MZonce{int(spoken)}")
    claimed_at = (await queue.entry(conversation_id))["claimed_at"]
    clock.advance(PAGE_SILENT_S + 1)
    reads = []
    real = unanswered.customer_gone

    async def read(*args, **kwargs):
        reads.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(unanswered, "customer_gone", read)
    answer = await desk.close("a1", conversation_id, "resolved")
    assert answer["call_lost"] is True and answer.get("customer_gone", False) is not spoken, answer
    assert len(reads) == 1, "one read of the caller's absence"
