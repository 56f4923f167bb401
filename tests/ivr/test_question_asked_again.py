"""Silence after the assistant's question: the question again, not all that was said before it.

Found on a live call: 解决了 pressed, the assistant said 太好了，问题已解决！感谢您的耐心。还有其他需要帮忙的吗？, and
after the caller's silence the whole of it again — 太好了，问题已解决！ a second time. A question asked in words
is asked again alone; a question with keys or a number prompt is said again whole (its keys are in it).
The real flow engine and the shipped main flow, the assistant scripted; real Redis and database.
"""
from __future__ import annotations

import uuid

from bot.ivr.events import CallStart, KeyPress, NoInput, Say, Utterance
from bot.ivr.flow_tests import ScriptedBot
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_waiting_room_buttons import engine_for


async def silence_after(kefu_env, redis, reply) -> str:  # noqa: F811
    engine = engine_for(kefu_env, redis, ScriptedBot([[reply]]))
    call_id = f"asked-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        await engine.handle(call_id, KeyPress("1"))  # 故障报修: the assistant
        await engine.handle(call_id, Utterance("解决了"))
        return " ".join(c.text for c in await engine.handle(call_id, NoInput()) if isinstance(c, Say))
    finally:
        await engine.end(call_id, "test")


async def test_silence_after_a_question_in_words_hears_the_question_alone(kefu_env, redis):  # noqa: F811
    again = await silence_after(kefu_env, redis, "太好了，问题已解决！感谢您的耐心。还有其他需要帮忙的吗？")
    assert again == "还有其他需要帮忙的吗？", again


async def test_silence_after_a_question_with_keys_hears_it_whole(kefu_env, redis):  # noqa: F811
    question = {"text": "操作完成后，问题解决了吗？", "response": "utter_ask_selfhelp_worked",
                "buttons": [{"title": "解决了", "payload": "/affirm"}, {"title": "没解决", "payload": "/deny"}]}
    again = await silence_after(kefu_env, redis, question)
    assert again == "操作完成后，问题解决了吗？ 解决了请按1 没解决请按2", again
