"""Web-chat customers whose page is gone, on a real Redis queue with the waiting room's clock in hand.

Found by the head of operations after a peak: a customer who left the queue after 12.6 s was recorded
as waiting 133.2 s (the end of the grace period), and closed chats were handed to agents. The grace
period here is a copy of ``content/waiting_room.yml`` with a short ``webchat_gone_grace_s``.
"""
from __future__ import annotations

import re

import pytest

from bot.handoff.presence import page_alive, page_closed
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_waiting_room import Conversations, agent_available, wait_in_line

GRACE_S = 30


@pytest.fixture
def settings(tmp_path):
    text = (PROJECT_ROOT / "content" / "waiting_room.yml").read_text(encoding="utf-8")
    copy = tmp_path / "waiting_room.yml"
    copy.write_text(re.sub(r"(?m)^webchat_gone_grace_s:.*$", f"webchat_gone_grace_s: {GRACE_S}", text),
                    encoding="utf-8")
    settings = load_waiting_room(copy)
    assert settings.webchat_gone_grace_s == GRACE_S
    return settings


@pytest.fixture
def room(queue, clock, settings, kefu_env):
    return WaitingRoom(queue, Conversations(clock), settings)


async def test_a_closed_page_keeps_its_place_unclaimed_and_its_abandonment_is_when_it_closed(room, queue, clock,
                                                                                              events):
    await agent_available(queue)
    queued_at = clock()
    await page_alive(queue.redis, "y1", "tab-1", clock())
    await wait_in_line(queue, "y1")
    clock.advance(11.6)
    await page_closed(queue.redis, "y1", "tab-1", clock())  # 12.6 s after asking for a person
    left_at = clock()

    for _ in range(3):  # inside the grace period: in line, first, but not handed to an agent
        clock.advance(5)
        await room.visit("y1")
        assert (await queue.position("y1")).position == 1
        assert await queue.take_next("a1") == ("empty", None)

    for _ in range(20):  # the grace period ends: out of the queue, as abandoned
        clock.advance(5)
        await room.visit("y1")
        if await queue.position("y1") is None:
            break
    assert await queue.position("y1") is None
    abandoned = events.data("handoff_abandoned")
    assert abandoned == [{"reason": "customer_gone", "skill": "tv", "wait_s": pytest.approx(12.6, abs=0.01),
                          "left_at": pytest.approx(left_at, abs=0.01), "removed_at": pytest.approx(clock(), abs=0.01)}]
    assert abandoned[0]["removed_at"] - abandoned[0]["left_at"] >= GRACE_S


async def test_a_customer_whose_page_comes_back_within_the_grace_period_is_claimed_in_their_place(room, queue, clock):
    await agent_available(queue)
    await page_alive(queue.redis, "y2", "tab-1", clock())
    await wait_in_line(queue, "y2")
    await page_alive(queue.redis, "y3", "tab-9", clock())
    await wait_in_line(queue, "y3")
    await page_closed(queue.redis, "y2", "tab-1", clock())  # the phone lost its signal
    clock.advance(10)
    await page_alive(queue.redis, "y2", "tab-2", clock())  # and came back (a new connection)
    request = (await queue.take_next("a1"))[1]
    assert request.conversation_id == "y2", "back, and first in line again"


async def test_a_page_nobody_saw_disconnect_stops_counting_once_silent(room, queue, clock):
    """A page whose worker was killed never sends its disconnect: silent for long, it is not there."""
    from bot.handoff.presence import PAGE_SILENT_S

    await agent_available(queue)
    await page_alive(queue.redis, "y4", "tab-1", clock())
    await wait_in_line(queue, "y4")
    clock.advance(PAGE_SILENT_S + 1)
    assert await queue.take_next("a1") == ("empty", None)
    await page_alive(queue.redis, "y4", "tab-1", clock())  # its ping: there after all
    assert (await queue.take_next("a1"))[1].conversation_id == "y4"


async def test_the_queue_metrics_count_a_closed_page_apart_from_the_customers_waiting(queue, clock, kefu_env):
    """Found by a tester: gone customers kept kefu_queue_length and the longest wait up for the grace period."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from bot.db.repository import Repository
    from bot.handoff.queue import HandoffRequest
    from bot.observability.state import read_state, state_registry

    now = clock()
    for conversation_id, waited in (("long-gone", 300), ("still-here", 30)):
        await page_alive(queue.redis, conversation_id, "tab", now - waited)
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", "tv", 0, None), enqueued_at=now - waited)
    await page_closed(queue.redis, "long-gone", "tab", now - 290)
    await page_alive(queue.redis, "still-here", "tab", now)
    snapshot = await read_state(queue.redis, Repository(kefu_env.database_url), clock=clock)
    text = generate_latest(state_registry(snapshot)).decode()
    found = {(s.name, s.labels.get("skill")): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert found[("kefu_queue_length", "tv")] == 1 and found[("kefu_queue_gone", "tv")] == 1
    assert found[("kefu_queue_longest_wait_seconds", "tv")] == pytest.approx(30, abs=0.2)
