"""The waiting room on a real Redis queue: it keeps helping, tells the truth about waits, lets ghosts go.

The Rasa side is a small stand-in that keeps each conversation's events and what was said into
it (the same calls the real ``RasaConversations`` offers); the browser and stack tests
drive the real one.
"""
from __future__ import annotations

import datetime
import re

import pytest
import yaml

from bot.handoff import keys
from bot.handoff.estimate import wait_minutes
from bot.handoff.presence import mark_customer_seen
from bot.handoff.queue import HandoffRequest
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom, notice_state
from tests.conftest import PROJECT_ROOT


class Conversations:
    """Stand-in for ``RasaConversations``: events in, responses out."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.log: dict[str, list[dict]] = {}
        self.said: dict[str, list[tuple[str, dict]]] = {}
        self.resumed: dict[str, str | None] = {}

    def customer(self, conversation_id: str, text: str, intent: str = "nlu_fallback") -> None:
        self.log.setdefault(conversation_id, []).append({
            "event": "user", "text": text, "timestamp": self.clock(),
            "parse_data": {"intent": {"name": intent, "confidence": 0.99}}})

    async def events(self, conversation_id: str) -> list[dict]:
        return list(self.log.get(conversation_id, []))

    async def stored_count(self, conversation_id: str) -> int:
        """Like the tracker store: everything said into the conversation, by the customer or the bot."""
        return len(self.log.get(conversation_id, [])) + len(self.said.get(conversation_id, []))

    async def utter(self, conversation_id: str, response: str, *, still_owed=None, **values) -> bool | None:
        """Said; only while ``still_owed`` says so, as the real one (None when not)."""
        if still_owed is not None and not await still_owed():
            return None
        self.said.setdefault(conversation_id, []).append((response, values))
        return True

    async def hand_over(self, conversation_id: str, response: str, **values) -> None:
        await self.utter(conversation_id, response, **values)

    async def resume(self, conversation_id: str, response: str | None, *, still_owed=None, **values) -> bool:
        """Handed back with ``response``; only while ``still_owed`` says so; said once under a ``once`` mark."""
        if still_owed is not None and not await still_owed():
            return False
        once = values.get("once")
        self.resumed[conversation_id] = response
        if response and (once is None or once not in {v.get("once") for _, v in self.said.get(conversation_id, [])}):
            await self.utter(conversation_id, response, **values)
        return True

    async def join(self, conversation_id: str, response: str, *, once: str, still_owed=None, **values) -> bool:
        """An agent's claim the desk did not finish (bot.handoff.joined): said once under ``once``."""
        if still_owed is not None and not await still_owed():
            return False
        if once not in {v.get("once") for _, v in self.said.get(conversation_id, [])}:
            await self.utter(conversation_id, response, once=once, **values)
        return True

    def responses(self, conversation_id: str) -> list[str]:
        return [r for r, _ in self.said.get(conversation_id, [])]


@pytest.fixture
def settings():
    return load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml")


@pytest.fixture
def room(queue, clock, settings, kefu_env):
    return WaitingRoom(queue, Conversations(clock), settings)


async def wait_in_line(queue, conversation_id: str, *, channel: str = "webchat", fault_type: str | None = "fault_tv",
                       customer: dict | None = None, phone: str | None = None, said: str = "电视没信号",
                       tried: tuple[str, ...] = ()) -> None:
    packet = {"slots": {"fault_type": fault_type, "selfhelp_sent": list(tried)}, "customer": customer, "phone": phone,
              "transcript": [{"who": "customer", "text": said}, {"who": "customer", "text": "转人工"}]}
    await queue.enqueue(HandoffRequest(conversation_id, channel, "tv", 0,
                                       str(customer["id"]) if customer else None, packet))
    queue.clock.advance(1)  # what the customer says next comes after the request


async def agent_available(queue, agent_id: str = "a1") -> None:
    await queue.roster.register(agent_id, name="王芳", skills=["tv"], capacity=2, status="available")


async def test_selfhelp_while_waiting_then_solved_leaves_the_queue(room, queue, clock, events, selfhelp_videos):
    await agent_available(queue)
    await wait_in_line(queue, "c1")
    await room.visit("c1")
    clock.advance(1)
    room.conversations.customer("c1", "#handoff:selfhelp")
    await room.visit("c1")
    said = room.conversations.responses("c1")
    assert said == ["utter_selfhelp_entry", "utter_ask_selfhelp_worked_handed_over"]
    video = room.conversations.said["c1"][0][1]["attachment"]
    assert video["type"] == "video" and video["payload"]["src"].endswith(".mp4")

    clock.advance(5)
    room.conversations.customer("c1", "/affirm", "affirm")
    await room.visit("c1")
    assert await queue.position("c1") is None, "solved by self-help: no longer waiting"
    assert room.conversations.resumed["c1"] == "utter_queue_selfhelp_worked"
    assert events.data("handoff_abandoned")[-1]["reason"] == "resolved_by_selfhelp"


async def test_the_waiting_rooms_options_typed_do_what_their_buttons_do(room, queue, clock):
    """Found driving the web chat: once a waiting customer types anything the page spends the waiting room's
    buttons, and no reply offers them again. Typed, 自助服务 was only noted, and 不等了 (or 取消排队) typed while
    the number for a message was asked for was refused as a wrong number, again each time: the customer
    could not leave the queue."""
    await agent_available(queue)
    await wait_in_line(queue, "c-typed")
    await room.visit("c-typed")
    for text, intent in (("我都等了好久了", "nlu_fallback"), ("自助服务", "nlu_fallback")):
        clock.advance(1)
        room.conversations.customer("c-typed", text, intent)
        await room.visit("c-typed")
    assert room.conversations.responses("c-typed") == ["utter_queue_noted", "utter_selfhelp_entry",
                                                       "utter_ask_selfhelp_worked_handed_over"]
    clock.advance(1)
    room.conversations.customer("c-typed", "留言")
    await room.visit("c-typed")
    assert room.conversations.responses("c-typed")[-1] == "utter_queue_ask_number"
    clock.advance(1)
    room.conversations.customer("c-typed", "不等了")
    await room.visit("c-typed")
    assert await queue.position("c-typed") is None, "the customer asked to leave the queue"
    assert room.conversations.resumed["c-typed"] == "utter_queue_cancelled"


async def test_a_problem_typed_while_waiting_gets_selfhelp_at_once(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "c2", fault_type=None)
    await room.visit("c2")
    room.conversations.customer("c2", "#handoff:selfhelp")
    await room.visit("c2")
    assert room.conversations.responses("c2") == ["utter_queue_selfhelp_ask_problem"]
    room.conversations.customer("c2", "宽带连不上了", "fault_broadband")
    await room.visit("c2")
    assert room.conversations.responses("c2")[1:] == ["utter_selfhelp_entry", "utter_ask_selfhelp_worked_handed_over"]
    assert (await queue.position("c2")).position == 1, "self-help does not cost the place in line"
    room.conversations.customer("c2", "/deny", "deny")
    await room.visit("c2")
    assert room.conversations.responses("c2")[-1] == "utter_queue_selfhelp_not_worked"
    assert (await queue.position("c2")).position == 1


async def test_an_anonymous_message_asks_for_a_number_and_says_when(room, queue, clock, kefu_env):
    from bot.db.repository import Repository

    await agent_available(queue)
    await wait_in_line(queue, "c3")
    await room.visit("c3")
    room.conversations.customer("c3", "#handoff:message")
    await room.visit("c3")
    assert room.conversations.responses("c3") == ["utter_queue_ask_number"]
    room.conversations.customer("c3", "12345")
    await room.visit("c3")
    assert room.conversations.responses("c3")[-1] == "utter_queue_number_invalid"
    room.conversations.customer("c3", "我的手机 139 1234 5678")
    await room.visit("c3")
    assert room.conversations.responses("c3")[-1] == "utter_queue_message_prompt"
    room.conversations.customer("c3", "机顶盒一直重启，晚上八点后在家")
    await room.visit("c3")

    response, values = room.conversations.said["c3"][-1]
    assert response == "utter_queue_message_booked" and values["phone_masked"] == "139****5678"
    assert re.fullmatch(r"(\d\d-\d\d )?\d\d:\d\d", values["callback_by"])
    ticket = Repository(kefu_env.database_url).get_ticket(values["ticket_id"])
    assert ticket["needs_human"] and ticket["details"]["callback_phone"] == "13912345678"
    assert "晚上八点" in ticket["summary"] and ticket["details"]["callback_by"]
    assert await queue.position("c3") is None


async def test_a_verified_customer_books_a_callback_without_being_asked(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "c4", customer={"id": 1, "phone": "13800000001"})
    await room.visit("c4")
    room.conversations.customer("c4", "/leave_message", "leave_message")
    await room.visit("c4")
    response, values = room.conversations.said["c4"][-1]
    assert response == "utter_queue_callback_booked" and values["phone_masked"] == "138****0001"


async def test_a_caller_who_presses_callback_while_queued_is_called_back_on_their_line(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "ivr:call-7", channel="ivr", phone="13912340007")
    await room.visit("ivr:call-7")
    room.conversations.customer("ivr:call-7", "/leave_message", "leave_message")  # a read-out button's key
    await room.visit("ivr:call-7")
    response, values = room.conversations.said["ivr:call-7"][-1]
    assert response == "utter_queue_callback_booked" and values["phone_masked"] == "139****0007"
    assert await queue.position("ivr:call-7") is None


async def test_a_web_customer_naming_a_number_in_metadata_is_still_asked(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "c8", phone="13912340008")  # only the phone's own line counts as reachable
    await room.visit("c8")
    room.conversations.customer("c8", "/leave_message", "leave_message")
    await room.visit("c8")
    assert room.conversations.responses("c8") == ["utter_queue_ask_number"]


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_notices_only_when_something_changed_and_honest_with_nobody_there(room, queue, clock):
    await wait_in_line(queue, "c5")
    await room.visit("c5")
    assert room.conversations.responses("c5") == ["utter_queue_nobody_available"]
    for _ in range(5):  # an hour of nobody: said once, not every minute
        clock.advance(60)
        await mark_customer_seen(queue.redis, "c5", clock())
        await room.visit("c5")
    assert room.conversations.responses("c5") == ["utter_queue_nobody_available"]

    await agent_available(queue)
    await room.visit("c5")
    assert room.conversations.responses("c5")[-1] == "utter_queue_agents_back"
    for _ in range(5):
        clock.advance(60)
        await mark_customer_seen(queue.redis, "c5", clock())
        await queue.roster.heartbeat("a1")
        await room.visit("c5")
    assert room.conversations.responses("c5").count("utter_queue_agents_back") == 1
    assert "utter_queue_update" not in room.conversations.responses("c5"), "nothing changed, nothing sent"

    await wait_in_line(queue, "c6")
    await queue.abandon("c6", "test")  # the queue moves: c5 is still first, the estimate is unchanged
    await room.visit("c5")
    assert "utter_queue_update" not in room.conversations.responses("c5")


async def test_a_tick_tells_everyone_in_line_the_place_their_own_lookup_gives(room, queue, clock):
    """A tick reads each queue once and counts who is ahead as it walks the line (bot.handoff.line): what it
    tells each customer is what a lookup of their own gives, with calls and chats on their own slots, a
    closed page passed over, and a customer who leaves during the tick no longer ahead of anyone."""
    await agent_available(queue)
    line = ["chat-1", "leaves", "ivr:call-1", "closed-page", "chat-2", "ivr:call-2", "chat-3"]
    for conversation_id in line:
        await wait_in_line(queue, conversation_id, channel="ivr" if conversation_id.startswith("ivr:") else "webchat")
    await mark_customer_seen(queue.redis, "closed-page", clock())  # seen once; no page open since
    await room.tick()
    room.conversations.customer("leaves", "取消排队")
    await room.tick()

    assert await queue.position("leaves") is None
    told, looked_up = {}, {}
    for conversation_id in line[:1] + line[2:]:
        position = await queue.position(conversation_id)
        looked_up[conversation_id] = notice_state(position.position, wait_minutes(position.estimated_wait_s), True)
        told[conversation_id] = (await queue.redis.hget(keys.conversation(conversation_id), "notified")).decode()
    assert told == looked_up
    assert len({state.split(":")[0] for state in told.values()}) > 3, "places differ along the line"


async def test_closed_web_chats_and_silent_rest_clients_leave_after_the_grace_period(room, queue, clock, settings, events):
    await agent_available(queue)
    await wait_in_line(queue, "open-tab")
    await wait_in_line(queue, "closed-tab")
    await wait_in_line(queue, "rest-client", channel="rest")
    for conversation_id in ("open-tab", "closed-tab", "rest-client"):
        await room.visit(conversation_id)
    elapsed = 0.0
    while elapsed <= settings.webchat_gone_grace_s + 20:
        clock.advance(20)
        elapsed += 20
        await mark_customer_seen(queue.redis, "open-tab", clock())  # the page's ping
        await queue.roster.heartbeat("a1")
        for conversation_id in ("open-tab", "closed-tab", "rest-client"):
            await room.visit(conversation_id)
    assert await queue.position("closed-tab") is None
    assert await queue.position("open-tab") is not None
    assert await queue.position("rest-client") is not None, "REST has a longer grace period"
    clock.advance(settings.rest_silence_grace_s)
    await room.visit("rest-client")
    assert await queue.position("rest-client") is None
    reasons = {d["reason"] for d in events.data("handoff_abandoned")}
    assert {"customer_gone", "customer_silent"} <= reasons


async def test_a_phone_away_for_minutes_keeps_its_place_and_is_told_when_it_was_dropped(room, queue, clock, settings):
    """Mobile tester: a queued customer who switched to WeChat (iOS stops the page) for 2-3 minutes
    was dropped silently, and the page back in the chat still showed the old place."""
    await agent_available(queue)
    await wait_in_line(queue, "pocket")
    await room.visit("pocket")
    await mark_customer_seen(queue.redis, "pocket", clock())  # the page's last ping, then the app switch
    for _ in range(15):  # five minutes in another app
        clock.advance(20)
        await queue.roster.heartbeat("a1")
        await room.visit("pocket")
    assert await queue.position("pocket") is not None, "a few minutes away keep the place in line"

    clock.advance(settings.webchat_gone_grace_s)
    await queue.roster.heartbeat("a1")
    await room.visit("pocket")
    assert await queue.position("pocket") is None
    assert room.conversations.resumed["pocket"] == "utter_queue_left_away", "told, with 重新排队 / 预约回电"
    said = dict(room.conversations.said["pocket"])
    assert said["utter_queue_left_away"].get("custom") == {"kind": "queue_left"}, "old waiting-room buttons greyed"


async def test_a_left_message_that_sounds_like_a_callback_request_is_still_the_message(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "c7", customer={"id": 1, "phone": "13800000001"})
    await room.visit("c7")
    room.conversations.customer("c7", "#handoff:message")
    await room.visit("c7")
    room.conversations.customer("c7", "明天上午给我回个电话", "leave_message")
    await room.visit("c7")
    assert room.conversations.said["c7"][-1][0] == "utter_queue_message_booked"


async def test_the_request_turn_saved_after_the_first_visit_is_not_answered(room, queue, clock):
    await agent_available(queue)
    enqueued = clock()
    await wait_in_line(queue, "c8")
    await room.visit("c8")
    room.conversations.log["c8"] = [{"event": "user", "text": "转人工", "timestamp": enqueued - 0.1,
                                     "parse_data": {"intent": {"name": "request_human", "confidence": 0.99}}}]
    await room.visit("c8")
    assert room.conversations.responses("c8") == []


def test_a_bad_save_of_the_settings_keeps_the_last_good_version(tmp_path):
    import os

    path = tmp_path / "waiting_room.yml"
    path.write_text("webchat_gone_grace_s: 30\n", encoding="utf-8")
    assert load_waiting_room(path).webchat_gone_grace_s == 30
    path.write_text("webchat_gone_grace_s: [not a number\n", encoding="utf-8")
    os.utime(path, (1, 1))  # a different modification time, whatever the clock's resolution
    assert load_waiting_room(path).webchat_gone_grace_s == 30


def test_the_promised_callback_time_is_the_customers_local_time(monkeypatch):
    """Found by a tester: a server on UTC promised a call "before 12-02 01:44" at 07:44 in Beijing."""
    import time as time_module

    from bot.handoff.waiting_tickets import callback_by, promised_time

    monkeypatch.setenv("TZ", "UTC")
    time_module.tzset()
    try:
        now = datetime.datetime(2026, 12, 2, 2, 44, tzinfo=datetime.timezone.utc).timestamp()  # 10:44 on 2 December in Beijing
        assert promised_time(callback_by(now, 2), now) == "12:44"
        assert promised_time(callback_by(now, 20), now) == "12-03 06:44"
    finally:
        monkeypatch.undo()
        time_module.tzset()


def test_a_callback_promised_while_the_hotline_is_closed_counts_from_its_opening():
    """Found by a tester: "客服会在06:27前回电" at 04:27 in Beijing, with agents in from 08:00 (content/ivr.yml)."""
    from bot.handoff.waiting_tickets import callback_by, promised_time

    early = datetime.datetime(2026, 12, 1, 20, 27, tzinfo=datetime.timezone.utc).timestamp()  # 04:27 on 2 December
    assert promised_time(callback_by(early, 2), early) == "10:00"
    late = datetime.datetime(2026, 12, 2, 14, 10, tzinfo=datetime.timezone.utc).timestamp()  # 22:10 on 2 December
    assert promised_time(callback_by(late, 2), late) == "12-03 10:00"


async def test_a_booked_callback_offered_to_the_agents_is_not_a_customer_waiting_in_the_chat(room, queue, clock, settings):
    """Found by a tester: after "回个电话" the callback joined the queue under the chat's id, the chat
    then got "nobody is online … book a callback" notices, and the next message went astray."""
    from bot.contacts.offer import offer_request

    await agent_available(queue)
    await queue.enqueue(offer_request({
        "id": 7, "ticket_id": "TK000013", "phone": "13800000003", "purpose": "callback", "rule": "callback",
        "customer_id": 3, "due_at": datetime.datetime(2026, 12, 2, 1, 0),
        "details": {"conversation_id": "booked", "channel": "webchat", "skill": "tv", "context": {}}}))
    room.conversations.customer("booked", "好的谢谢", intent="thanks")
    for _ in range(3):
        clock.advance(settings.webchat_gone_grace_s)  # the chat page is long closed
        await room.visit("booked")
    assert room.conversations.responses("booked") == []
    assert await queue.position("booked") is not None, "the agents still have the callback to make"


@pytest.mark.parametrize("text, intent", [("算了不等了，拜拜", "goodbye"), ("取消排队", "nlu_fallback"),
                                          ("不等了 取消吧", "deny"), ("拜拜", "goodbye"),
                                          # Found driving the chat: only noted (the NLU reads it as a no).
                                          ("我不想等了", "deny"), ("不想排了，太慢了", "nlu_fallback")])
async def test_typing_that_one_will_not_wait_leaves_the_queue(room, queue, clock, text, intent):
    """Found by a tester: with nobody online there was no 取消排队 button, and typed words were only 'noted'."""
    await wait_in_line(queue, "typed")
    await room.visit("typed")
    room.conversations.customer("typed", text, intent=intent)
    await room.visit("typed")
    assert await queue.position("typed") is None
    assert room.conversations.resumed["typed"] == "utter_queue_cancelled"


async def test_a_left_message_that_says_it_will_not_wait_is_still_the_message(room, queue, clock):
    await wait_in_line(queue, "m1", customer={"id": 1, "phone": "13800000001"})
    await room.visit("m1")
    room.conversations.customer("m1", "#handoff:message")
    await room.visit("m1")
    room.conversations.customer("m1", "我不等了，宽带明天再修也行，下午回电")
    await room.visit("m1")
    assert room.conversations.responses("m1")[-1] == "utter_queue_message_booked"


@pytest.mark.parametrize("message", ["机顶盒一直重启，晚上八点后在家", "我的话费好像多扣了20块，请回电给我"])
async def test_a_message_typed_before_the_number_is_kept(room, queue, clock, kefu_env, message):
    """Found by testers: the message was refused as "not a phone number" (even one that only
    mentions an amount in digits), then asked for again."""
    from bot.db.repository import Repository

    await wait_in_line(queue, "m2")
    await room.visit("m2")
    for text in ("#handoff:message", message, "13912345678"):
        room.conversations.customer("m2", text)
        await room.visit("m2")
    said = room.conversations.responses("m2")
    assert said[-3:] == ["utter_queue_ask_number", "utter_queue_message_kept_ask_number", "utter_queue_message_booked"]
    ticket = Repository(kefu_env.database_url).get_ticket(room.conversations.said["m2"][-1][1]["ticket_id"])
    assert ticket["details"]["left_message"] == message and ticket["details"]["callback_phone"] == "13912345678"


@pytest.mark.parametrize("mistyped", ["1391234567", "我的号码是 139 1234 567"])
async def test_a_mistyped_number_at_the_number_prompt_is_refused_not_kept_as_the_message(room, queue, clock, mistyped):
    await wait_in_line(queue, "m3")
    await room.visit("m3")
    for text in ("#handoff:message", mistyped):
        room.conversations.customer("m3", text)
        await room.visit("m3")
    assert room.conversations.responses("m3")[-1] == "utter_queue_number_invalid"


async def test_waiting_room_buttons_pressed_while_with_the_agent_are_no_commands_after_a_transfer(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "c9")
    await room.visit("c9")
    assert (await queue.claim_next("a1")).conversation_id == "c9"
    clock.advance(30)
    room.conversations.customer("c9", "#handoff:cancel")  # the old 取消排队 button, pressed with the agent there
    clock.advance(30)
    await queue.transfer("c9", "a1", "tv")  # the agent hands the customer on to a colleague
    clock.advance(1)
    await room.visit("c9")
    assert (await queue.position("c9")) is not None, "still in line for the colleague"
    assert "c9" not in room.conversations.resumed and "utter_queue_cancelled" not in room.conversations.responses("c9")


async def test_a_cancel_read_as_the_agent_claims_does_not_end_the_agents_conversation(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "c10")
    await room.visit("c10")
    room.conversations.customer("c10", "#handoff:cancel")
    transcript = room.conversations.events

    async def agent_claims_while_the_transcript_is_read(conversation_id):
        await queue.claim_next("a1")
        return await transcript(conversation_id)

    room.conversations.events = agent_claims_while_the_transcript_is_read
    await room.visit("c10")
    assert (await queue.position("c10")).position == 0, "the agent still has the customer"
    assert "c10" in await queue.serving("a1")
    assert "c10" not in room.conversations.resumed, "the assistant does not take the conversation back"


async def test_a_request_that_waited_too_long_is_told_and_the_web_chats_waiting_buttons_are_spent(room, queue, clock):
    """Found by a tester (first for 移出队列): a request that left the queue without the customer asking
    kept the web chat's 取消排队 and 留言 live; the message that says so carries ``queue_left``."""
    await agent_available(queue)
    await wait_in_line(queue, "c1")
    await wait_in_line(queue, "p1", channel="wechat")
    clock.advance(queue.rules.max_wait_s + 1)
    await room.visit("c1")
    await room.visit("p1")
    assert await queue.waiting("tv") == []
    said = dict(room.conversations.said)
    assert said["c1"][-1] == ("utter_queue_timeout", {"custom": {"kind": "queue_left"}})
    assert said["p1"][-1] == ("utter_queue_timeout", {}), "no buttons to grey out elsewhere"


async def test_a_customer_transferred_after_a_long_conversation_is_not_timed_out_at_once(room, queue, clock):
    """``max_wait_s`` is how long a request waits in line: a transfer keeps the place in time
    (``enqueued_at``), but the half hour spent with the first agent is no wait. Counted from
    ``enqueued_at``, the customer handed on to billing was sent away by the next tick."""
    await agent_available(queue)
    await wait_in_line(queue, "t1")
    await room.visit("t1")
    clock.advance(5 * 60)
    assert (await queue.claim_next("a1")).conversation_id == "t1"
    clock.advance(queue.rules.max_wait_s)  # a long conversation with the first agent
    await queue.transfer("t1", "a1", "billing")
    clock.advance(1)
    await room.visit("t1")
    assert (await queue.position("t1")) is not None, "timed out as soon as it was handed on"
    assert "utter_queue_timeout" not in room.conversations.responses("t1")
    clock.advance(queue.rules.max_wait_s)  # a real half hour in line for billing
    await room.visit("t1")
    assert await queue.position("t1") is None
    assert room.conversations.responses("t1")[-1] == "utter_queue_timeout"


def buttons_shown(response: str, channel: str) -> list[str]:
    """The titles of the buttons the domain's ``response`` shows on ``channel`` (Rasa's choice of variant)."""
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        variants = (yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {}).get(response)
        if variants:
            chosen = [v for v in variants if v.get("channel") == channel] or [v for v in variants if "channel" not in v]
            return [b["title"] for v in chosen for b in v.get("buttons") or []]
    raise LookupError(response)


def sent_selfhelp(room, conversation_id: str) -> str:
    """The entry the waiting room sent last, as the customer's message names it."""
    response, values = room.conversations.said[conversation_id][-2]
    assert response == "utter_selfhelp_entry", room.conversations.responses(conversation_id)
    return values["buttons"][0]["selfhelp_id"]


async def test_waiting_room_selfhelp_fits_the_symptom_the_customer_described(room, queue, clock):
    """Found in a review: a customer who had told the assistant 电视一直马赛克 pressed 自助服务 in the queue and
    got the general set-top box entry: the button says nothing of the symptom, and the waiting room matched
    only what came with it. It matches the fault as the assistant's triage does: by the customer's words."""
    await agent_available(queue)
    await wait_in_line(queue, "c-mosaic", said="电视一直马赛克，卡得不行")
    await room.visit("c-mosaic")
    room.conversations.customer("c-mosaic", "#handoff:selfhelp")
    await room.visit("c-mosaic")
    assert sent_selfhelp(room, "c-mosaic") == "tv_mosaic"


async def test_waiting_room_sends_no_other_symptoms_selfhelp_once_the_fitting_ones_were_tried(room, queue, clock):
    """Found in a review: a TV with no signal, its entry and the general one tried with the assistant, got the
    mosaic entry in the queue (the first one left). Nothing else fits: the customer is told so."""
    await agent_available(queue)
    await wait_in_line(queue, "c-nosignal", tried=("tv_no_signal", "tv_general_reset"))
    await room.visit("c-nosignal")
    room.conversations.customer("c-nosignal", "#handoff:selfhelp")
    await room.visit("c-nosignal")
    assert room.conversations.responses("c-nosignal") == ["utter_queue_no_selfhelp"]


async def test_waiting_room_sends_no_steps_the_customer_said_they_already_did(room, queue, clock):
    """As with the assistant (found in a live trial): a customer who said "宽带上不了网，重起了也不行" is not sent the
    restart steps again; nothing else fits, and they are told so."""
    await agent_available(queue)
    await wait_in_line(queue, "c-restarted", fault_type="fault_broadband", said="宽带上不了网，重起了也不行")
    await room.visit("c-restarted")
    room.conversations.customer("c-restarted", "#handoff:selfhelp")
    await room.visit("c-restarted")
    assert room.conversations.responses("c-restarted") == ["utter_queue_no_selfhelp"]


@pytest.mark.parametrize("channel", ["webchat", "wechat", "ivr"])
async def test_the_waiting_rooms_selfhelp_question_offers_no_human_to_a_customer_already_queued(room, queue, clock,
                                                                                                channel):
    """Found in a review: "解决了吗？" after self-help in the queue offered 转人工 to a customer already waiting
    for a person (pressed, it was only noted)."""
    await agent_available(queue)
    await wait_in_line(queue, "c-asked", channel=channel)
    await room.visit("c-asked")
    room.conversations.customer("c-asked", "#handoff:selfhelp")
    await room.visit("c-asked")
    question = room.conversations.responses("c-asked")[-1]
    assert buttons_shown(question, channel) == ["解决了", "没解决"], question
