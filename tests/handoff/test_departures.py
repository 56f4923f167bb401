"""Agents who leave without signing out: the waiting room puts their customers back in the queue.

On a real (embedded) Redis queue and the test's own database, with a hand-driven clock: an agent
removed with ``kefu agent remove`` (a removal record in the database), and an agent whose desk has
stopped checking in (a closed browser, an expired session). An agent of another deployment sharing
this Redis — on the roster, without an account in this database — is none of these.
"""
from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
import yaml

from bot.db.schema import agent_removals
from bot.handoff.accounts import AccountStore
from bot.handoff.departures import DEPARTURES_CHECK_S
from bot.handoff.joined import told
from bot.handoff.rules import HandoffRulesError, parse_rules
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_waiting_room import Conversations, wait_in_line


@pytest.fixture
def room_settings():
    return load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml")


async def serving(queue, agent_id: str, conversation_id: str) -> None:
    """``agent_id`` signed in and took ``conversation_id`` from the queue at the desk, which told the customer."""
    await queue.roster.register(agent_id, name=agent_id, skills=["tv"], capacity=2, status="available")
    await wait_in_line(queue, conversation_id)
    assert (await queue.claim_next(agent_id)).conversation_id == conversation_id
    await told(queue, conversation_id)


def requeued(events) -> list[dict]:
    """The ``handoff_requeued`` events recorded, without their ids (the transfer's, ``queue.event_id_of``)."""
    return [{k: v for k, v in d.items() if k != "event_id"} for d in events.data("handoff_requeued")]


def room_with(queue, clock, settings, accounts) -> WaitingRoom:
    return WaitingRoom(queue, Conversations(clock), settings, accounts=accounts)


def tombstones(store: AccountStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(agent_removals.c.name)).scalars())


async def test_an_agent_of_another_deployment_keeps_their_customers(queue, clock, room_settings, events,
                                                                     kefu_env):
    """Found in CI: a second stack sharing the Redis database took the first one's agents (no account
    in its own database) for removed ones and put their customers back in the queue."""
    store = AccountStore(kefu_env.database_url)
    await serving(queue, "elsewhere", "c1")
    room = room_with(queue, clock, room_settings, store)

    await room.tick()
    clock.advance(DEPARTURES_CHECK_S + 1)
    await room.tick()

    entry = await queue.entry("c1")
    assert entry["state"] == "claimed" and entry["agent_id"] == "elsewhere"
    assert await queue.roster.get("elsewhere") is not None
    assert "handoff_requeued" not in events.kinds()


async def test_a_removed_agents_customer_goes_back_to_the_queue_in_time_order(queue, clock, room_settings, events,
                                                                              kefu_env):
    store = AccountStore(kefu_env.database_url, clock=clock)
    store.add("leaver", "leaver-pass-1", ["tv"], known_skills=["tv"])
    await serving(queue, "leaver", "c1")
    enqueued_at = (await queue.entry("c1"))["enqueued_at"]
    await wait_in_line(queue, "c2")  # joined after c1: c1 goes back ahead of it
    clock.advance(30)
    store.remove("leaver")
    assert tombstones(store) == ["leaver"]

    await room_with(queue, clock, room_settings, store).tick()

    entry = await queue.entry("c1")
    assert entry["state"] == "waiting" and entry["enqueued_at"] == enqueued_at
    assert await queue.waiting("tv") == ["c1", "c2"]
    assert await queue.roster.get("leaver") is None
    assert requeued(events) == [{"agent_id": "leaver", "reason": "removed"}]
    assert tombstones(store) == []  # done once


async def test_a_name_added_again_before_the_loop_ran_keeps_what_the_new_account_took(
        queue, clock, room_settings, events, kefu_env):
    """The removal still applies to what the removed account held; the new account signed in and took a
    customer after it, and that customer stays with them, as does their place on the roster."""
    store = AccountStore(kefu_env.database_url, clock=clock)
    store.add("again", "again-pass-1", ["tv"], known_skills=["tv"])
    await serving(queue, "again", "old")
    clock.advance(10)
    store.remove("again")
    store.add("again", "again-pass-2", ["tv"], known_skills=["tv"])
    clock.advance(10)
    await serving(queue, "again", "new")

    await room_with(queue, clock, room_settings, store).tick()

    assert (await queue.entry("old"))["state"] == "waiting"
    new = await queue.entry("new")
    assert new["state"] == "claimed" and new["agent_id"] == "again"
    assert (await queue.roster.get("again")).status == "available"
    assert tombstones(store) == []


async def test_removal_records_are_read_every_few_seconds_not_every_tick(queue, clock, room_settings, events,
                                                                        kefu_env):
    store = AccountStore(kefu_env.database_url, clock=clock)
    store.add("late", "late-pass-1", ["tv"], known_skills=["tv"])
    await serving(queue, "late", "c1")
    room = room_with(queue, clock, room_settings, store)
    await room.tick()
    store.remove("late")

    clock.advance(DEPARTURES_CHECK_S / 2)
    await room.tick()
    assert (await queue.entry("c1"))["state"] == "claimed"
    clock.advance(DEPARTURES_CHECK_S / 2)
    await room.tick()
    assert (await queue.entry("c1"))["state"] == "waiting"


async def test_an_agent_whose_desk_stopped_checking_in_hands_their_customers_back(
        queue, clock, room_settings, events, kefu_env, caplog):
    limit = queue.rules.agent_gone_after_s
    assert limit == 300
    await serving(queue, "gone", "c1")
    await serving(queue, "here", "c2")
    room = room_with(queue, clock, room_settings, None)  # no accounts needed: presence is the roster's
    await queue.roster.heartbeat("gone")  # the desk's last check-in

    clock.advance(limit - 1)
    await queue.roster.heartbeat("here")
    await room.tick()
    assert (await queue.entry("c1"))["state"] == "claimed", "not gone yet"

    clock.advance(2 + DEPARTURES_CHECK_S)
    caplog.set_level("INFO", logger="bot.handoff.departures")
    await room.tick()

    assert (await queue.entry("c1"))["state"] == "waiting"
    here = await queue.entry("c2")
    assert here["state"] == "claimed" and here["agent_id"] == "here", "a desk that checks in keeps its customers"
    assert requeued(events) == [{"agent_id": "gone", "reason": "agent_gone"}]
    gone = await queue.roster.get("gone")
    assert gone.status == "away" and not await queue.roster.present(gone), "away, and not made present by it"
    assert "handoff.agent_gone agent=gone" in caplog.text
    # The customer hears that their agent left, and their place again, on the waiting room's next visit (found
    # in a review: only the place, as if nobody had been serving them).
    await room.visit("c1")
    assert room.conversations.responses("c1") == ["utter_queue_agent_left", "utter_queue_update"]

    clock.advance(DEPARTURES_CHECK_S + 1)
    await room.tick()  # nothing held any more: nothing more to record
    assert len(events.data("handoff_requeued")) == 1


async def test_a_conversation_taken_back_from_a_gone_desk_counts_only_the_time_its_agent_was_there(
        queue, clock, room_settings, events, kefu_env):
    """Its handle time ends at the desk's last check-in: the five minutes and more before it was taken
    back were no agent's work, and counted they lengthened the mean handle time behind every wait told."""
    from bot.handoff.estimate import mean_handle_time

    await serving(queue, "gone", "c1")
    room = room_with(queue, clock, room_settings, None)
    clock.advance(100)
    await queue.roster.heartbeat("gone")  # served for 100 s, then the desk went quiet
    clock.advance(queue.rules.agent_gone_after_s + DEPARTURES_CHECK_S + 1)
    await room.tick()

    assert (await queue.entry("c1"))["state"] == "waiting"
    assert [d["handle_s"] for d in events.data("handoff_closed")] == [100.0]
    assert await mean_handle_time(queue.redis, "tv", 50, 300.0) == 100.0


def test_a_gone_limit_shorter_than_offline_is_refused_and_zero_turns_it_off():
    """Shorter than ``presence_timeout_s`` would take customers from open desks between check-ins."""
    raw = yaml.safe_load((PROJECT_ROOT / "content" / "handoff.yml").read_text(encoding="utf-8"))
    with pytest.raises(HandoffRulesError, match="agent_gone_after_s"):
        parse_rules({**raw, "agent_gone_after_s": raw["presence_timeout_s"] - 1})
    assert parse_rules({**raw, "agent_gone_after_s": 0}).agent_gone_after_s == 0
    assert parse_rules({k: v for k, v in raw.items() if k != "agent_gone_after_s"}).agent_gone_after_s == 300


async def test_a_gone_limit_of_zero_leaves_quiet_desks_their_customers(queue, clock, room_settings, events):
    queue._rules = dataclasses.replace(queue.rules, agent_gone_after_s=0)
    await serving(queue, "quiet", "c1")
    clock.advance(24 * 3600)
    await room_with(queue, clock, room_settings, None).tick()
    assert (await queue.entry("c1"))["state"] == "claimed"


async def test_a_phone_call_bridged_to_the_agents_phone_stays_theirs(queue, clock, room_settings, events):
    """The carrier connected the caller to the agent's own phone: they are talking, desk open or not."""
    from bot.ivr.call_state import bridged_key

    await queue.roster.register("onphone", name="onphone", skills=["tv"], capacity=2, status="available")
    await wait_in_line(queue, "ivr:CA1", channel="ivr")
    await queue.claim_next("onphone")
    await queue.redis.set(bridged_key("CA1"), "onphone")
    clock.advance(queue.rules.agent_gone_after_s + 1)

    await room_with(queue, clock, room_settings, None).tick()

    assert (await queue.entry("ivr:CA1"))["state"] == "claimed"
    assert "handoff_requeued" not in events.kinds()


class DatabaseDown:
    def removals(self):
        raise RuntimeError("database unreachable")


async def test_the_waiting_room_keeps_visiting_customers_when_removal_records_cannot_be_read(
        queue, clock, room_settings, events):
    await wait_in_line(queue, "c1")
    room = room_with(queue, clock, room_settings, DatabaseDown())
    await room.tick()
    assert await queue.redis.hget("kefu:handoff:conv:c1", "notified") is not None, "visited all the same"


def held_in_check(inside, done):
    """A departures check that says it started (``inside``) and ends once ``done`` is set: a tick held
    there outlives its lease while the test changes the lock."""
    async def check() -> list[str]:
        inside.set()
        await done.wait()
        return []
    return check


async def test_a_tick_that_outlived_its_lease_leaves_the_next_workers_lock_alone(queue, clock, room_settings):
    """Rasa worker A's tick runs past its lease, worker B takes the lock: A finishing must not free B's,
    or a third worker answers the same customers alongside B (every message answered twice)."""
    import asyncio

    from bot.handoff import keys

    a, b = room_with(queue, clock, room_settings, None), room_with(queue, clock, room_settings, None)
    a_inside, a_done, b_inside, b_done = (asyncio.Event() for _ in range(4))

    a.departures.check, b.departures.check = held_in_check(a_inside, a_done), held_in_check(b_inside, b_done)
    a_tick = asyncio.create_task(a.tick())
    await a_inside.wait()
    await queue.redis.delete(keys.watcher_lock())  # A's lease runs out
    b_tick = asyncio.create_task(b.tick())
    await b_inside.wait()
    a_done.set()
    await a_tick
    try:
        assert await queue.redis.exists(keys.watcher_lock()), "A freed the lock B holds"
    finally:
        b_done.set()
        await b_tick
    assert not await queue.redis.exists(keys.watcher_lock()), "B frees its own lock"


async def tick_outliving_its_lease(queue, clock, room_settings, lease_ends) -> tuple:
    """c1 waits; a tick is held in its departures check past its lease while ``lease_ends()`` changes the
    lock. Returns the room and its visits from then on: (conversation id, whether the lock was held)."""
    import asyncio

    from bot.handoff import keys

    await wait_in_line(queue, "c1")
    room = room_with(queue, clock, room_settings, None)
    inside, done = asyncio.Event(), asyncio.Event()
    visits = []

    async def attend(conversation_id: str) -> None:
        visits.append((conversation_id, bool(await queue.redis.exists(keys.watcher_lock()))))

    room.departures.check, room.attend = held_in_check(inside, done), attend
    tick = asyncio.create_task(room.tick())
    await inside.wait()
    await lease_ends()
    done.set()
    await tick
    return room, visits


async def test_a_tick_that_lost_its_lease_visits_nobody_the_next_worker_visits(queue, clock, room_settings):
    """Past its lease, with another worker holding the lock, a tick stops: two workers visiting the same
    customers answer each message twice and say each notice twice."""
    from bot.handoff import keys

    async def another_takes_it():  # the lease ran out, another worker took the lock
        await queue.redis.set(keys.watcher_lock(), "another worker's")

    room, visits = await tick_outliving_its_lease(queue, clock, room_settings, another_takes_it)
    assert visits == [], "visited alongside the worker holding the lock"
    await queue.redis.delete(keys.watcher_lock())
    await room.tick()
    assert [conversation_id for conversation_id, _ in visits] == ["c1"]


async def test_a_tick_whose_lease_ran_out_with_nobody_else_there_keeps_visiting(queue, clock, room_settings):
    """A slow departures check (a database that hangs) outlasts the lease and no other worker took the
    lock: the customers are still visited, not left unanswered until the database is quick again."""
    from bot.handoff import keys

    async def runs_out():
        await queue.redis.delete(keys.watcher_lock())

    _, visits = await tick_outliving_its_lease(queue, clock, room_settings, runs_out)
    assert visits == [("c1", True)], "visiting without holding the lock"
    assert not await queue.redis.exists(keys.watcher_lock())


def test_a_summary_template_naming_what_the_summary_does_not_fill_is_refused():
    """"{custmer}" loaded, and then the desk failed to show every conversation handed over (a KeyError in
    the agent's summary). Refused at load, the service keeps the last good rules and `kefu validate`
    names it."""
    from bot.handoff.context import summary

    raw = yaml.safe_load((PROJECT_ROOT / "content" / "handoff.yml").read_text(encoding="utf-8"))
    with pytest.raises(HandoffRulesError, match=r"summary_template.*'custmer'"):
        parse_rules({**raw, "summary_template": raw["summary_template"].replace("{customer}", "{custmer}")})
    with pytest.raises(HandoffRulesError, match="summary_template"):
        parse_rules({**raw, "summary_template": "{wait:d}"})
    from bot.handoff.rules import SUMMARY_FIELDS

    every = parse_rules({**raw, "summary_template": " ".join("{" + name + "}" for name in SUMMARY_FIELDS)})
    assert summary({"channel": "webchat"}, every, 65.0)  # every field it may name is filled
