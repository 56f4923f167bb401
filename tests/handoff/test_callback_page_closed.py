"""A callback booked in a web chat is an agent's call, not a gone customer, whatever the page says.

Found in review: the customer books a callback (bot.contacts.offer), is told they may leave and an agent
will ring them, and closes the page. Its presence keys then said "left", so every claim passed the
callback over (``('empty', None)``), the desk, the supervisor view and the figures showed it gone, and
the waiting room (which leaves callbacks alone) never took it out: the promised call never came. An
agent's resolved callback could also be recorded as the customer's ``customer_gone`` abandonment.
On a real Redis, through the queue, the desk and the figures an agent and a supervisor read.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.analytics.contacts import split_contacts
from bot.analytics.live import queue_figures
from bot.channels import agent_desk
from bot.contacts.offer import offer_to_agents
from bot.db.repository import Repository
from bot.handoff.accounts import SUPERVISOR, AccountStore
from bot.handoff.desk import Desk
from bot.handoff.presence import page_alive, page_closed
from bot.handoff.supervisor import queues as supervisor_queues
from bot.observability.state import StateSnapshot, read_queues
from tests.handoff.test_desk_database_down import desk_request
from tests.handoff.test_desk_first_shift import Conversations
from tests.handoff.test_waiting_room import agent_available, wait_in_line

BOOKED = "web-booked"  # booked a callback, then closed the page as told they could
LEFT = "web-left"  # asked for a person, then closed the page: gone, as before


@pytest.fixture
def conversations():
    return Conversations()


@pytest.fixture
def desk(queue, kefu_env, conversations):
    accounts = AccountStore(kefu_env.database_url)
    accounts.add("wang", "wang-pass-1", ["tv"])
    accounts.add("boss", "boss-pass-1", ["tv"], role=SUPERVISOR)
    return Desk(queue, conversations, accounts, Repository(kefu_env.database_url))


def booked_callback(conversation_id: str, due: float) -> dict:
    """A callback contact as the contact planner hands it to bot.contacts.offer, booked in a web chat."""
    return {"id": 41, "ticket_id": "TK000900", "phone": "13900001234", "purpose": "callback", "rule": "booked",
            "customer_id": None, "due_at": dt.datetime.fromtimestamp(due, dt.timezone.utc).replace(tzinfo=None),
            "details": {"conversation_id": conversation_id, "channel": "webchat", "skill": "tv",
                        "context": {"customer_said": ["电视没信号, 请给我回电话"]}}}


async def closed_page(queue, conversation_id: str, opened_at: float, closed_at: float) -> None:
    await page_alive(queue.redis, conversation_id, "tab-1", opened_at)
    await page_closed(queue.redis, conversation_id, "tab-1", closed_at)


async def offered(queue, contact) -> None:
    assert await offer_to_agents(queue, contact)


async def callback_after_a_gone_chat(queue, clock, enqueue=offered) -> None:
    """In line: a web chat whose page closed 10 minutes ago, then the callback, due a minute ago, whose
    customer closed the page an hour ago; ``enqueue`` puts the callback in line (as this version does)."""
    await closed_page(queue, BOOKED, clock() - 3700, clock() - 3600)
    await closed_page(queue, LEFT, clock() - 700, clock() - 600)
    clock.advance(-700)
    await wait_in_line(queue, LEFT)
    clock.advance(699)
    await enqueue(queue, booked_callback(BOOKED, clock() - 60))
    assert await queue.waiting("tv") == [LEFT, BOOKED]


async def test_the_next_customer_for_an_agent_is_the_callback_not_the_gone_chat(desk, queue, clock, conversations):
    await agent_available(queue, "wang")
    await callback_after_a_gone_chat(queue, clock)
    await assert_the_agent_gets_the_callback_not_the_chat(desk, queue, conversations)


async def assert_the_agent_gets_the_callback_not_the_chat(desk, queue, conversations) -> None:
    """接入下一位 hands the agent the callback to ring; the gone chat keeps its place, not handed out."""
    view = await desk.claim("wang", "王芳")
    assert view is not None, "接入下一位 found nobody: the callback was taken for a gone customer"
    assert view["conversation_id"] == BOOKED
    assert view["customer_left_at"] is None, "the desk shows the customer offline, but the agent rings them"
    assert conversations.responses(BOOKED) == ["utter_agent_calling_back"]
    assert await queue.waiting("tv") == [LEFT], "the gone chat keeps its place, still not handed out"
    assert await queue.take_next("wang") == ("empty", None)


async def test_desk_supervisor_figures_and_metrics_count_the_callback_as_waiting(desk, queue, clock):
    await agent_available(queue, "wang")
    await callback_after_a_gone_chat(queue, clock)
    await assert_the_callback_waits_and_the_chat_is_gone(desk, queue, clock)


async def assert_the_callback_waits_and_the_chat_is_gone(desk, queue, clock) -> None:
    """The desk, the supervisor view, the live figures and the metrics: BOOKED waiting, LEFT gone."""
    tv = next(q for q in (await desk.overview("wang"))["queues"] if q["skill"] == "tv")
    assert (tv["waiting"], tv["gone"]) == (1, 1)
    assert [e["gone"] for e in tv["entries"]] == [True, False], "the callback shown gone at the desk"

    tv = next(q for q in await supervisor_queues(queue) if q["skill"] == "tv")
    assert {e["conversation_id"]: e["gone"] for e in tv["entries"]} == {LEFT: True, BOOKED: False}
    assert (tv["waiting"], tv["gone"], tv["longest_wait_s"]) == (1, 1, 60.0)

    tv = next(q for q in await queue_figures(queue) if q["skill"] == "tv")
    assert (tv["waiting"], tv["gone"], tv["longest_wait_s"]) == (1, 1, 60.0)

    snapshot = StateSnapshot()
    await read_queues(queue.redis, snapshot, clock())
    assert (snapshot.queue_length["tv"], snapshot.queue_gone["tv"]) == (1, 1)
    assert snapshot.longest_wait_s["tv"] == 60.0


async def test_a_callback_the_agent_resolves_is_answered_not_the_customer_gone(desk, queue, clock, events):
    """The page was open when the agent took the callback and closed while they rang (the customer put
    the phone to their ear): no chat message after the claim, no sign of life on the page. The close
    recorded the customer's ``customer_gone`` abandonment and counted the callback unanswered."""
    await agent_available(queue, "wang")
    await page_alive(queue.redis, BOOKED, "tab-1", clock() - 30)
    assert await offer_to_agents(queue, booked_callback(BOOKED, clock() - 10))
    assert (await desk.claim("wang", "王芳"))["conversation_id"] == BOOKED
    clock.advance(5)
    await page_closed(queue.redis, BOOKED, "tab-1", clock())
    clock.advance(300)
    assert (await desk.view("wang", BOOKED))["customer_left_at"] is None

    closed = await desk.close("wang", BOOKED, "resolved")

    assert not closed.get("customer_gone")
    assert "handoff_abandoned" not in events.kinds(BOOKED)
    assert [d["disposition"] for d in events.data("handoff_closed")] == ["resolved"]
    start = dt.datetime(2026, 12, 3, 8, 0)
    rows = [{"id": n, "conversation_id": c, "kind": k, "channel": ch, "customer": "", "data": d,
             "at": start + dt.timedelta(seconds=n)} for n, (c, k, ch, d) in enumerate(events.recorded)]
    [contact] = split_contacts(rows)
    assert (contact.how, contact.answered, contact.abandoned_in_queue) == ("agent", True, False)


async def test_a_supervisor_removing_a_callback_is_not_the_customer_giving_up(desk, queue, clock, events):
    await callback_after_a_gone_chat(queue, clock)
    token, _ = await desk.login("boss", "boss-pass-1")
    for conversation_id in (BOOKED, LEFT):
        answer = await agent_desk.remove_entry(desk_request(desk, token, "/agent/api/supervisor/queue"),
                                               conversation_id=conversation_id)
        assert answer.status == 200 and json.loads(answer.body) == {"ok": True}
    reasons = {c: d["reason"] for c, k, _, d in events.recorded if k == "handoff_abandoned"}
    assert reasons == {BOOKED: "removed_by_supervisor", LEFT: "customer_gone"}


async def test_the_desks_queue_says_which_entry_is_a_callback_to_ring(desk, queue, clock):
    """Found driving the desk: a booked callback was listed as 第 2 位 · 网页 · 优先级 0, like a customer waiting
    in the chat (the supervisor view says 预约回电)."""
    await agent_available(queue, "wang")
    await callback_after_a_gone_chat(queue, clock)
    tv = next(q for q in (await desk.overview("wang"))["queues"] if q["skill"] == "tv")
    assert [e.get("callback") for e in tv["entries"]] == [False, True]
