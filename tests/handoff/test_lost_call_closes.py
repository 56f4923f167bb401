"""A call lost while an agent held it (its process died, and the caller's line with it): what its close says,
where its ticket's number goes, and whether it can be handed to the next agent.

Real Redis queue and database, real ``RasaConversations`` over the Redis tracker store with its bot messages
delivered as Rasa's processor delivers them, on the phone's output channel (``bot.ivr.line_output``): what a
close publishes for the call is read off the call's line. Found in review:

- the agent's close of a lost call, and the waiting room's finish of one cut off, said 人工客服已结束本次服务 and
  the ticket's number into the dead line (the transcript showed the caller told what nobody heard), and the
  caller never learnt the ticket's number: it now goes by SMS, through the outbox;
- a lost call could be transferred, and the transfer's script vouched for it afresh: the next group's agent
  was handed a dead line; the desk now refuses it (error_transfer_call_lost), and a call lost before anyone
  knew keeps its process's last word through a transfer or a return to the queue.
"""
from __future__ import annotations

import json
import time

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, UserUttered
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.handoff import masking
from bot.handoff.departures import requeue
from bot.handoff.desk import DeskError
from bot.handoff.handback import HANDBACK_GRACE_S, finish_owed
from bot.handoff.presence import PAGE_SILENT_S
from bot.ivr import line
from bot.ivr.line_output import IvrLineOutput
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_desk_proof_ends import Processor, domain  # noqa: F401 - fixture
from tests.handoff.test_lost_calls import claimed_then_process_died, desk_of_a1, reply_lost_after, room  # noqa: F401
from tests.handoff.test_waiting_room import agent_available

CALLER_LINE = "13800000001"  # the caller's own line, vouched for by the trunk (test_lost_calls.queue_call)


class Delivering(Processor):
    """As Rasa's processor: each bot message said goes out on the conversation's output channel."""

    async def execute_side_effects(self, events, tracker, output) -> None:
        for event in events:
            await output.send_response(tracker.sender_id, event.message())


class PhoneChannel:
    """The phone's input channel as the Rasa server registers it: its output reaches a call from any process."""

    def __init__(self, redis) -> None:
        self.redis = redis

    @staticmethod
    def name() -> str:
        return "ivr"

    def get_output_channel(self):
        return IvrLineOutput(self.redis)


@pytest.fixture
def conversations(redis, redis_url, domain):  # noqa: F811
    from types import SimpleNamespace

    from rasa.core.lock_store import InMemoryLockStore

    from bot.handoff.conversations import RasaConversations
    from bot.settings import redis_parts
    from bot.tracker_store import IncrementalRedisTrackerStore

    parts = redis_parts(redis_url)
    store = IncrementalRedisTrackerStore(domain, host=parts["host"], port=parts["port"], db=parts["db"])
    agent = SimpleNamespace(tracker_store=store, lock_store=InMemoryLockStore(), domain=domain,
                            processor=Delivering(store, domain))
    return RasaConversations(SimpleNamespace(ctx=SimpleNamespace(agent=agent, input_channels=[PhoneChannel(redis)])))


class Line:
    """What is published on a call's line (``bot.ivr.line``), read in order up to a mark the test publishes last."""

    def __init__(self, redis, call_id: str) -> None:
        self.redis, self.call_id = redis, call_id
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)

    async def __aenter__(self) -> "Line":
        await self.pubsub.subscribe(line.line(self.call_id, self.redis))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.pubsub.aclose() if hasattr(self.pubsub, "aclose") else await self.pubsub.close()

    async def published(self, deadline_s: float = 10.0) -> list[dict]:
        """Everything published for the call so far: read until the mark published now comes through."""
        await line.publish(self.redis, self.call_id, {"kind": "test_mark"})
        seen, until = [], time.monotonic() + deadline_s
        while time.monotonic() < until:
            item = await self.pubsub.get_message(timeout=until - time.monotonic())
            if item is None:
                continue
            message = json.loads(item["data"])
            if message.get("kind") == "test_mark":
                return seen
            seen.append(message)
        raise AssertionError("the line's messages did not come through in time")


async def with_the_agent(conversations, conversation_id: str, since: float) -> None:
    """The caller asked for a person, and the assistant paused the conversation for the agent."""
    agent = conversations.agent
    tracker = await agent.tracker_store.get_or_create_tracker(conversation_id)
    for event in (UserUttered("转人工", timestamp=since - 60), ActionExecuted("action_listen"), ConversationPaused()):
        tracker.update(event, agent.domain)
    await agent.tracker_store.save(tracker)


async def caller_says(conversations, conversation_id: str, text: str, at: float) -> None:
    """The caller's words to the agent, transcribed into the conversation."""
    agent = conversations.agent
    tracker = await agent.tracker_store.retrieve(conversation_id)
    tracker.update(UserUttered(text, timestamp=at), agent.domain)
    await agent.tracker_store.save(tracker)


async def said_to_the_caller(conversations, conversation_id: str, after: float) -> list[str]:
    """The transcript's bot messages since ``after``: what the caller would have been told."""
    tracker = await conversations.agent.tracker_store.retrieve(conversation_id)
    return [e.text for e in tracker.events if isinstance(e, BotUttered) and e.timestamp > after]


async def lost_with_the_agent(queue, clock, conversations, call_id: str, *, spoke: bool) -> str:
    """A call queued, claimed by a1 and then lost (its process died); ``spoke``: after words with the agent."""
    await with_the_agent(conversations, f"ivr:{call_id}", clock())
    conversation_id = await claimed_then_process_died(queue, clock, call_id)
    if spoke:
        await caller_says(conversations, conversation_id, "电视还是没信号",
                          (await queue.entry(conversation_id))["claimed_at"] + 5)
    clock.advance(PAGE_SILENT_S + 1)
    return conversation_id


def texts_to(kefu_env, number: str) -> list[dict]:
    from bot.db.repository import Repository

    return [row for row in Repository(kefu_env.database_url).outbound(status="pending", channel="sms", limit=1000)
            if row["recipient"] == number]


@pytest.mark.parametrize("spoke", [True, False], ids=["after_words", "before_any_exchange"])
@pytest.mark.parametrize("disposition", ["ticket", "callback"])
async def test_a_lost_calls_close_says_nothing_into_the_line_and_texts_the_ticket(queue, clock, events, kefu_env,
                                                                                  redis, conversations, spoke,
                                                                                  disposition):
    conversation_id = await lost_with_the_agent(queue, clock, conversations, f"MZ{disposition}{spoke}", spoke=spoke)
    desk = desk_of_a1(queue, kefu_env, conversations)
    started = time.time()
    async with Line(redis, conversation_id[len("ivr:"):]) as call_line:
        answer = await desk.close("a1", conversation_id, disposition)
        published = await call_line.published()

    assert answer["call_lost"] is True and answer["ticket_id"]
    assert [m for m in published if m["kind"] == "message"] == [], "nothing is spoken into the dead line"
    assert await said_to_the_caller(conversations, conversation_id, started) == [], \
        "the transcript does not show the caller told what nobody heard"
    assert not (await conversations.agent.tracker_store.retrieve(conversation_id)).is_paused(), "the assistant's again"

    [text] = texts_to(kefu_env, CALLER_LINE)
    assert text["kind"] == ("agent_ticket_filed" if disposition == "ticket" else "agent_callback_booked")
    assert answer["ticket_id"] in text["payload"]["text"], "the caller learns the ticket's number by SMS"
    assert answer["notice_texted"] == masking.mask_phone(CALLER_LINE), "the desk tells the agent where it went"
    # Recorded as before: after words, the agent's disposition noted lost; before any, the caller's abandonment.
    if spoke:
        [closed] = events.data("handoff_closed")
        assert closed["reason"] == "call_lost" and closed["disposition"] == disposition
    else:
        [abandoned] = events.data("handoff_abandoned")
        assert abandoned["reason"] == "call_lost" and "handoff_closed" not in events.kinds(conversation_id)


@pytest.mark.parametrize("cut_off", [False, True], ids=["closed", "finished_by_the_waiting_room"])
@pytest.mark.parametrize("reason", ["opt_out", "dnd"])
async def test_a_lost_calls_close_does_not_text_a_caller_who_opted_out_and_says_so(queue, clock, events, kefu_env,
                                                                                 conversations, reason, cut_off):
    """Found in review: the ticket's SMS of a lost call's close ignored the caller's TD (or an operator's
    do-not-disturb), which promises no more texts Kefu sends on its own. Nothing is texted, by the close or by the
    waiting room's finish of one cut off; the desk's answer says why (``notice_withheld``, worded by the desk) and
    the ticket's history notes that the caller does not know its number."""
    from bot.contacts.schedule import Schedule
    from bot.db.repository import Repository
    from bot.ticket_notes import history_entry

    repository = Repository(kefu_env.database_url)
    Schedule(repository).block(f"phone:{CALLER_LINE}", reason, "test")
    call_id = f"MZout{reason}{cut_off}"
    conversation_id = await lost_with_the_agent(queue, clock, conversations, call_id, spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    if cut_off:
        reply_lost_after(queue, "_close")
        with pytest.raises(RedisTimeoutError):
            await desk.close("a1", conversation_id, "ticket")
        clock.advance(HANDBACK_GRACE_S + 1)
        assert await finish_owed(queue, conversations) == [conversation_id]
        [ticket_id] = [t["ticket_id"] for t in repository.tickets_for(None, conversation_id=conversation_id)]
    else:
        answer = await desk.close("a1", conversation_id, "ticket")
        assert answer["notice_withheld"] == reason and "notice_texted" not in answer, "the desk says why"
        ticket_id = answer["ticket_id"]
        shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
        key = "closed_call_lost_ticket_dnd" if reason == "dnd" else "closed_call_lost_ticket_opted_out"
        assert "{ticket_id}" in shown[key] and "未发短信" in shown[key]

    assert texts_to(kefu_env, CALLER_LINE) == [], "the caller opted out of our texts"
    assert [(history_entry(row["note"]) or {}).get("kind") for row in repository.ticket_history(ticket_id)].count(
        f"sms_withheld_{reason}") == 1, "the ticket's history says the caller was not texted its number, once"


async def test_a_lost_calls_close_resolved_says_nothing_and_texts_nothing(queue, clock, events, kefu_env, redis,
                                                                          conversations):
    conversation_id = await lost_with_the_agent(queue, clock, conversations, "MZresolved", spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    started = time.time()
    async with Line(redis, "MZresolved") as call_line:
        answer = await desk.close("a1", conversation_id, "resolved")
        published = await call_line.published()
    assert answer == {"ticket_id": answer["ticket_id"], "call_lost": True}
    assert [m for m in published if m["kind"] == "message"] == []
    assert await said_to_the_caller(conversations, conversation_id, started) == []
    assert texts_to(kefu_env, CALLER_LINE) == []


async def test_a_lost_calls_close_cut_off_is_finished_without_a_word_and_its_ticket_texted(queue, clock, events,
                                                                                         kefu_env, redis,
                                                                                         conversations):
    """The close's reply lost after its script (Redis timing out): the waiting room's finish of the hand-back,
    30 s later, said the hand-back message and the ticket's number into the line; it says nothing, and the
    ticket's SMS the close never queued is queued then, once."""
    conversation_id = await lost_with_the_agent(queue, clock, conversations, "MZcut", spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    started = time.time()
    reply_lost_after(queue, "_close")
    with pytest.raises(RedisTimeoutError):
        await desk.close("a1", conversation_id, "ticket")
    clock.advance(HANDBACK_GRACE_S + 1)
    async with Line(redis, "MZcut") as call_line:
        assert await finish_owed(queue, conversations) == [conversation_id]
        assert await finish_owed(queue, conversations) == [], "once"
        published = await call_line.published()
    assert [m for m in published if m["kind"] == "message"] == []
    assert await said_to_the_caller(conversations, conversation_id, started) == []
    assert not (await conversations.agent.tracker_store.retrieve(conversation_id)).is_paused()
    [text] = texts_to(kefu_env, CALLER_LINE)
    assert text["kind"] == "agent_ticket_filed" and text["payload"]["ticket_id"] in text["payload"]["text"]
    [closed] = events.data("handoff_closed")
    assert closed["reason"] == "call_lost" and closed["disposition"] == "ticket"


async def test_a_lost_calls_ticket_close_pressed_again_answers_with_its_ticket_and_texts_once(queue, clock, kefu_env,
                                                                                                conversations):
    """The agent presses 结束 again (the first answer lost on its way to the page): the answer names the ticket the
    close filed, as the first did. Found in review: once the SMS was queued the close's noted words no longer held it,
    and the retry answered with no ticket."""
    conversation_id = await lost_with_the_agent(queue, clock, conversations, "MZagain", spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    first = await desk.close("a1", conversation_id, "ticket")
    again = await desk.close("a1", conversation_id, "ticket")
    assert first["ticket_id"] and again["ticket_id"] == first["ticket_id"]
    assert again["closed_before"] is True and again["call_lost"] is True
    clock.advance(HANDBACK_GRACE_S + 1)
    await finish_owed(queue, conversations)
    assert len(texts_to(kefu_env, CALLER_LINE)) == 1, "texted once"


async def test_a_lost_call_is_not_transferred_and_the_desk_says_why(queue, clock, events, kefu_env, conversations):
    conversation_id = await lost_with_the_agent(queue, clock, conversations, "MZnowhere", spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    with pytest.raises(DeskError) as refused:
        await desk.close("a1", conversation_id, "transfer", skill="broadband", note="宽带的问题")
    assert (refused.value.code, refused.value.status) == ("error_transfer_call_lost", 409)
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert "不能转接" in shown["error_transfer_call_lost"], "the desk words the refusal"
    assert [e["conversation_id"] for e in await desk._serving_entries("a1")] == [conversation_id], \
        "still the agent's, to close"
    await queue.roster.register("b1", name="李明", skills=["broadband"], capacity=2, status="available")
    assert await queue.take_next("b1") == ("empty", None), "the next group's agent is handed no dead line"
    assert events.kinds(conversation_id).count("handoff_queued") == 1, "queued once, by the call itself"
    assert (await desk.close("a1", conversation_id, "ticket"))["call_lost"] is True


@pytest.mark.parametrize("how", ["transferred", "given_back"])
async def test_a_call_lost_before_it_was_known_is_not_handed_to_the_next_agent(room, queue, clock, events,  # noqa: F811
                                                                              kefu_env, conversations, how):
    """A transfer (the loss not yet known to the desk) or a return to the queue (the agent signed out) wrote a
    fresh word for the call: the next agent claimed a dead line up to PAGE_SILENT_S later. It keeps its process's
    last word: passed over at once, and seen out of the queue as lost, with nothing said into it."""
    await with_the_agent(conversations, "ivr:MZlate", clock())
    conversation_id = await claimed_then_process_died(queue, clock, "MZlate")
    clock.advance(PAGE_SILENT_S - 5)  # its process died; nobody can tell yet
    if how == "transferred":
        await desk_of_a1(queue, kefu_env, conversations).close("a1", conversation_id, "transfer", skill="broadband")
        skill = "broadband"
    else:
        await queue.roster.set_status("a1", "away")
        assert await requeue(queue, conversation_id, "a1", "signed_out")
        skill = "tv"
    clock.advance(6)  # now past PAGE_SILENT_S since its process's last word
    await queue.roster.register("b1", name="李明", skills=[skill], capacity=2, status="available")
    assert await queue.take_next("b1") == ("empty", None), "a dead line is not handed to the next agent"
    await queue.roster.heartbeat("b1")
    await room.visit(conversation_id)
    assert await queue.position(conversation_id) is None
    assert [d["reason"] for d in events.data("handoff_abandoned")] == ["call_lost"]
    assert room.conversations.responses(conversation_id) == [] and room.conversations.resumed == {
        conversation_id: None}, "seen out without a word: no 'your agent left' into the dead line"


async def test_a_live_call_transferred_is_still_vouched_for_and_claimed(queue, clock, kefu_env, conversations):
    """The other side: a call on the line keeps its process's fresh word through the transfer."""
    from bot.ivr.held_calls import RENEW_S, HeldCalls
    from bot.renewing_thread import client_like
    from tests.handoff.test_lost_calls import queue_call

    held = HeldCalls(queue.redis, clock=clock)
    held.hold("ivr:MZalive")
    await with_the_agent(conversations, "ivr:MZalive", clock())
    await queue_call(queue, "MZalive")
    await agent_available(queue)
    assert (await queue.take_next("a1"))[1].conversation_id == "ivr:MZalive"
    for _ in range(6):  # three minutes with the agent, its process vouching all along
        clock.advance(RENEW_S)
        held.renew(client_like(queue.redis))
    await desk_of_a1(queue, kefu_env, conversations).close("a1", "ivr:MZalive", "transfer", skill="broadband")
    clock.advance(RENEW_S)
    held.renew(client_like(queue.redis))
    await queue.roster.register("b1", name="李明", skills=["broadband"], capacity=2, status="available")
    assert (await queue.take_next("b1"))[1].conversation_id == "ivr:MZalive"


async def test_an_agents_words_or_selfhelp_for_a_lost_call_are_refused_and_nothing_is_said(queue, clock, kefu_env,
                                                                                          redis, conversations):
    """The desk shows the call cut off (客户听不到您的消息), yet a message typed, or self-help pushed, was said into
    the dead line and kept in the transcript as told to the caller. Refused, with the reason on the desk."""
    conversation_id = await lost_with_the_agent(queue, clock, conversations, "MZsilent", spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    started = time.time()
    async with Line(redis, "MZsilent") as call_line:
        with pytest.raises(DeskError) as typed:
            await desk.send("a1", "王芳", conversation_id, "您好，请问还在线吗？")
        with pytest.raises(DeskError) as pushed:
            await desk.push_selfhelp("a1", conversation_id, "tv_no_signal")
        published = await call_line.published()
    assert (typed.value.code, pushed.value.code) == ("error_call_lost", "error_call_lost")
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert "通话已中断" in shown["error_call_lost"]
    assert published == [] and await said_to_the_caller(conversations, conversation_id, started) == []


def cut_off_after_the_text_was_queued(monkeypatch) -> None:
    """The close queues the SMS, then Redis does not answer as it notes the SMS queued (or its process dies there)."""
    from bot.handoff import lost_calls

    noted = lost_calls.texted

    async def cut_off(*args, **kwargs):
        monkeypatch.setattr(lost_calls, "texted", noted)
        raise RedisTimeoutError("Timeout reading from socket")

    monkeypatch.setattr(lost_calls, "texted", cut_off)


async def closed_after_queueing_the_text(queue, clock, kefu_env, conversations, monkeypatch, stream_sid: str):
    """A lost call's close by a1, cut off (Redis timing out) just after the ticket's SMS was queued: (the
    conversation, the desk)."""
    conversation_id = await lost_with_the_agent(queue, clock, conversations, stream_sid, spoke=True)
    desk = desk_of_a1(queue, kefu_env, conversations)
    cut_off_after_the_text_was_queued(monkeypatch)
    with pytest.raises(RedisTimeoutError):
        await desk.close("a1", conversation_id, "ticket")
    assert len(texts_to(kefu_env, CALLER_LINE)) == 1, "queued before the cut-off"
    return conversation_id, desk


@pytest.mark.parametrize("then", ["pressed_again", "finished_by_the_waiting_room", "both_at_once"])
async def test_a_lost_calls_close_cut_off_after_queueing_its_sms_texts_the_caller_once(queue, clock, kefu_env,
                                                                                       conversations, monkeypatch,
                                                                                       then):
    """Found in review: a close cut off between queueing the ticket's SMS and noting it queued left the SMS owed in
    its words; the agent's retry (or the waiting room's finish, or both at once, from two processes) queued it
    again, and the caller got the ticket's number twice. Queued once per close, whoever finishes it."""
    import asyncio

    conversation_id, desk = await closed_after_queueing_the_text(queue, clock, kefu_env, conversations, monkeypatch,
                                                                  f"MZtwice{then}")
    clock.advance(HANDBACK_GRACE_S + 1)
    if then == "pressed_again":
        again = await desk.close("a1", conversation_id, "ticket")
        assert again["closed_before"] is True and again["ticket_id"]
    elif then == "finished_by_the_waiting_room":
        assert await finish_owed(queue, conversations) == [conversation_id]
    else:
        await asyncio.gather(desk.close("a1", conversation_id, "ticket"), finish_owed(queue, conversations))
    await finish_owed(queue, conversations)
    [text] = texts_to(kefu_env, CALLER_LINE)
    assert text["kind"] == "agent_ticket_filed", "the caller gets the ticket's number once"


@pytest.mark.parametrize("then", ["pressed_again", "finished_by_the_waiting_room"])
async def test_a_lost_calls_close_cut_off_after_queueing_its_sms_texts_the_caller_once_hours_later_too(
        queue, clock, kefu_env, conversations, monkeypatch, then):
    """Found in review: the SMS's once-key receipt was deleted by the tidy pass an hour after it was queued, with the
    receipts of plain retried writes, while the SMS was still owed in the close's queue record: the close pressed
    again, or the waiting room's finish, hours later (Redis back after an outage) queued it again."""
    from bot.db.repository import Repository
    from tests.receipts_aged import hours_later

    conversation_id, desk = await closed_after_queueing_the_text(queue, clock, kefu_env, conversations, monkeypatch,
                                                                  f"MZlater{then}")

    clock.advance(3 * 3600)  # Redis back three hours on, kefu run's tidy pass going on meanwhile
    hours_later(kefu_env, Repository(kefu_env.database_url).engine, 3 * 3600)
    if then == "pressed_again":
        again = await desk.close("a1", conversation_id, "ticket")
        assert again["closed_before"] is True and again["ticket_id"]
    else:
        assert await finish_owed(queue, conversations) == [conversation_id]
    await finish_owed(queue, conversations)
    assert [text["kind"] for text in texts_to(kefu_env, CALLER_LINE)] == ["agent_ticket_filed"], \
        "the caller gets the ticket's number once"


@pytest.mark.parametrize("then", ["pressed_again", "finished_by_the_waiting_room", "seen_out_then_pressed_again"])
async def test_a_transfer_cut_off_whose_call_was_lost_says_nothing_and_leaves_no_ghost_in_the_queue(
        queue, clock, events, kefu_env, redis, conversations, then):
    """Found in review: an agent transferred a call whose process had died, before anyone could tell (its last word
    under PAGE_SILENT_S old), and the transfer was cut off after the queue's script. Its finish (the agent pressing
    转接 again, or the waiting room 30 s on), by then with the loss known, said "已为您转接" and the caller's place into
    the dead line (the transcript shows them told) and answered the desk as a transfer made (once the waiting room had
    seen the call out: 该会话已结束，或不是由您接待). Nothing is said now, the call leaves the new group's queue as lost (as
    the waiting room sees a lost call out), and the desk is told."""
    from bot.handoff.transfer_owed import TRANSFER_GRACE_S
    from bot.handoff.transfer_owed import finish_owed as finish_owed_transfers
    from bot.handoff.waiting_settings import load_waiting_room
    from bot.handoff.watcher import WaitingRoom

    await with_the_agent(conversations, f"ivr:MZmoved{then}", clock())
    conversation_id = await claimed_then_process_died(queue, clock, f"MZmoved{then}")
    clock.advance(PAGE_SILENT_S - 5)  # its process died; nobody can tell yet
    desk = desk_of_a1(queue, kefu_env, conversations)
    reply_lost_after(queue, "_transfer")
    with pytest.raises(RedisTimeoutError):
        await desk.close("a1", conversation_id, "transfer", skill="broadband")
    started = time.time()
    async with Line(redis, f"MZmoved{then}") as call_line:
        if then == "pressed_again":
            clock.advance(6)  # the loss is known now
            again = await desk.close("a1", conversation_id, "transfer", skill="broadband")
            assert again["call_lost"] is True and again["closed_before"] is True, "the desk is told the call was lost"
            shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
            assert "未转接" in shown["closed_transfer_call_lost"], "and words it (bot/web/agent/agent.js)"
        elif then == "finished_by_the_waiting_room":
            clock.advance(TRANSFER_GRACE_S + 1)
            assert await finish_owed_transfers(queue, conversations) == []
        else:  # the waiting room saw the lost call out of the queue before the agent pressed again
            clock.advance(6)
            await WaitingRoom(queue, conversations, load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml")
                              ).visit(conversation_id)
            again = await desk.close("a1", conversation_id, "transfer", skill="broadband")
            assert again["call_lost"] is True and again["closed_before"] is True, "the desk is told the call was lost"
        published = await call_line.published()

    assert [m for m in published if m["kind"] == "message"] == [], "nothing is spoken into the dead line"
    assert await said_to_the_caller(conversations, conversation_id, started) == [], \
        "the transcript does not show the caller told what nobody heard"
    assert await queue.position(conversation_id) is None, "not left waiting in the new group's queue"
    assert [d["reason"] for d in events.data("handoff_abandoned")] == ["call_lost"]
    await queue.roster.register("b1", name="李明", skills=["broadband"], capacity=2, status="available")
    assert await queue.take_next("b1") == ("empty", None)
    assert not (await conversations.agent.tracker_store.retrieve(conversation_id)).is_paused(), "the assistant's again"


async def test_a_call_lost_as_the_desk_checked_it_is_not_transferred_and_its_ticket_is_texted(queue, clock, events,
                                                                                            kefu_env, redis,
                                                                                            conversations):
    """The desk read the call live, and the loss became known before the queue's script moved it (the request slow
    between the two): the transfer went ahead, said "已为您转接" into the dead line and queued it for the next group.
    Refused as a lost call's transfer is (the script checks the process's last word itself): nothing said, nothing
    queued, the agent keeps it and closes it as a lost call, the ticket's number going by SMS."""
    await with_the_agent(conversations, "ivr:MZrace", clock())
    conversation_id = await claimed_then_process_died(queue, clock, "MZrace")
    clock.advance(PAGE_SILENT_S - 1)  # its process died; the desk cannot tell yet
    desk = desk_of_a1(queue, kefu_env, conversations)
    transfer = queue.transfer

    async def slow(*args, **kwargs):
        clock.advance(2)  # the loss is known by the time the queue moves it
        return await transfer(*args, **kwargs)

    queue.transfer = slow
    started = time.time()
    async with Line(redis, "MZrace") as call_line:
        with pytest.raises(DeskError) as refused:
            await desk.close("a1", conversation_id, "transfer", skill="broadband")
        published = await call_line.published()
    queue.transfer = transfer
    assert (refused.value.code, refused.value.status) == ("error_transfer_call_lost", 409), "the desk says why"
    assert published == [] and await said_to_the_caller(conversations, conversation_id, started) == []
    assert [e["conversation_id"] for e in await desk._serving_entries("a1")] == [conversation_id], \
        "still the agent's, to close"
    await queue.roster.register("b1", name="李明", skills=["broadband"], capacity=2, status="available")
    assert await queue.take_next("b1") == ("empty", None), "not queued for the next group"
    closed = await desk.close("a1", conversation_id, "ticket")
    assert closed["call_lost"] is True and closed["notice_texted"] == masking.mask_phone(CALLER_LINE)
    assert len(texts_to(kefu_env, CALLER_LINE)) == 1
