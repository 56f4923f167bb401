"""A caller on a keypad is never told to "reply" (回复) something: every such reply has a phone variant.

Found by a tester: with the service password paused, the phone said 回复“转人工”, which a keypad
caller cannot do (and a 0 pressed there was taken as a digit of the code).
"""
from __future__ import annotations

import re

import yaml

from tests.conftest import PROJECT_ROOT


def test_every_reply_that_asks_to_type_has_a_phone_variant():
    chat_only = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}).items():
            typed = any("回复" in variant.get("text", "") for variant in variants if not variant.get("channel"))
            if typed and not any(variant.get("channel") == "ivr" for variant in variants):
                chat_only.append(f"{path.name}: {name}")
    assert chat_only == []


def test_every_key_a_phone_reply_names_does_something():
    # Found on a live call: 解决了请说“解决了”或按1 had no button, so 1 reached the assistant as the
    # digit "1" and the caller heard 抱歉，我没听清楚 (the same for 2, and in three other replies).
    # On the phone a key chooses only a button (read "…请按1"), 0 and * of the call flow, or, said to a
    # caller waiting for an agent, a hold key of the main flow.
    from bot.handoff.estimate import QUEUE_NOTICES
    from bot.ivr.bot_turns import spoken_replies

    hotline = yaml.safe_load((PROJECT_ROOT / "content" / "ivr.yml").read_text(encoding="utf-8"))["speech"]
    main = yaml.safe_load((PROJECT_ROOT / "ivr_flows" / "main.yml").read_text(encoding="utf-8"))
    hold_keys = {int(key) for key in main["hold"]["keys"]}
    dead = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}).items():
            for variant in variants:
                if variant.get("channel") != "ivr":
                    continue
                spoken = spoken_replies([variant], hotline["button"], hotline["max_buttons_read"])
                named = {int(key) for key in re.findall(r"按([1-9])", " ".join(spoken.texts))}
                working = set(range(1, len(spoken.buttons) + 1)) | (hold_keys if name in QUEUE_NOTICES else set())
                if named - working:
                    dead.append(f"{path.name}: {name}")
    assert dead == []


def test_no_reply_said_on_the_phone_asks_to_send_it_something():
    # Found on a live call: after the agent closed with a ticket, the caller heard 查询进度时发送这个工单号给我.
    # The WeChat channel's own replies (utter_wechat_*) never reach a phone.
    chat_only = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}).items():
            sent = any(re.search(r"发(送)?.{0,8}给我", variant.get("text", "")) for variant in variants
                       if not variant.get("channel"))
            if sent and not name.startswith("utter_wechat_") and not any(v.get("channel") == "ivr" for v in variants):
                chat_only.append(f"{path.name}: {name}")
    assert chat_only == []


def test_a_goodbye_on_the_phone_thanks_for_the_call():
    # Found on a live call: 谢谢 拜拜 was answered 感谢您的来访，再见！如有问题随时找我。 on the phone (a visit,
    # and an invitation to come back to a chat), and the line then waited for more. Each reply that takes leave
    # of a caller (content/ivr.yml ``goodbye_replies``) has a phone variant that thanks for the call.
    hotline = yaml.safe_load((PROJECT_ROOT / "content" / "ivr.yml").read_text(encoding="utf-8"))["speech"]
    responses = {}
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {})
    assert "utter_goodbye" in hotline.get("goodbye_replies", [])
    for name in hotline["goodbye_replies"]:
        spoken = [v["text"] for v in responses[name] if v.get("channel") == "ivr"]
        assert spoken and all("来电" in text and "来访" not in text for text in spoken), (name, spoken)


def test_a_phone_reply_with_more_buttons_than_are_read_names_the_others():
    # Found on a live call: 请问您要办理哪项业务？ read 开通新业务请按1 … 暂停/报停请按5 and stopped there (the phone
    # reads `max_buttons_read`); 取消, 恢复使用 and 过户 could be said, but the caller was never told so.
    from bot.ivr.bot_turns import spoken_replies

    hotline = yaml.safe_load((PROJECT_ROOT / "content" / "ivr.yml").read_text(encoding="utf-8"))["speech"]
    unnamed = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}).items():
            variant = next((v for v in variants if v.get("channel") == "ivr"),
                           next((v for v in variants if not v.get("channel")), None))
            if not variant or not variant.get("buttons"):
                continue
            said = " ".join(spoken_replies([variant], hotline["button"], hotline["max_buttons_read"]).texts)
            unread = [b["title"] for b in variant["buttons"] if b.get("payload") and f"{b['title']}请按" not in said]
            unnamed += [f"{name}: {title}" for title in unread
                        if not any(word in said for word in title.split("/"))]
    assert unnamed == []


def test_no_reply_said_on_the_phone_speaks_of_a_chat_page():
    # Found in review: utter_queue_left_away, which tells a customer they are out of the queue and may queue again
    # or book a callback, had no phone variant, so a caller would have heard 您离开聊天页面的时间较长 — a caller has
    # no page. What the phone is given (its variant, else the reply every channel gets) speaks of none.
    chat_only = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}).items():
            spoken = next((v for v in variants if v.get("channel") == "ivr"),
                          next((v for v in variants if not v.get("channel")), {}))
            if "页面" in spoken.get("text", "") and not name.startswith("utter_wechat_"):
                chat_only.append(f"{path.name}: {name}")
    assert chat_only == []
