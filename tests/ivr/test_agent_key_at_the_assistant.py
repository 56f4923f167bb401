"""0 is an agent everywhere on the phone, the assistant's questions too.

Found in review: the self-help question (utter_ask_selfhelp_worked, 问题解决了吗？) was read on the phone
解决了请按1 没解决请按2 转人工请按3, while every menu and the main flow's assistant nodes give an agent on 0.
A button asking for an agent (content/ivr.yml ``speech.agent_button``) is now read with 0, and 0 sends it
to the assistant, which queues the caller with what it knows of the problem.

The real flow engine and the shipped main flow and responses, with the assistant scripted to give the
shipped phone variant of the question; real Redis and database.
"""
from __future__ import annotations

import uuid

import yaml

from bot.ivr.config import HotlineConfigSource
from bot.ivr.events import CallStart, KeyPress, Say, Utterance
from bot.ivr.flow_tests import ScriptedBot, ScriptedQueue
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_waiting_room_buttons import engine_for


def phone_rendering(response: str) -> dict:
    """What the phone is given for ``response``: its phone variant, else the one every channel gets."""
    responses = yaml.safe_load((PROJECT_ROOT / "domain" / "responses.yml").read_text(encoding="utf-8"))["responses"]
    variant = next((v for v in responses[response] if v.get("channel") == "ivr"), responses[response][0])
    return {"text": variant["text"].replace("{ticket_id}", "TK1001"), "response": response,
            "buttons": variant.get("buttons") or []}


async def asked_then_0(kefu_env, redis, response: str, *turn) -> tuple[str, ScriptedBot, ScriptedQueue]:  # noqa: F811
    """The assistant answers the caller's ``turn`` (keys, then words) with ``response``; the caller presses 0.
    What was said, the assistant and the queue."""
    bot = ScriptedBot([[phone_rendering(response)], []])
    queue = ScriptedQueue(wait_s=60)
    engine = engine_for(kefu_env, redis, bot, queue)
    call_id = f"agent-key-{uuid.uuid4().hex[:8]}"
    await engine.start(CallStart(call_id=call_id, caller="", flow="main", speech_recognised=True))
    try:
        for key in turn[:-1]:
            await engine.handle(call_id, KeyPress(key))
        asked = [c.text for c in await engine.handle(call_id, Utterance(turn[-1])) if isinstance(c, Say)]
        await engine.handle(call_id, KeyPress("0"))
    finally:
        await engine.end(call_id, "test")
    return " ".join(asked), bot, queue


async def test_the_self_help_question_offers_an_agent_on_0_and_0_asks_the_assistant_for_one(kefu_env, redis):  # noqa: F811
    said, bot, queue = await asked_then_0(kefu_env, redis, "utter_ask_selfhelp_worked", "1", "宽带上不了网")  # 故障报修
    assert "转人工请按0" in said and "请按3" not in said, said
    assert "解决了请按1" in said and "没解决请按2" in said, said
    assert bot.heard[-1] == "/request_human", bot.heard  # the assistant's own handoff, with the problem told
    assert queue.queued == [], "not put through by the flow behind the assistant's back"


async def test_the_complaints_offer_of_an_agent_is_read_on_0_and_0_asks_the_assistant(kefu_env, redis):  # noqa: F811
    """Found in review: the complaint's 需要现在转接人工客服吗？ was read 转人工请按1 (a yes-button), while 0, the
    agent key everywhere else, went round the assistant to the flow's own transfer, without the complaint."""
    said, bot, queue = await asked_then_0(kefu_env, redis, "utter_complaint_recorded", "我要投诉")
    assert "转人工请按0" in said and "转人工请按1" not in said, said
    assert bot.heard[-1] == "/request_human", bot.heard
    assert queue.queued == [], "put through by the flow, without the complaint the assistant filed"


def test_every_phone_offer_of_an_agent_is_the_agent_button(kefu_env):
    """Each phone reply whose 转人工 button is a yes to 需要转接人工客服吗？ sends the agent button instead, so
    the phone reads it on 0 like every other agent offer (``speech.agent_button``)."""
    hotline = HotlineConfigSource(kefu_env.content_dir / "ivr.yml").get()
    responses = {}
    for path in (PROJECT_ROOT / "domain").glob("*.yml"):
        responses.update(yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {})
    yes_buttons = []
    for name, variants in responses.items():
        variant = next((v for v in variants if v.get("channel") == "ivr"),
                       next((v for v in variants if not v.get("channel")), None))
        for button in (variant or {}).get("buttons") or []:
            if button.get("title") == "转人工" and button.get("payload") != hotline.agent_button[0]:
                yes_buttons.append(name)
    assert yes_buttons == []
