"""A reply with buttons is read on the phone as its text and its keys ("…查账单请按1 人工服务请按2",
``bot/ivr/bot_turns.py``), and the speech cache keeps that whole sentence under its hash. The erasure
hashed only the reply's text, so the WAV of a personal reply that offered a menu — "张伟您好，您本月
账单79元" and what to press — stayed in ``var/tts-cache/`` after the caller was erased."""
from __future__ import annotations

import json

from bot.ivr.bot_turns import spoken_replies
from bot.ivr.config import load_hotline_config
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores

REPLY = {"text": "张伟您好，您本月账单为79元，已逾期。",
         "buttons": [{"title": "查账单", "payload": "/check_bill"}, {"title": "人工服务", "payload": "/human"}]}
NEXT = {"text": "还有其他问题吗？", "buttons": [{"title": "没有了", "payload": "/goodbye"}]}


def test_the_erasure_deletes_the_cached_speech_of_a_personal_reply_read_with_its_keys(env):  # noqa: F811
    settings, client, _seeded = env
    from voice.speakable import speakable
    from voice.tts import Pyttsx3Engine

    client.rpush("kefu:events:ivr:f1", *(json.dumps({"event": "bot", "text": m["text"], "data": {"buttons": m["buttons"]}},
                                                    ensure_ascii=False) for m in (REPLY, NEXT)))
    hotline = load_hotline_config(settings.content_dir / "ivr.yml")
    said = spoken_replies([REPLY, NEXT], hotline.button_template, hotline.max_buttons_read).texts  # one turn
    assert len(said) == 2 and "请按1" in said[0] and "请按3" in said[1]
    engine = Pyttsx3Engine.from_settings(settings)
    cached = [engine.cache_path(speakable(text.strip()), 8000) for text in said]
    for path in cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF-spoken-menu")

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert [p.exists() for p in cached] == [False, False]


def test_the_erasure_deletes_the_cached_speech_of_a_reply_whose_agent_button_is_read_with_0(env):  # noqa: F811
    """The agent button is read with the hotline's agent key (``speech.agent_button``: 转人工请按0), not its
    place: the erasure reads the reply the same way, or that sentence's WAV would stay."""
    settings, client, _seeded = env
    from voice.speakable import speakable
    from voice.tts import Pyttsx3Engine

    asked = {"text": "张伟您好，路由器重启后问题解决了吗？",
             "buttons": [{"title": "解决了", "payload": "/affirm"}, {"title": "转人工", "payload": "/request_human"}]}
    client.rpush("kefu:events:ivr:f1", json.dumps({"event": "bot", "text": asked["text"], "data": {"buttons": asked["buttons"]}},
                                                  ensure_ascii=False))
    hotline = load_hotline_config(settings.content_dir / "ivr.yml")
    said = spoken_replies([asked], hotline.button_template, hotline.max_buttons_read,
                          agent_button=hotline.agent_button).texts
    assert len(said) == 1 and "转人工请按0" in said[0], said
    cached = Pyttsx3Engine.from_settings(settings).cache_path(speakable(said[0].strip()), 8000)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"RIFF-spoken-menu")

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert not cached.exists()
