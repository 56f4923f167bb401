"""Pause and resume in the real Rasa server through the REST channel, with the desk's API."""
from __future__ import annotations

import uuid

import pytest
import requests

from bot.db.repository import Repository
from tests.handoff.stack_client import desk, desk_login, only_waiting, say, tracker, wait_for

pytestmark = pytest.mark.slow


def bot_texts(state: dict) -> list[str]:
    return [e.get("text") or "" for e in state["events"] if e["event"] == "bot"]


def test_request_human_pauses_relays_and_hands_back(running_kefu):
    stack = running_kefu
    sender = f"handoff-{uuid.uuid4().hex[:10]}"
    session = desk_login(stack)
    assert desk(session, stack, "POST", "status", status="available").ok  # somebody there: a real estimate
    say(stack, sender, "电视没信号")
    queued = say(stack, sender, "转人工")
    status = next(m["custom"] for m in queued if m.get("custom", {}).get("kind") == "queue_status")
    assert status["position"] >= 1 and status["wait_minutes"] >= 1
    assert any("排在第" in (m.get("text") or "") for m in queued)
    assert tracker(stack, sender)["paused"] is True

    assert say(stack, sender, "人呢？快点") == [], "no bot reply while paused"
    # Every agent sees every queue, but not the waiting conversations' ids: with one, REST can
    # speak as the customer (found by a probe).
    assert sender not in desk(session, stack, "GET", "overview").text

    only_waiting(stack, sender, stack.settings.demo_agent_name)
    claimed = desk(session, stack, "POST", "claim").json()["conversation"]
    assert claimed["conversation_id"] == sender
    assert claimed["skill"] == "tv" and claimed["reason"] == "request_human"
    assert [t["text"] for t in claimed["transcript"] if t["who"] == "customer"][:2] == ["电视没信号", "转人工"]

    turns = wait_for(lambda: [t for t in desk(session, stack, "GET", f"conversations/{sender}/messages?after=-1")
                              .json()["turns"] if t["text"] == "人呢？快点"])
    assert turns[0]["who"] == "customer"
    assert desk(session, stack, "POST", f"conversations/{sender}/messages", text="您好，我来帮您看看").ok
    assert any("您好，我来帮您看看" in text for text in bot_texts(tracker(stack, sender)))
    # A REST integration has no open request to answer on: the agent's words wait in the outbox.
    queued = Repository(stack.settings.database_url).outbound(status="pending", channel="rest", limit=1000)
    assert any(r["recipient"] == sender and "您好，我来帮您看看" in (r["payload"].get("text") or "") for r in queued)

    other = desk(session, stack, "POST", f"conversations/{sender}/close", disposition="resolved", note="重启后恢复")
    assert other.ok, other.text
    state = tracker(stack, sender)
    assert state["paused"] is False
    assert "人工客服已结束" in bot_texts(state)[-2]
    assert "请为本次服务打个分" in bot_texts(state)[-1]  # resolved by the agent: the score, asked once
    assert state["events"][-1] == {**state["events"][-1], "event": "action", "name": "action_listen"}
    again = say(stack, sender, "查一下话费")
    assert any("手机号" in (m.get("text") or "") for m in again), again

    kinds = [e["kind"] for e in Repository(stack.settings.database_url).events_for(sender)]
    assert {"handoff_queued", "handoff_claimed", "handoff_closed"} <= set(kinds)


def test_desk_requires_a_signed_in_agent(running_kefu):
    url = f"{running_kefu.settings.rasa_url}/agent/api"
    assert requests.get(f"{url}/overview", timeout=10).status_code == 401
    refused = requests.post(f"{url}/login", json={"name": running_kefu.settings.demo_agent_name,
                                                  "password": "not-the-password"},
                            headers={"X-Kefu-Desk": "1"}, timeout=30)
    assert refused.status_code == 401
    no_header = requests.post(f"{url}/login", json={"name": "demo", "password": "x"}, timeout=30)
    assert no_header.status_code == 403
    session = desk_login(running_kefu)
    cookie = next(c for c in session.cookies if c.name == "kefu_agent")
    assert cookie.has_nonstandard_attr("HttpOnly") or cookie._rest.get("HttpOnly") is not None
    assert desk(session, running_kefu, "GET", "overview").json()["agent"]["agent_id"] == "demo"
    page = requests.get(f"{running_kefu.settings.rasa_url}/agent/", timeout=10)
    assert page.ok and "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_leaving_a_message_while_waiting_becomes_a_work_item(running_kefu):
    stack = running_kefu
    sender = f"handoff-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "转人工")
    say(stack, sender, "#handoff:message")
    # An anonymous customer is asked how to reach them before any message is taken.
    wait_for(lambda: any("手机号" in t for t in bot_texts(tracker(stack, sender))))
    say(stack, sender, "13912345678")
    wait_for(lambda: any("请直接输入" in t for t in bot_texts(tracker(stack, sender))))
    say(stack, sender, "明天上午给我回个电话")
    wait_for(lambda: any("留言已记录" in t for t in bot_texts(tracker(stack, sender))))
    assert any("139****5678" in t and "前" in t for t in bot_texts(tracker(stack, sender))), "says who calls when"
    assert tracker(stack, sender)["paused"] is False
    events = Repository(stack.settings.database_url).events_for(sender)
    abandoned = [e for e in events if e["kind"] == "handoff_abandoned"]
    assert abandoned and abandoned[0]["data"]["reason"] == "message"
    session = desk_login(stack)
    items = desk(session, stack, "GET", "overview").json()["work_items"]
    item = next(i for i in items if "明天上午给我回个电话" in i["message"])
    assert item["phone"] == "*******5678" and item["callback_by"]
    assert desk(session, stack, "POST", f"tickets/{item['ticket_id']}/reveal").json()["value"] == "13912345678"


def test_a_removed_agent_is_signed_out_everywhere_and_their_customer_waits_for_the_next(running_kefu, capsys):
    """`kefu agent remove`: no sign-in, the open desk session refused at once, the conversation back in the queue."""
    import argparse

    from bot.handoff.accounts import AccountStore
    from bot.handoff.commands import agent_remove

    stack = running_kefu
    name, password = f"leaver-{uuid.uuid4().hex[:6]}", "leaver-pass-1"
    AccountStore(stack.settings.database_url).add(name, password, ["tv"], known_skills=["tv"])
    leaver, boss = desk_login(stack, name, password), desk_login(stack)
    assert desk(boss, stack, "POST", "status", status="available").ok
    sender = f"left-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "电视没信号")
    say(stack, sender, "转人工")
    only_waiting(stack, sender, name)
    assert desk(leaver, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender

    assert agent_remove(argparse.Namespace(name=name, settings=stack.settings)) == 0
    for method, path in [("GET", "overview"), ("POST", f"conversations/{sender}/messages")]:
        refused = desk(leaver, stack, method, path, text="还在吗")
        assert refused.status_code == 401 and refused.json()["error"] == "error_signed_out", path
    again = requests.post(f"{stack.settings.rasa_url}/agent/api/login", json={"name": name, "password": password},
                          headers={"X-Kefu-Desk": "1"}, timeout=30)
    assert again.status_code == 401

    def waiting_again() -> bool:
        view = desk(boss, stack, "GET", "supervisor").json()
        return (any(e["conversation_id"] == sender for q in view["queues"] for e in q["entries"])
                and all(a["agent_id"] != name for a in view["agents"]))

    wait_for(waiting_again)
    wait_for(lambda: "排在第" in bot_texts(tracker(stack, sender))[-1])  # told their place in line again
    assert [e["data"] for e in Repository(stack.settings.database_url).events_for(sender)
            if e["kind"] == "handoff_requeued"] == [{"agent_id": name, "reason": "removed"}]
    assert tracker(stack, sender)["paused"] is True, "still with the people, not handed to the bot"
    only_waiting(stack, sender, stack.settings.demo_agent_name)
    assert desk(boss, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender
    assert desk(boss, stack, "POST", f"conversations/{sender}/close", disposition="resolved").ok

    capsys.readouterr()
    assert agent_remove(argparse.Namespace(name=name, settings=stack.settings)) == 1
    assert capsys.readouterr().err == f"kefu agent remove: no agent {name!r}\n"


def test_a_changed_password_signs_the_agents_open_sessions_out(running_kefu, monkeypatch):
    """Found by a probe: the demo supervisor's published password could not be changed, and sessions
    renewed on every request never ended. `kefu agent password` ends every session of the old one."""
    import argparse
    import io

    from bot.handoff.accounts import AccountStore
    from bot.handoff.commands import agent_password, demo_login_note

    stack = running_kefu
    name = f"mover-{uuid.uuid4().hex[:6]}"
    AccountStore(stack.settings.database_url).add(name, "old-pass-1", ["tv"], known_skills=["tv"])
    session = desk_login(stack, name, "old-pass-1")
    assert desk(session, stack, "GET", "overview").ok

    monkeypatch.setattr("sys.stdin", io.StringIO("new-pass-22\n"))
    assert agent_password(argparse.Namespace(name=name, settings=stack.settings)) == 0
    refused = desk(session, stack, "GET", "overview")
    assert refused.status_code == 401 and refused.json()["error"] == "error_signed_out"
    assert desk(desk_login(stack, name, "new-pass-22"), stack, "GET", "overview").ok
    old = requests.post(f"{stack.settings.rasa_url}/agent/api/login", json={"name": name, "password": "old-pass-1"},
                        headers={"X-Kefu-Desk": "1"}, timeout=30)
    assert old.status_code == 401
    assert "kefu agent password demo" in demo_login_note(stack.settings)  # the demo login still has its published password
