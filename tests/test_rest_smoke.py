"""The real servers over the REST channel: a whole fault conversation, and bad input."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from bot.db.repository import Repository

pytestmark = pytest.mark.slow


def post(stack, sender: str, message: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return json.loads(response.read())


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_fault_video_not_fixed_ticket(running_kefu):
    first = post(running_kefu, "smoke-1", "我家电视没信号了")
    video = next(r["attachment"] for r in first if "attachment" in r)
    assert video["type"] == "video" and video["payload"]["src"].endswith(".mp4")
    assert any(b.get("type") == "web_url" for r in first for b in r.get("buttons", []))
    assert [b["title"] for b in first[-1]["buttons"]] == ["解决了", "没解决", "转人工"]

    second = post(running_kefu, "smoke-1", "没解决")
    assert any("attachment" in r for r in second), "a next self-help step is offered"
    third = post(running_kefu, "smoke-1", "还是没解决")
    assert [b["payload"] for b in third[-1]["buttons"]] == ["/affirm", "/deny"], "two failures: a human is offered"
    fourth = post(running_kefu, "smoke-1", "不用了")
    assert "手机号" in texts(fourth), "declined: the repair ticket needs the customer's number"
    fifth = post(running_kefu, "smoke-1", "13800000001")
    # A typed number is no proof: the chat names no ticket, the registered number gets it by SMS.
    assert "138****0001" in texts(fifth) and not re.search(r"TK\d{6}", texts(fifth)), texts(fifth)
    repository = Repository(running_kefu.settings.database_url)
    [sms] = [r for r in repository.outbound(channel="sms", limit=1000)
             if r["recipient"] == "13800000001" and r["kind"] == "repair_registered"]
    ticket = repository.get_ticket(re.search(r"TK\d{6}", sms["payload"]["text"]).group())
    assert ticket["kind"] == "fault" and ticket["conversation_id"] == "smoke-1"


def test_the_issue_curl_gets_a_request_for_verification_and_no_personal_data(running_kefu):
    """A sender id that looks like a phone number is chosen by the client: it proves nothing."""
    replies = texts(post(running_kefu, "13800000001", "帮我查一下话费"))
    assert [detail for detail in ("张伟", "23.50", "79.00", "幸福路") if detail in replies] == []
    assert "手机号" in replies


@pytest.mark.parametrize(
    "message",
    ["", "   ", "😀😀😀", "网" * 10000, "hello 我的wifi连不上 please help", "'; DROP TABLE customers; --", "<script>alert(1)</script>"],
    ids=["empty", "whitespace", "emoji", "10k-chars", "mixed-language", "sql-injection", "html-injection"],
)
def test_bad_input_gets_a_reply_never_a_500(running_kefu, message):
    replies = post(running_kefu, f"bad-{abs(hash(message))}", message)
    assert replies and all(r.get("text") or r.get("attachment") for r in replies)


def test_content_free_messages_are_asked_to_rephrase(running_kefu):
    import yaml

    responses = yaml.safe_load((running_kefu.settings.root / "domain" / "responses.yml").read_text(encoding="utf-8"))
    rephrase = next(v["text"] for v in responses["responses"]["utter_default"] if "channel" not in v)
    assert texts(post(running_kefu, "emoji-1", "😀😀😀")) == rephrase
