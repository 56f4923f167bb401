"""The keys * and # while the assistant's turn waits for the caller, through the real flow engine, the shipped
main flow and the shipped phone variants of the replies, with the assistant scripted (real Redis and database).

Found by the maintainers: keying a verification code, * went to the main menu (as the password prompt said)
and the code was lost, while * at a number the flow asks for clears it and the number is keyed again; and a
lone # with nothing keyed was ignored without a word.
"""
from __future__ import annotations

import uuid

import pytest

from bot.ivr.events import CallStart, KeyPress, Say, Utterance
from bot.ivr.flow_tests import ScriptedBot
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_waiting_room_buttons import engine_for
from tests.test_acknowledge_first import reply_text

CODE_PROMPTS = ("utter_verification_code_sent", "utter_verification_code_sent_to_account",
                "utter_verification_password_only", "utter_verification_password_paused")


def phone_variant(response: str) -> dict:
    """What the phone is given for ``response``: its shipped phone variant, placeholders filled."""
    return {"text": reply_text(response, "ivr").replace("{remaining}", "2"), "response": response}


async def asked(kefu_env, redis, reply, *later) -> tuple:  # noqa: F811
    """A call at the main flow's fault assistant whose first turn is answered with ``reply``."""
    bot = ScriptedBot([[reply], *later])
    engine = engine_for(kefu_env, redis, bot)
    call_id = f"assistant-keys-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    await engine.handle(call_id, KeyPress("1"))  # 故障报修: the assistant
    await engine.handle(call_id, Utterance("宽带上不了网", 0.9, 1.0))
    return engine, call_id, bot


def spoken(commands: list) -> str:
    return " / ".join(c.text for c in commands if isinstance(c, Say))


@pytest.mark.parametrize("response", CODE_PROMPTS)
async def test_star_while_keying_a_code_clears_it_and_the_code_keyed_again_is_whole(kefu_env, redis, response):  # noqa: F811
    engine, call_id, bot = await asked(kefu_env, redis, phone_variant(response), ["好的，已核实您的身份。"])
    try:
        for digit in "12":
            await engine.handle(call_id, KeyPress(digit))
        cleared = await engine.handle(call_id, KeyPress("*"))
        state = await engine.services.store.load(call_id)
        assert state.node == "fault_bot", f"* took the caller to {state.node}, and the code keyed so far with it"
        assert "重新输入" in spoken(cleared), spoken(cleared)
        for digit in "123456#":
            commands = await engine.handle(call_id, KeyPress(digit))
    finally:
        await engine.end(call_id, "test")
    assert bot.heard[-1] == "123456", bot.heard
    assert "已核实" in spoken(commands)


@pytest.mark.parametrize("response", CODE_PROMPTS)
def test_every_code_prompt_says_what_star_does(response):
    text = phone_variant(response)["text"]
    assert "输错了请按星号键重新输入" in text, text


async def test_star_with_nothing_keyed_at_the_paused_password_is_the_main_menu_the_prompt_names(kefu_env, redis):  # noqa: F811
    reply = phone_variant("utter_verification_password_paused")
    assert "直接按星号键回到主菜单" in reply["text"], reply["text"]
    engine, call_id, _ = await asked(kefu_env, redis, reply)
    try:
        commands = await engine.handle(call_id, KeyPress("*"))
        state = await engine.services.store.load(call_id)
    finally:
        await engine.end(call_id, "test")
    assert state.node == "main_menu", state.node
    assert "人工服务请按0" in spoken(commands), spoken(commands)


async def test_a_lone_hash_after_a_question_is_told_no_option_and_hears_the_question_again(kefu_env, redis):  # noqa: F811
    engine, call_id, bot = await asked(kefu_env, redis, "请问是家里所有的电视都没信号吗？")
    try:
        commands = await engine.handle(call_id, KeyPress("#"))
    finally:
        await engine.end(call_id, "test")
    assert "没有这个选项" in spoken(commands) and "所有的电视都没信号吗" in spoken(commands), spoken(commands)
    assert bot.heard == ["宽带上不了网"], "nothing keyed went to the assistant"


async def test_a_lone_hash_at_a_code_prompt_hears_the_question_again(kefu_env, redis):  # noqa: F811
    engine, call_id, bot = await asked(kefu_env, redis, phone_variant("utter_verification_code_sent"))
    try:
        commands = await engine.handle(call_id, KeyPress("#"))
    finally:
        await engine.end(call_id, "test")
    assert "请用按键输入验证码" in spoken(commands), spoken(commands)
    assert "没有这个选项" not in spoken(commands), "# is the code's own key there, only nothing was keyed"
    assert bot.heard == ["宽带上不了网"]
