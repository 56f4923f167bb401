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


def test_agents_see_work_items_and_ledger_items_of_their_skill_groups_only_and_numbers_masked(running_kefu):
    """Found by a tester: an agent with the TV group only read billing and complaint work items with
    full numbers, and the whole ledger of every customer."""
    from bot.db.repository import Repository

    stack = running_kefu
    repo = Repository(stack.settings.database_url)
    name = f"tvonly-{uuid.uuid4().hex[:6]}"
    AccountStore(stack.settings.database_url).add(name, "plain-agent-pass", ["tv"],
                                                  known_skills=["tv", "broadband", "billing", "general"])
    billing = repo.create_ticket(kind="callback", customer_id=None, summary="客户对欠费有疑问 13800000002",
                                 details={"callback_phone": "13800000002", "skill": "billing"}, needs_human=True, priority=8)
    complaint = repo.create_ticket(kind="complaint", customer_id=None, summary="投诉装机师傅",
                                   details={"phone": "13800000003"}, needs_human=True, priority=8)
    tv = repo.create_ticket(kind="callback", customer_id=None, summary="遥控器没反应，回电 13900001234",
                            details={"callback_phone": "13900001234", "skill": "tv"}, needs_human=True, priority=8)

    plain = desk_login(stack, name, "plain-agent-pass")
    items = {i["ticket_id"]: i for i in desk(plain, stack, "GET", "overview").json()["work_items"]}
    assert tv in items and billing not in items and complaint not in items
    assert items[tv]["phone"] == "*******1234" and "13900001234" not in items[tv]["summary"]
    assert desk(plain, stack, "POST", f"tickets/{tv}/reveal").json()["value"] == "13900001234"
    for path in (f"tickets/{billing}/reveal", f"tickets/{billing}/done"):
        refused = desk(plain, stack, "POST", path)
        assert refused.status_code == 404 and refused.json()["error"] == "error_ticket", path
    assert repo.get_ticket(billing)["status"] == "open"

    ledger = {i["ticket_id"]: i for i in desk(plain, stack, "GET", "ledger?all=1").json()["items"]}
    assert tv in ledger and billing not in ledger and complaint not in ledger
    assert "13900001234" not in ledger[tv]["summary"] and "1234" in ledger[tv]["summary"]
    refused = desk(plain, stack, "POST", f"ledger/{complaint}/done", note="not mine")
    assert refused.status_code == 404 and refused.json()["error"] == "error_ticket"
    assert repo.get_ticket(complaint)["status"] == "open"

    boss = desk_login(stack)  # the demo agent is a supervisor: every group
    seen = {i["ticket_id"] for i in desk(boss, stack, "GET", "overview").json()["work_items"]}
    assert {billing, complaint, tv} <= seen
    assert {billing, complaint, tv} <= {i["ticket_id"] for i in desk(boss, stack, "GET", "ledger?all=1").json()["items"]}
