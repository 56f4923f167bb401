"""What customers type reaches the assistant in a shape it can take, on every channel (bot/channels/intake.py).

Found in review: half an emoji (a lone UTF-16 surrogate, which Kefu's own chat page could make by
cutting a draft between the two halves) failed the turn — the sentence encoder cannot encode it,
and web chat could not even record the message in Redis — and a long WeChat or REST message held
the worker's event loop for seconds in the NLU (16,000 characters: 15 s) where web chat caps at
2,000 characters.
"""
from __future__ import annotations

import json
import uuid

import pytest

from tests.channels.test_wechat import reply_fields, turns, user_turns
from tests.channels.test_webchat_socketio import asks_if_solved, chat  # noqa: F401  the page's Socket.IO client
from tests.channels.wechat_client import new_msg_id, new_openid, text_xml
from tests.test_rest_smoke import post, texts

pytestmark = pytest.mark.slow

HALF_AN_EMOJI = "\ud83d"  # the first half of 😀 (U+1F600), as chat.js's slice could leave it
LIMIT = 2000  # the web chat's max_message_chars (credentials.yml), every channel's (test_message_limit.py)
LONG = ("宽带连不上了，" * 3000)[:20000]  # 60 KB of UTF-8: within WeChat's 64 KB body


def apology(stack) -> str:
    import yaml

    responses = yaml.safe_load((stack.settings.root / "domain" / "operations.yml").read_text(encoding="utf-8"))
    return responses["responses"]["utter_technical_problem"][0]["text"]


def cut_notice(stack) -> str:
    strings = json.loads((stack.settings.content_dir / "ui" / "webchat.zh.json").read_text(encoding="utf-8"))
    return strings["notice_cut"].format(limit=LIMIT)


def test_rest_message_with_half_an_emoji_gets_the_same_answer(running_kefu):
    whole, halved = f"intake-{uuid.uuid4().hex}", f"intake-{uuid.uuid4().hex}"
    as_sent = post(running_kefu, whole, "宽带连不上了")
    cut = post(running_kefu, halved, "宽带连不上了" + HALF_AN_EMOJI)
    assert apology(running_kefu) not in texts(cut)
    assert texts(cut) == texts(as_sent)
    assert turns(running_kefu, halved) == ["宽带连不上了"]  # what was there to understand


async def test_webchat_message_with_half_an_emoji_gets_the_self_help_answer(chat, running_kefu):
    client = chat()
    await client.connect()
    await client.say("宽带连不上了" + HALF_AN_EMOJI)
    messages = await client.replies_until(asks_if_solved)
    assert apology(running_kefu) not in [m.get("text") for m in messages]
    assert any(m.get("attachment", {}).get("type") == "video" for m in messages)


def test_rest_message_beyond_the_limit_reaches_the_assistant_cut(running_kefu):
    sender = f"intake-{uuid.uuid4().hex}"
    replies = post(running_kefu, sender, LONG)
    assert replies[0] == {"recipient_id": sender, "text": cut_notice(running_kefu)}  # told first, as on WeChat
    assert replies[1:] and apology(running_kefu) not in texts(replies)
    assert turns(running_kefu, sender) == [LONG[:LIMIT]]


def test_wechat_text_beyond_the_limit_is_cut_answered_and_the_follower_told(wechat, wechat_api, running_kefu):
    openid = new_openid()
    answer = wechat.post(text_xml(openid, LONG, new_msg_id()))
    assert answer.status == 200 and answer.seconds < 5
    passive = reply_fields(answer.body) if answer.body != "success" else {}
    said = [passive.get("Content")] + [m.get("text", {}).get("content") for m in wechat_api.wait_for_sent(openid)]
    assert cut_notice(running_kefu) in said  # told, as the chat page tells of a draft cut
    assert user_turns(running_kefu, openid) == [LONG[:LIMIT]]
    # and answered: the broadband self-help article comes after the notice
    articles = [passive.get("items")] + [m.get("news", {}).get("articles") for m in wechat_api.sent_to(openid)]
    assert any(a for a in articles), said


def test_wechat_safe_mode_cuts_a_long_text_as_plain_mode_does_and_refuses_only_what_plain_refuses(wechat, running_kefu):
    """Safe mode's ciphertext is a third larger than the message: held to the plain message's 64 KB, a
    text plain mode cut and answered was refused in safe mode (WeChat retries, then tells the follower the
    account cannot serve them)."""
    openid = new_openid()
    answer = wechat.post(text_xml(openid, LONG, new_msg_id()), safe=True)
    assert answer.status == 200
    assert user_turns(running_kefu, openid) == [LONG[:LIMIT]]
    too_long = new_openid()
    assert wechat.post(text_xml(too_long, "网" * 30000, new_msg_id()), safe=True).status == 413  # as in plain mode
    assert user_turns(running_kefu, too_long) == []