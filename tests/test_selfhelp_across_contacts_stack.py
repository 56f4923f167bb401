"""On the real servers: a proven customer who said the self-help video did not help is not sent it again
in their next conversation (found by a cross-channel journey tester; the action tests hold the WeChat case)."""
from __future__ import annotations

import re

import pytest

from bot.db.repository import Repository
from tests.test_acknowledge_first import chat, reply_text
from tests.test_rest_smoke import post

pytestmark = pytest.mark.slow

NUMBER = "13800000003"


def prove(stack, sender: str) -> None:
    """Ask for the bill, give the registered number and the code sent to it: the conversation is proven."""
    repository = Repository(stack.settings.database_url)
    chat(stack, sender, "帮我查一下话费")
    chat(stack, sender, NUMBER)
    codes = [r for r in repository.outbound(channel="sms", limit=1000)
             if r["recipient"] == NUMBER and r["kind"] == "verification_code"]
    code = re.search(r"\d{6}", codes[-1]["payload"]["text"]).group()
    replies = "".join(text or "" for text in chat(stack, sender, code))
    assert repository.find_customer(phone=NUMBER).name in replies, replies


def test_the_video_that_did_not_help_is_not_sent_in_the_next_conversation(running_kefu):
    prove(running_kefu, "tried-web-1")
    first = post(running_kefu, "tried-web-1", "我家电视没信号了")
    assert any("attachment" in r for r in first)
    chat(running_kefu, "tried-web-1", "没解决")

    prove(running_kefu, "tried-web-2")
    again = post(running_kefu, "tried-web-2", "电视还是没信号")

    assert not any("attachment" in r for r in again), "the same video again"
    assert reply_text("utter_ask_fault_detail_fault_tv") in [r.get("text") for r in again], "the details first"
    answer = post(running_kefu, "tried-web-2", '/fault_tv{"symptom": "没信号"}')  # the question's first button
    assert not any("attachment" in r for r in answer), "the same video again"
    assert reply_text("utter_selfhelp_tried_before") in [r.get("text") for r in answer]
