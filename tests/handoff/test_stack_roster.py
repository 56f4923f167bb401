"""The supervisor page lists every account, not only agents who have signed in (the desk's API on the running stack)."""
from __future__ import annotations

import uuid

import pytest

from bot.handoff.accounts import AccountStore
from tests.handoff.stack_client import desk, desk_login

pytestmark = pytest.mark.slow


def test_an_agent_who_never_signed_in_is_listed_offline_and_can_be_granted_skill_groups(running_kefu):
    """Found by a tester: agents made with `kefu agent add` appeared only after their first sign-in,
    so nobody could grant them skill groups before their first shift."""
    stack = running_kefu
    name = f"new-{uuid.uuid4().hex[:6]}"
    AccountStore(stack.settings.database_url).add(name, "first-shift-1", ["tv"], display_name="李明",
                                                  known_skills=["tv", "billing"])
    boss = desk_login(stack)
    listed = [a for a in desk(boss, stack, "GET", "supervisor").json()["agents"] if a["agent_id"] == name]
    assert listed == [{"agent_id": name, "name": "李明", "skills": [], "capacity": listed[0]["capacity"], "active": 0,
                       "state": "offline", "serving": [], "granted_skills": ["tv"]}]

    assert desk(boss, stack, "POST", f"supervisor/agents/{name}/skills", skills=["tv", "billing"]).ok
    agent = desk_login(stack, name, "first-shift-1")
    assert desk(agent, stack, "GET", "overview").json()["agent"]["granted_skills"] == ["tv", "billing"]
    assert desk(agent, stack, "POST", "status", status="available", skills=["billing"]).ok
