"""The desk's knowledge routes on the running stack: signed-in agents only, the conversation as the query, push."""
from __future__ import annotations

import uuid

import pytest
import requests

from bot.channels.knowledge_desk import conversation_query
from bot.db.repository import Repository
from bot.knowledge.index import index_for
from tests.handoff.stack_client import DESK_HEADERS, desk, desk_login, only_waiting, say, tracker


def bot_texts(state: dict) -> list[str]:
    return [e.get("text") or "" for e in state["events"] if e["event"] == "bot"]


def test_the_conversation_query_puts_the_fault_type_first_then_the_latest_intents():
    view = {"slots": {"fault_type": "fault_broadband", "fault_code": "LOS"},
            "intents": [{"intent": "greet"}, {"intent": "fault_broadband"}, {"intent": "request_human"}]}
    assert conversation_query(view) == (("fault_broadband", "request_human", "greet"), "LOS")
    assert conversation_query({}) == ((), None)


@pytest.mark.slow
def test_knowledge_is_for_signed_in_agents_only(running_kefu):
    url = f"{running_kefu.settings.rasa_url}/agent/api/knowledge"
    assert requests.get(url, params={"q": "发票"}, timeout=10).status_code == 401
    assert requests.post(f"{url}/invoice/push", json={"conversation_id": "x"}, headers=DESK_HEADERS,
                         timeout=10).status_code == 401
    session = desk_login(running_kefu)
    without_header = session.post(f"{url}/invoice/push", json={"conversation_id": "x"}, timeout=10)
    assert without_header.status_code == 403
    found = desk(session, running_kefu, "GET", "knowledge?q=光猫红灯一直闪")
    assert found.ok and found.json()["articles"][0]["id"] == "ont_lights"
    not_served = desk(session, running_kefu, "POST", "knowledge/invoice/push", conversation_id="nobody-here")
    assert not_served.status_code == 404


@pytest.mark.slow
def test_the_open_conversation_suggests_an_article_that_one_click_sends_to_the_customer(running_kefu):
    stack = running_kefu
    sender = f"kb-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "电视没信号")
    say(stack, sender, "转人工")
    session = desk_login(stack)
    only_waiting(stack, sender, stack.settings.demo_agent_name)
    assert desk(session, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender

    suggested = desk(session, stack, "GET", f"knowledge?conversation_id={sender}").json()
    assert "fault_tv" in suggested["query"]["intents"]
    assert suggested["articles"][0]["id"] == "tv_no_signal"

    assert desk(session, stack, "POST", "knowledge/tv_no_signal/push", conversation_id=sender).ok
    summary = index_for(stack.settings).article("tv_no_signal").summary
    assert any(summary in text for text in bot_texts(tracker(stack, sender)))
    sent = [e for e in Repository(stack.settings.database_url).events_for(sender) if e["kind"] == "knowledge_sent"]
    assert [e["data"]["article_id"] for e in sent] == ["tv_no_signal"]
    assert desk(session, stack, "POST", f"conversations/{sender}/close", disposition="resolved").ok
