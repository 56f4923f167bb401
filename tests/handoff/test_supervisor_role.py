"""Only supervisors may see the supervisor view and remove queue entries (the desk's API on the running stack)."""
from __future__ import annotations

import uuid

import pytest
import requests

from bot.handoff.accounts import AccountStore
from tests.handoff.stack_client import desk, desk_login, say, tracker

pytestmark = pytest.mark.slow


def test_a_plain_agent_gets_403_and_the_supervisor_gets_the_view(running_kefu):
    stack = running_kefu
    name = f"plain-{uuid.uuid4().hex[:6]}"
    store = AccountStore(stack.settings.database_url)
    store.add(name, "plain-agent-pass", ["tv"], known_skills=["tv", "broadband", "billing", "general"])
    ghost = f"ghost-role-{uuid.uuid4().hex[:6]}"
    say(stack, ghost, "宽带连不上了")
    say(stack, ghost, "转人工")

    plain = desk_login(stack, name, "plain-agent-pass")
    assert desk(plain, stack, "GET", "overview").json()["agent"]["role"] == "agent"
    for method, path in [("GET", "supervisor"), ("POST", f"supervisor/queue/{ghost}/remove")]:
        refused = desk(plain, stack, method, path)
        assert refused.status_code == 403 and refused.json()["error"] == "error_not_supervisor", path
    assert plain.get(f"{stack.settings.rasa_url}/agent/supervisor/", timeout=10).status_code == 403
    assert tracker(stack, ghost)["paused"] is True, "still queued: the plain agent removed nothing"

    store.set_role(name, "supervisor")  # takes effect for the signed-in agent at once
    view = desk(plain, stack, "GET", "supervisor")
    assert view.ok and any(e["conversation_id"] == ghost for q in view.json()["queues"] for e in q["entries"])

    boss = desk_login(stack)  # the demo agent is a supervisor
    assert boss.get(f"{stack.settings.rasa_url}/agent/supervisor/", timeout=10).status_code == 200
    assert desk(boss, stack, "POST", f"supervisor/queue/{ghost}/remove").ok
    assert requests.get(f"{stack.settings.rasa_url}/agent/api/supervisor", timeout=10).status_code == 401


def test_agents_take_only_skill_groups_a_supervisor_granted(running_kefu):
    """Found by a probe: the desk's status call let an agent give themselves any queue."""
    stack = running_kefu
    name = f"narrow-{uuid.uuid4().hex[:6]}"
    store = AccountStore(stack.settings.database_url)
    store.add(name, "plain-agent-pass", ["tv"], known_skills=["tv", "broadband", "billing", "general"])
    plain = desk_login(stack, name, "plain-agent-pass")
    grab = desk(plain, stack, "POST", "status", status="away", skills=["tv", "billing"])
    assert grab.status_code == 403 and grab.json()["error"] == "error_skills"
    mine = desk(plain, stack, "GET", "overview").json()["agent"]
    assert (mine["skills"], mine["granted_skills"], store.get(name).skills) == (["tv"], ["tv"], ("tv",))
    refused = desk(plain, stack, "POST", f"supervisor/agents/{name}/skills", skills=["tv", "billing"])
    assert refused.status_code == 403 and refused.json()["error"] == "error_not_supervisor"

    boss = desk_login(stack)  # the demo agent is a supervisor
    assert desk(boss, stack, "POST", f"supervisor/agents/{name}/skills", skills=["tv", "billing"]).ok
    shown = next(a for a in desk(boss, stack, "GET", "supervisor").json()["agents"] if a["agent_id"] == name)
    assert shown["granted_skills"] == ["tv", "billing"] and store.get(name).skills == ("tv", "billing")
    # Granted, the agent may take it, or only it, for now.
    assert desk(plain, stack, "POST", "status", status="away", skills=["billing"]).ok
    mine = desk(plain, stack, "GET", "overview").json()["agent"]
    assert (mine["skills"], mine["granted_skills"]) == (["billing"], ["tv", "billing"])


def test_the_screen_pop_is_only_for_the_agent_holding_the_conversation(running_kefu):
    stack = running_kefu
    session = desk_login(stack)
    assert requests.get(f"{stack.settings.rasa_url}/agent/api/conversations/x/customer", timeout=10).status_code == 401
    assert desk(session, stack, "GET", "conversations/nobody-here/customer").status_code == 404
    refused = desk(session, stack, "POST", "conversations/nobody-here/customer/contact",
                   field="callback_phone", value="13912345678")
    assert refused.status_code == 404


def test_a_customer_the_supervisor_removes_is_told_and_it_is_no_abandonment(running_kefu):
    """Found by a tester: 移出队列 left the customer waiting for nobody, and counted as them giving up."""
    from bot.analytics.contacts import split_contacts
    from bot.analytics.kpis import figures
    from bot.db.repository import Repository

    stack = running_kefu
    stale = f"stale-{uuid.uuid4().hex[:6]}"
    say(stack, stale, "转人工")
    assert tracker(stack, stale)["paused"] is True
    boss = desk_login(stack)  # the demo agent is a supervisor
    assert desk(boss, stack, "POST", f"supervisor/queue/{stale}/remove").ok
    state = tracker(stack, stale)
    told = [e for e in state["events"] if e["event"] == "bot"][-1]
    assert state["paused"] is False and "客服主管结束" in told["text"]
    assert any(b["title"] == "预约回电" for b in told["data"]["buttons"]), "the way to a person"
    again = desk(boss, stack, "POST", f"supervisor/queue/{stale}/remove")
    assert again.status_code == 404 and again.json()["error"] == "error_not_waiting"

    contacts = split_contacts(Repository(stack.settings.database_url).events_for(stale))
    assert [c.how for c in contacts] == ["removed"]
    assert figures(contacts, sl_seconds=20).abandoned == 0
