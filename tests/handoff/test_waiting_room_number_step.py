"""Asked for a number to book a callback or leave a message while queued, the customer asks why, declines, or goes back
to waiting. Found in a live trial: "为什么要我手机号", "算了不想给", "不要回电了", "继续排队" and "我还要等多久" were each
answered "这个手机号好像不对，请输入11位手机号" (utter_queue_number_invalid), again and again."""
from __future__ import annotations

import pytest

from bot.db.repository import Repository
from tests.handoff.test_waiting_room import agent_available, room, settings, wait_in_line  # noqa: F401 - fixtures
from tests.handoff.test_waiting_room_typed import say

PRESSED = {"callback": "/leave_message", "message": "#handoff:message"}  # 预约回电, 留言


def filed(kefu_env, conversation_id: str) -> list[dict]:
    return Repository(kefu_env.database_url).tickets_for(None, conversation_id=conversation_id)


async def asked_for_a_number(room, queue, clock, conversation_id: str, pressed: str) -> None:
    await agent_available(queue)
    await wait_in_line(queue, conversation_id)
    await room.visit(conversation_id)
    assert await say(room, clock, conversation_id, PRESSED[pressed], "leave_message") == ["utter_queue_ask_number"]


async def number_step_ended(room, queue, clock, kefu_env, conversation_id: str) -> None:
    """Still queued, nothing booked or filed, and a number typed now books nothing: no step waits for it."""
    assert (await queue.position(conversation_id)).position == 1
    assert conversation_id not in room.conversations.resumed
    answered = await say(room, clock, conversation_id, "13912345678")
    assert not {"utter_queue_callback_booked", "utter_queue_message_booked", "utter_queue_message_prompt",
                "utter_queue_number_invalid"} & set(answered), answered
    assert (await queue.position(conversation_id)).position == 1
    assert filed(kefu_env, conversation_id) == []


@pytest.mark.parametrize("pressed", ["callback", "message"])
@pytest.mark.parametrize("text", ["为什么要我手机号", "凭什么给你电话？"])
async def test_asking_why_the_number_hears_what_it_is_for_and_the_step_stays_open(room, queue, clock, kefu_env,
                                                                                 text, pressed):
    conversation_id = f"why-{pressed}"
    await asked_for_a_number(room, queue, clock, conversation_id, pressed)
    assert await say(room, clock, conversation_id, text) == ["utter_queue_number_why"]
    assert await say(room, clock, conversation_id, text) == ["utter_queue_number_why"], "asked again: told again"
    assert (await queue.position(conversation_id)).position == 1
    # The number typed next still answers the step: booked (a callback), or the message asked for.
    answered = await say(room, clock, conversation_id, "13912345678")
    assert answered == (["utter_queue_callback_booked"] if pressed == "callback" else ["utter_queue_message_prompt"])


@pytest.mark.parametrize("pressed, text", [(pressed, text) for pressed in ("callback", "message")
                                           for text in ("不想给号码", "不要回电了", "我继续排队吧")] + [("callback", "算了不想给")])
async def test_declining_the_number_keeps_the_place_and_books_nothing(room, queue, clock, kefu_env, text, pressed):
    conversation_id = f"no-{pressed}"
    await asked_for_a_number(room, queue, clock, conversation_id, pressed)
    assert await say(room, clock, conversation_id, text) == ["utter_queue_number_declined"]
    await number_step_ended(room, queue, clock, kefu_env, conversation_id)


async def test_declining_after_a_message_was_kept_says_the_message_was_not_left(room, queue, clock, kefu_env):
    await asked_for_a_number(room, queue, clock, "no-kept", "message")
    assert await say(room, clock, "no-kept", "机顶盒一直重启，晚上八点后在家") == ["utter_queue_message_kept_ask_number"]
    assert await say(room, clock, "no-kept", "不想给号码") == ["utter_queue_number_declined",
                                                          "utter_queue_message_not_left"]
    await number_step_ended(room, queue, clock, kefu_env, "no-kept")
    # The dropped message is not filed later with another step's number either: the message itself is asked for.
    assert await say(room, clock, "no-kept", "#handoff:message") == ["utter_queue_ask_number"]
    assert await say(room, clock, "no-kept", "13912345678") == ["utter_queue_message_prompt"]
    assert filed(kefu_env, "no-kept") == []


@pytest.mark.parametrize("text", ["继续排队", "#handoff:status", "我还要等多久"])
async def test_back_to_waiting_or_asking_the_place_ends_the_step_with_the_place(room, queue, clock, kefu_env, text):
    await asked_for_a_number(room, queue, clock, "back", "callback")
    assert await say(room, clock, "back", text, "query_ticket") == ["utter_queue_update"]
    await number_step_ended(room, queue, clock, kefu_env, "back")


async def test_back_to_waiting_after_a_message_was_kept_says_the_message_was_not_left(room, queue, clock, kefu_env):
    await asked_for_a_number(room, queue, clock, "back-kept", "message")
    assert await say(room, clock, "back-kept", "宽带坏了三天了") == ["utter_queue_message_kept_ask_number"]
    assert await say(room, clock, "back-kept", "继续排队") == ["utter_queue_message_not_left", "utter_queue_update"]
    await number_step_ended(room, queue, clock, kefu_env, "back-kept")


async def test_cancel_alone_and_not_waiting_still_work_while_the_number_is_asked(room, queue, clock):
    await asked_for_a_number(room, queue, clock, "still", "callback")
    assert await say(room, clock, "still", "算了", "deny") == ["utter_queue_confirm_cancel"]
    assert await say(room, clock, "still", "不用", "deny") == ["utter_queue_update"]
    assert await say(room, clock, "still", "/leave_message", "leave_message") == ["utter_queue_ask_number"]
    assert await say(room, clock, "still", "不等了") == ["utter_queue_cancelled"]
    assert await queue.position("still") is None


async def test_a_number_given_with_the_question_is_taken(room, queue, clock):
    await asked_for_a_number(room, queue, clock, "with", "callback")
    assert await say(room, clock, "with", "为什么要我手机号？好吧 13912345678") == ["utter_queue_callback_booked"]


async def test_a_message_saying_it_does_not_want_to_pay_is_the_message_not_a_decline(room, queue, clock, kefu_env):
    """不想给 alone declines a callback's number only: a message's number may come after the message, which may say it
    (found in review: "乱扣的钱我一分都不想给" ended the step and was dropped)."""
    await asked_for_a_number(room, queue, clock, "pay", "message")
    assert await say(room, clock, "pay", "乱扣的钱我一分都不想给") == ["utter_queue_message_kept_ask_number"]


async def test_a_callback_asked_for_with_a_denied_wait_word_is_no_decline(room, queue, clock, kefu_env):
    """Found in review: "不想继续等了 你们直接给我回电话吧" matched 继续等 and was told no callback would be booked."""
    await asked_for_a_number(room, queue, clock, "want-call", "callback")
    assert "utter_queue_number_declined" not in await say(room, clock, "want-call", "不想继续等了 你们直接给我回电话吧")


async def test_a_number_typed_with_a_place_question_books_the_callback(room, queue, clock, kefu_env):
    """Found in review: "还要等多久啊 我的号码13912345678" was answered the place and the number thrown away."""
    await asked_for_a_number(room, queue, clock, "how-long", "callback")
    assert await say(room, clock, "how-long", "还要等多久啊 我的号码13912345678") == ["utter_queue_callback_booked"]


async def test_a_message_saying_no_calls_is_the_message(room, queue, clock, kefu_env):
    """Found in review: "宽带断了三天了，不要回电话，发短信就行" matched 不要回电 and was dropped."""
    await asked_for_a_number(room, queue, clock, "sms-only", "message")
    assert await say(room, clock, "sms-only", "宽带断了三天了，不要回电话，发短信就行") == ["utter_queue_message_kept_ask_number"]
