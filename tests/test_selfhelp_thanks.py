"""On the real servers: a thanks right after "did it fix it?" closes the self-help as resolved.

The intent is sent as a payload so the test checks the dialogue, not the NLU's reading of 谢谢;
the tracker the action server gets must carry the bot's last response name for this to work.
"""
from __future__ import annotations

import pytest

from tests.test_acknowledge_first import chat, reply_text

pytestmark = pytest.mark.slow


def test_thanks_after_did_it_work_is_a_resolved_selfhelp(running_kefu):
    first = chat(running_kefu, "thanks-after-selfhelp", "我家电视没信号了")
    assert first[-1] == reply_text("utter_ask_selfhelp_worked")
    assert chat(running_kefu, "thanks-after-selfhelp", "/thanks")[0] == reply_text("utter_selfhelp_resolved")


def test_thanks_after_anything_else_is_only_thanked(running_kefu):
    chat(running_kefu, "thanks-after-greeting", "你好")
    assert chat(running_kefu, "thanks-after-greeting", "/thanks") == [reply_text("utter_thanks")]
