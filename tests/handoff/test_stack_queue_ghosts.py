"""Web-chat customers who closed the page, on the running stack: real Socket.IO pages, the desk's HTTP API.

Found by the head of operations after a peak: agents were handed empty chats of customers who had left,
greeted nobody and closed them as 已解决 (counted answered and resolved, each with a follow-up ledger item),
and a customer who left after 12.6 s was recorded as waiting 133.2 s, the end of the grace period.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import pytest
import requests

from bot.analytics.contacts import split_contacts
from bot.db.repository import Repository
from tests.channels.test_webchat_socketio import ChatClient, queued
from tests.handoff.stack_client import Desk, only_waiting

pytestmark = pytest.mark.slow


async def until(check, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def customer_in_line(stack) -> ChatClient:
    chat = ChatClient(stack.settings.rasa_url, ["websocket"])
    await chat.connect()
    await chat.say("转人工")
    await chat.replies_until(queued, 60)
    return chat


async def page_closed(stack, chat: ChatClient) -> float:
    """Close the customer's page; returns once the server has noticed (its presence mark is that late)."""
    import redis.asyncio as aioredis

    await chat.close()
    closed_at = time.time()
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        await until(lambda: _seen_since(client, chat.session_id, closed_at - 1), 10, "the server to see the page close")
    finally:
        await client.close()
    return closed_at


async def _seen_since(client, conversation_id: str, since: float) -> bool:
    from bot.handoff.presence import customer_last_seen

    return (await customer_last_seen(client, conversation_id) or 0) >= since


def gauge_sum(metrics: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + "{"))


def events(stack, conversation_id: str) -> list[dict]:
    return Repository(stack.settings.database_url).events_for(conversation_id)


def kinds(stack, conversation_id: str) -> list[str]:
    return [e["kind"] for e in events(stack, conversation_id)]


def supervisor_entry(desk: Desk, conversation_id: str) -> dict | None:
    view = desk.call("GET", "supervisor").json()
    return next((e for q in view["queues"] for e in q["entries"] if e["conversation_id"] == conversation_id), None)


@pytest.fixture
async def desk(running_kefu):
    desk = await asyncio.to_thread(Desk, running_kefu)
    await asyncio.to_thread(only_waiting, running_kefu, "", desk.agent_id)  # other tests' leftovers out of the way
    assert (await desk("POST", "status", status="available")).ok
    return desk


async def test_a_customer_who_closed_the_page_is_passed_over_and_their_abandonment_is_when_they_left(
        running_kefu, desk):
    stack = running_kefu
    gone = await customer_in_line(stack)
    ghost = gone.session_id
    there = await customer_in_line(stack)  # asked after the one who leaves: behind them in line
    try:
        closed_at = await page_closed(stack, gone)  # no more pings

        claimed = (await desk("POST", "claim")).json()["conversation"]
        assert claimed["conversation_id"] == there.session_id, "the customer who is there, not the empty chat"
        assert claimed["customer_left_at"] is None
        assert supervisor_entry(desk, ghost)["gone"] is True
        nobody = await desk("POST", "claim")
        assert nobody.ok and nobody.json()["conversation"] is None, "only a gone customer left: an empty queue"
        assert supervisor_entry(desk, ghost)["position"] == 1, "keeps the place while the grace period lasts"
        live = (await desk("GET", "live")).json()["queues"]
        assert sum(q["gone"] for q in live) == 1 and sum(q["waiting"] for q in live) == 0, \
            "the wallboard counts nobody waiting"
        metrics = (await asyncio.to_thread(requests.get, f"{stack.settings.rasa_url}/metrics", timeout=30)).text
        assert gauge_sum(metrics, "kefu_queue_gone") == 1 and gauge_sum(metrics, "kefu_queue_length") == 0

        # A supervisor tidies the queue: the customer's abandonment, until they left (not until now).
        # Four seconds, not two: ``silent_s`` is counted from the last ping, which can be up to a
        # second before ``closed_at``, and the check below wants more than two between them (CI failed at 1.98).
        await until(lambda: asyncio.to_thread(lambda: supervisor_entry(desk, ghost)["silent_s"] >= 4), 15,
                    "four seconds since the page closed")
        assert (await desk("POST", f"supervisor/queue/{ghost}/remove")).ok
        removed_at = time.time()
        abandoned = await until(lambda: asyncio.to_thread(
            lambda: [e for e in events(stack, ghost) if e["kind"] == "handoff_abandoned"]), 20, "the abandonment")
        queued_at = next(e["at"] for e in events(stack, ghost) if e["kind"] == "handoff_queued") \
            .replace(tzinfo=dt.timezone.utc).timestamp()  # naive UTC in the record
        data = abandoned[0]["data"]
        assert data["reason"] == "customer_gone" and data["by"] == desk.agent_id
        assert data["left_at"] <= closed_at + 1 < removed_at - 1 <= data["removed_at"]
        assert data["wait_s"] == pytest.approx(data["left_at"] - queued_at, abs=1)
        assert data["wait_s"] < removed_at - queued_at - 1, "the wait ended when the customer left"
        assert "handoff_claimed" not in kinds(stack, ghost)
        assert (await desk("POST", f"conversations/{there.session_id}/close", disposition="resolved")).ok
    finally:
        await there.close()


async def test_a_chat_whose_customer_left_before_any_exchange_counts_as_abandoned_with_no_ledger_item(
        running_kefu, desk):
    stack = running_kefu
    chat = await customer_in_line(stack)
    sender = chat.session_id
    claimed = (await desk("POST", "claim")).json()["conversation"]
    assert claimed["conversation_id"] == sender and claimed.get("customer_left_at") is None
    await page_closed(stack, chat)  # gone as the agent takes them, before a word either way

    serving = (await desk("GET", "overview")).json()["serving_entries"]
    shown_offline = [e.get("customer_left_at") for e in serving if e["conversation_id"] == sender]
    view_offline = (await desk("GET", f"conversations/{sender}")).json().get("customer_left_at")
    assert (await desk("POST", f"conversations/{sender}/messages", text="您好，请问有什么可以帮您？")).ok  # to nobody

    closed = await desk("POST", f"conversations/{sender}/close", disposition="resolved")
    assert closed.ok and closed.json() == {"ticket_id": None, "customer_gone": True}
    assert Repository(stack.settings.database_url).tickets_for(None, conversation_id=sender) == [], \
        "no follow-up ledger item"
    assert not (await desk("GET", "overview")).json()["serving"], "the agent's slot is free"

    recorded = await until(lambda: asyncio.to_thread(
        lambda: [e for e in events(stack, sender) if e["kind"] == "handoff_abandoned"]), 20, "the abandonment")
    assert recorded[0]["data"]["reason"] == "customer_gone" and recorded[0]["data"]["agent_id"] == desk.agent_id
    # closed after the claim, with no word since: left no later than the claim, the one time known for certain
    assert recorded[0]["data"]["wait_s"] == pytest.approx(claimed["wait_s"], abs=0.2)
    assert "handoff_closed" not in kinds(stack, sender), "no disposition, no handle time"
    contact = split_contacts(events(stack, sender))[-1]
    assert contact.how == "abandoned" and not contact.answered and contact.abandoned_in_queue
    assert shown_offline and shown_offline[0] and view_offline, "the desk showed the customer offline"
