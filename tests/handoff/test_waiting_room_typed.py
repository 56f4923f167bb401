"""What a waiting customer types in their own words: 取消 and 多久能排到我 (found in a review: the NLU reads them as
a service change and a ticket question, and the waiting room only noted them)."""
from __future__ import annotations

import pytest

from bot.handoff.estimate import wait_minutes
from tests.handoff.test_waiting_room import agent_available, room, settings, wait_in_line  # noqa: F401 - fixtures


async def say(room, clock, conversation_id: str, text: str, intent: str = "nlu_fallback") -> list[str]:
    """The customer types ``text``; what the waiting room answered to it."""
    before = len(room.conversations.responses(conversation_id))
    clock.advance(1)
    room.conversations.customer(conversation_id, text, intent)
    await room.visit(conversation_id)
    return room.conversations.responses(conversation_id)[before:]


async def test_cancel_typed_alone_asks_whether_to_leave_the_queue(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "w-cancel")
    await room.visit("w-cancel")
    assert await say(room, clock, "w-cancel", "取消", "manage_service") == ["utter_queue_confirm_cancel"]
    assert (await queue.position("w-cancel")).position == 1, "asked first, not taken out of the line"

    assert await say(room, clock, "w-cancel", "取消排队") == ["utter_queue_cancelled"]  # its button, typed or pressed
    assert await queue.position("w-cancel") is None
    assert room.conversations.resumed["w-cancel"] == "utter_queue_cancelled", "the assistant has the conversation"


async def test_cancel_while_a_number_is_asked_is_asked_too_and_stay_keeps_the_place(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "w-stay")
    await room.visit("w-stay")
    assert await say(room, clock, "w-stay", "留言") == ["utter_queue_ask_number"]
    assert await say(room, clock, "w-stay", "取消。", "manage_service") == ["utter_queue_confirm_cancel"]
    assert await say(room, clock, "w-stay", "#handoff:status") == ["utter_queue_update"]
    assert (await queue.position("w-stay")).position == 1


async def test_a_service_to_cancel_is_not_taken_for_leaving_the_queue(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "w-plan")
    await room.visit("w-plan")
    assert await say(room, clock, "w-plan", "我想取消宽带套餐", "manage_service") == ["utter_queue_noted"]
    assert (await queue.position("w-plan")).position == 1


async def test_how_long_typed_tells_the_place_and_the_wait(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "w-ahead")
    await wait_in_line(queue, "w-long")
    await room.visit("w-long")
    assert await say(room, clock, "w-long", "多久能排到我", "query_ticket") == ["utter_queue_update"]
    response, values = room.conversations.said["w-long"][-1]
    position = await queue.position("w-long")
    assert values == {"position": position.position, "wait_minutes": wait_minutes(position.estimated_wait_s)}
    assert await say(room, clock, "w-long", "我前面还有几个人？", "query_ticket") == ["utter_queue_update"]
    # Found in a review: "我还在等吗" (read as a no) was only noted, while queued or not (actions/escalation.py).
    assert await say(room, clock, "w-long", "我还在等吗", "deny") == ["utter_queue_update"]


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_how_long_with_nobody_online_says_so_rather_than_a_wait(room, queue, clock):
    await wait_in_line(queue, "w-nobody")
    await room.visit("w-nobody")
    assert await say(room, clock, "w-nobody", "还要等多久", "query_ticket") == ["utter_queue_nobody_available"]


async def test_how_long_inside_a_message_being_left_is_part_of_the_message(room, queue, clock):
    await agent_available(queue)
    await wait_in_line(queue, "w-msg", customer={"id": 1, "phone": "13800000001"})
    await room.visit("w-msg")
    assert await say(room, clock, "w-msg", "留言") == ["utter_queue_message_prompt"]
    assert await say(room, clock, "w-msg", "宽带坏了三天了，还要等多久才能修好") == ["utter_queue_message_booked"]


async def test_yes_or_no_to_the_cancel_question_is_its_answer(room, queue, clock):
    """Found driving the chat: 是的 to 您是要取消人工排队吗？ was only noted (收到，人工客服接入后会看到您的消息)."""
    await agent_available(queue)
    await wait_in_line(queue, "w-no")
    await room.visit("w-no")
    assert await say(room, clock, "w-no", "取消", "manage_service") == ["utter_queue_confirm_cancel"]
    assert await say(room, clock, "w-no", "不用", "deny") == ["utter_queue_update"]
    assert (await queue.position("w-no")).position == 1
    assert await say(room, clock, "w-no", "好的", "affirm") == ["utter_queue_noted"], "answered already: no yes now"
    assert (await queue.position("w-no")).position == 1

    await wait_in_line(queue, "w-yes")
    await room.visit("w-yes")
    assert await say(room, clock, "w-yes", "取消", "manage_service") == ["utter_queue_confirm_cancel"]
    assert await say(room, clock, "w-yes", "是的", "affirm") == ["utter_queue_cancelled"]
    assert await queue.position("w-yes") is None


async def test_the_waiting_rooms_words_typed_in_english_or_in_capitals_count(room, queue, clock):
    """Found driving the web chat with mixed-language input: "cancel" while waiting was only noted."""
    await agent_available(queue)
    await wait_in_line(queue, "w-en")
    await room.visit("w-en")
    assert await say(room, clock, "w-en", "How long do I still have to wait?") == ["utter_queue_update"]
    assert await say(room, clock, "w-en", "Cancel!") == ["utter_queue_confirm_cancel"]
    assert await say(room, clock, "w-en", "Cancel the queue please") == ["utter_queue_noted"], "only alone"


async def test_changing_ones_mind_about_a_person_is_asked_about(room, queue, clock):
    """Found trying the chat: "算了不用了 我自己再试试" (read as a no) right after 转人工 was only noted, and the
    customer stayed in the line; "算了不用了" alone was noted too, not asked about. Found in review of the fix:
    leaving at once on 自己试试 took out a customer telling what they had tried."""
    await wait_in_line(queue, "w-mind")
    await room.visit("w-mind")
    assert await say(room, clock, "w-mind", "算了不用了 我自己再试试", "deny") == ["utter_queue_confirm_cancel"]
    assert await say(room, clock, "w-mind", "取消排队", "affirm") == ["utter_queue_cancelled"]
    assert await queue.position("w-mind") is None

    await wait_in_line(queue, "w-alone")
    await room.visit("w-alone")
    assert await say(room, clock, "w-alone", "算了不用了", "deny") == ["utter_queue_confirm_cancel"]
    assert (await queue.position("w-alone")).position == 1, "asked first, not taken out of the line"
    answered = await say(room, clock, "w-alone", "不用了", "deny")  # no to "leave the queue?": stays, not asked again
    assert answered and "utter_queue_confirm_cancel" not in answered and "utter_queue_cancelled" not in answered
    assert (await queue.position("w-alone")).position == 1


async def test_telling_what_one_tried_oneself_stays_in_the_queue(room, queue, clock):
    """Found in review: with 自己试试 a word to leave by, a customer telling what they had tried left the queue."""
    await wait_in_line(queue, "w-tried")
    await room.visit("w-tried")
    for text in ("我自己试过了，还是不行", "路由器我自己试着重启了，没用", "你们那个指引我自己试试了没用"):
        assert "utter_queue_cancelled" not in await say(room, clock, "w-tried", text, "deny"), text
        assert (await queue.position("w-tried")).position == 1, text


async def test_asking_why_no_person_yet_stays_in_the_queue(room, queue, clock):
    """"怎么还不转人工" asks for the person, though it holds 不转人工 (found in review of the leave words): the
    customer keeps their place."""
    await wait_in_line(queue, "w-why")
    await room.visit("w-why")
    for text in ("怎么还不转人工", "为什么不找人工"):
        assert "utter_queue_cancelled" not in await say(room, clock, "w-why", text, "request_human"), text
        assert (await queue.position("w-why")).position == 1, text


async def test_a_message_asked_for_in_words_is_a_message_not_a_callback(room, queue, clock):
    """Found in the verification trial: "我想留言" (read as leave_message) booked a callback with no message; the
    message typed next got a self-help guide. Asked for in words, it is the message, as its button is."""
    await wait_in_line(queue, "w-words")
    await room.visit("w-words")
    assert await say(room, clock, "w-words", "我想留言", "leave_message") == ["utter_queue_ask_number"]
    assert await say(room, clock, "w-words", "13912345678") == ["utter_queue_message_prompt"]
    await wait_in_line(queue, "w-call")
    await room.visit("w-call")
    assert await say(room, clock, "w-call", "给我回个电话", "leave_message") == ["utter_queue_ask_number"]
    assert await say(room, clock, "w-call", "13912345678") == ["utter_queue_callback_booked"]
