"""An agent leaving the desk with customers still held: nobody is stranded (the desk's API on the running stack)."""
from __future__ import annotations

import uuid

import pytest

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from tests.handoff.stack_client import desk, desk_login, only_waiting, say, tracker, wait_for
from tests.test_acknowledge_first import reply_text

pytestmark = pytest.mark.slow


def bot_texts(state: dict) -> list[str]:
    return [e.get("text") or "" for e in state["events"] if e["event"] == "bot"]


def an_agent_holding(stack, sender: str):
    """A new tv agent signed in and serving ``sender`` (who asked for a person); the demo supervisor
    signed in and available, so the customer's notices give a place in line."""
    name, password = f"agent-{uuid.uuid4().hex[:6]}", "departing-pass-1"
    AccountStore(stack.settings.database_url).add(name, password, ["tv"], known_skills=["tv"])
    agent, boss = desk_login(stack, name, password), desk_login(stack)
    assert desk(boss, stack, "POST", "status", status="available").ok
    say(stack, sender, "电视没信号")
    say(stack, sender, "转人工")
    only_waiting(stack, sender, name)
    assert desk(agent, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender
    return name, agent, boss


def tv_queue(stack, boss) -> list[str]:
    view = desk(boss, stack, "GET", "supervisor").json()
    return [e["conversation_id"] for q in view["queues"] if q["skill"] == "tv" for e in q["entries"]]


def requeued_events(stack, sender: str) -> list[dict]:
    return [e["data"] for e in Repository(stack.settings.database_url).events_for(sender)
            if e["kind"] == "handoff_requeued"]


def test_signing_out_puts_held_customers_back_in_their_queue_in_their_place_and_tells_them(running_kefu):
    """Found by a tester: an agent who signed out kept the conversation; the customer was never answered."""
    stack = running_kefu
    sender, later = f"held-{uuid.uuid4().hex[:8]}", f"later-{uuid.uuid4().hex[:8]}"
    name, agent, boss = an_agent_holding(stack, sender)
    say(stack, later, "电视没信号")
    say(stack, later, "转人工")  # came after the held customer first asked

    signed_out = desk(agent, stack, "POST", "logout")
    assert signed_out.ok and signed_out.json()["requeued"] == 1
    assert tv_queue(stack, boss)[:2] == [sender, later], "back in line in their place, ahead of later arrivals"
    wait_for(lambda: "排在第" in bot_texts(tracker(stack, sender))[-1])  # told their place in line again
    # and first that their agent left (found in a review: only the place, as if nobody had been serving them)
    assert bot_texts(tracker(stack, sender))[-2] == reply_text("utter_queue_agent_left")
    assert tracker(stack, sender)["paused"] is True, "still with the people, not handed to the bot"
    assert requeued_events(stack, sender) == [{"agent_id": name, "reason": "signed_out"}]

    only_waiting(stack, sender, stack.settings.demo_agent_name)
    assert desk(boss, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender
    assert desk(boss, stack, "POST", f"conversations/{sender}/close", disposition="resolved").ok


def test_a_supervisor_puts_a_served_conversation_back_in_the_queue(running_kefu):
    stack = running_kefu
    sender = f"stuck-{uuid.uuid4().hex[:8]}"
    name, agent, boss = an_agent_holding(stack, sender)
    path = f"supervisor/serving/{sender}/requeue"

    refused = desk(agent, stack, "POST", path)
    assert refused.status_code == 403 and refused.json()["error"] == "error_not_supervisor"
    assert desk(boss, stack, "POST", path).ok
    assert sender in tv_queue(stack, boss)
    wait_for(lambda: "排在第" in bot_texts(tracker(stack, sender))[-1])
    assert requeued_events(stack, sender) == [{"agent_id": name, "reason": "supervisor",
                                               "by": stack.settings.demo_agent_name}]
    gone = desk(agent, stack, "POST", f"conversations/{sender}/messages", text="还在吗")
    assert gone.status_code == 404 and gone.json()["error"] == "error_not_serving", "no longer the agent's"
    again = desk(boss, stack, "POST", path)
    assert again.status_code == 404 and again.json()["error"] == "error_not_serving"
    only_waiting(stack, "", stack.settings.demo_agent_name)


def test_an_agent_writing_to_the_customer_checks_the_desk_in(running_kefu):
    """An agent at work is never taken for gone (bot.handoff.departures): a background tab's overview
    polls may be slowed by the browser, but every action at the desk checks it in."""
    import time

    import redis

    from bot.handoff import keys

    stack = running_kefu
    sender = f"busy-{uuid.uuid4().hex[:8]}"
    name, agent, boss = an_agent_holding(stack, sender)
    client = redis.Redis.from_url(stack.redis_url)
    # Nothing heard from this desk for longer than "offline", not yet long enough to be taken for gone.
    client.zadd(keys.presence(), {name: time.time() - 90})

    assert desk(agent, stack, "POST", f"conversations/{sender}/messages", text="我在查，请稍等").ok
    assert client.zscore(keys.presence(), name) > time.time() - 30
    client.close()
    assert desk(agent, stack, "POST", f"conversations/{sender}/close", disposition="resolved").ok
