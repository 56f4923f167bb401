"""Signing in at the desk: a first sign-in starts away, signing in again keeps a working desk's status."""
from __future__ import annotations

import pytest

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk


@pytest.fixture
def desk(queue, kefu_env):
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["tv"])
    return Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))


async def status(desk: Desk) -> str:
    return (await desk.overview("wang"))["agent"]["status"]


async def test_signing_in_on_a_second_pc_keeps_the_first_desk_taking_customers(desk, queue, clock):
    """Found by a tester: a second sign-in (another tab or PC) set the agent away, so customers were
    silently no longer routed to the desk they were working at."""
    assert await desk.login("wang", "wang-pass-1") is not None
    assert await status(desk) == "away", "a first sign-in does not take customers before the agent says so"
    await desk.set_status("wang", "available", None)
    clock.advance(queue.rules.presence_timeout_s / 2)
    assert await desk.login("wang", "wang-pass-1") is not None
    assert await status(desk) == "available"
    assert [a.agent_id for a in await queue.roster.online()] == ["wang"]


async def test_signing_in_after_the_desk_went_silent_starts_away(desk, queue, clock):
    """A roster entry left available by a closed browser is not a working desk."""
    await desk.login("wang", "wang-pass-1")
    await desk.set_status("wang", "available", None)
    clock.advance(queue.rules.presence_timeout_s + 1)
    await desk.login("wang", "wang-pass-1")
    assert await status(desk) == "away"


async def test_signing_in_again_after_an_outage_keeps_the_desk_taking_customers(desk, queue, clock):
    """After an outage no desk could check in (``AgentRoster.excuse``), the waiting room still counts the agent
    there; signing in again then set them away, and their customers were routed elsewhere."""
    await desk.login("wang", "wang-pass-1")
    await desk.set_status("wang", "available", None)
    outage_began = clock()
    clock.advance(queue.rules.presence_timeout_s * 3)  # Redis down: no check-ins meanwhile
    await queue.roster.excuse(outage_began, clock() + queue.rules.presence_timeout_s)
    assert [a.agent_id for a in await queue.roster.online()] == ["wang"], "counted there during the grace"
    await desk.login("wang", "wang-pass-1")
    assert await status(desk) == "available"
