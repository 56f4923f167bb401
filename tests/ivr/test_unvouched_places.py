"""Streams nobody vouched for hold at most a share of a process's call places.

Found by a security probe: ``/webhooks/ivr/media`` is public (the demo softphone uses it), and a client
opening ``max_calls`` streams that send silence for 30 minutes held every place of the process, so the
carrier's own callers (a signed handshake, or ``kefuTrunkToken`` in the start message) heard "busy".
Real WebSocket streams against the real channel (``IvrInput``'s route, its sessions, Redis, the shipped
flows), served in process.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
import websockets
from sanic import Sanic

from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.simulator import PhoneCall
from tests.sanic_served import served_app

pytestmark = pytest.mark.realtime
Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)

BUSY = 1013  # "try again later", as the route's own refusal


@pytest.fixture
def phone_settings(kefu_env, redis_url, monkeypatch):  # noqa: F811
    from bot import settings as settings_module

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KEFU_IVR_ASR_ENGINE", "tests.ivr.scripted_asr:ScriptedRecognizerForTests")
    settings_module.get_settings.cache_clear()
    return settings_module.get_settings()


@contextlib.asynccontextmanager
async def hotline(credentials: dict, redis):  # noqa: F811
    """The ivr channel built from ``credentials`` (as credentials.yml gives them), served; yields its stream URL."""
    async with served_channel(credentials, redis) as (_, url):
        yield url


@contextlib.asynccontextmanager
async def served_channel(credentials: dict, redis):  # noqa: F811
    """As :func:`hotline`, yielding the channel too."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import register
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain

    from bot.channels.ivr import IvrInput

    channel = IvrInput.from_credentials(credentials)
    app = Sanic(f"ivr_places_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()))  # no model
    register([channel], app, "/webhooks/")  # as Rasa mounts it (these calls never reach the assistant)
    async with served_app(app) as base:
        yield channel, base.replace("http://", "ws://") + "/webhooks/ivr/media"
        await until_no_live_calls(redis)  # the calls the test hung up are still ending on the server
        if channel._runtime is not None:
            await channel._runtime.lines.stop()
            await channel._runtime.engine.drain()


async def live(redis) -> set[str]:  # noqa: F811
    from bot.ivr.call_state import CallStore

    return await CallStore(redis).live_calls()


async def until_no_live_calls(redis, timeout_s: float = 10) -> None:  # noqa: F811
    """Until the server has ended every call (their sockets closed), or ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while await live(redis) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def vouched(settings) -> dict:
    from bot.security.secrets import load_secrets

    return {"kefuTrunkToken": load_secrets(settings).ivr_trunk_token}  # what the operator's trunk passes


async def answered(call: PhoneCall) -> PhoneCall:
    await call.__aenter__()
    await call.wait_media(30)  # the greeting
    return call


async def refused(call: PhoneCall) -> int:
    """The close code of a call the server ended with no word said."""
    try:
        await call.__aenter__()
    except websockets.ConnectionClosed as closed:  # closed before the start frame was even sent
        return closed.rcvd.code if closed.rcvd else -1
    await call.wait_closed(15)
    assert call.media_count() == 0, "a refused call heard the hotline"
    return call.close_code


def refusals() -> dict[str, float]:
    """``kefu_calls_refused_total`` by reason, as ``/metrics`` shows it."""
    from prometheus_client.parser import text_string_to_metric_families

    from bot.observability.metrics import exposition

    body, _ = exposition()
    return {sample.labels["reason"]: sample.value for family in text_string_to_metric_families(body.decode())
            for sample in family.samples if sample.name == "kefu_calls_refused_total"}


def counted_since(before: dict[str, float]) -> dict[str, float]:
    """The refusals counted since ``before`` (reasons counted none left out)."""
    return {reason: value - before.get(reason, 0.0) for reason, value in refusals().items()
            if value != before.get(reason, 0.0)}


async def hang_up(calls: list[PhoneCall]) -> None:
    for call in calls:
        if hasattr(call, "_line"):  # it got as far as sending its start
            await call.close()


async def test_silent_unvouched_streams_leave_places_for_the_carriers_callers(phone_settings, redis):  # noqa: F811
    from bot.ivr.call_state import CallStore

    calls: list[PhoneCall] = []
    before = refusals()
    async with hotline({"max_calls": 5}, redis) as url:  # the default share: a fifth, here one place
        try:
            held = await answered(PhoneCall(url, caller="13900000001"))
            calls.append(held)
            for n in range(4):  # an attacker takes every other place with silent streams
                extra = PhoneCall(url, caller=f"1390000001{n}")
                calls.append(extra)
                assert await refused(extra) == BUSY
                # refused before it claimed its stream: the carrier's retry of it would be taken
                assert await CallStore(redis).claim(extra.stream_sid)
            for n in range(4):  # the carrier's callers still get through, every one of them
                trunk = PhoneCall(url, caller=f"1380000000{n}", parameters=vouched(phone_settings))
                calls.append(await answered(trunk))
            assert held.closed_at is None, "the unvouched call within its share was ended"
            # what the operator sees on /metrics: four streams over the unvouched share, each counted once
            assert counted_since(before) == {"unvouched_full": 4}
        finally:
            await hang_up(calls)


async def test_a_vouched_call_takes_the_newest_unvouched_callers_place_when_all_are_taken(
        phone_settings, redis):  # noqa: F811
    calls: list[PhoneCall] = []
    before = refusals()
    async with hotline({"max_calls": 3, "max_unvouched_calls": 2}, redis) as url:
        try:
            older = await answered(PhoneCall(url, caller="13900000001"))
            newer = await answered(PhoneCall(url, caller="13900000002"))
            first = await answered(PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings)))
            calls += [older, newer, first]
            second = await answered(PhoneCall(url, caller="13800000002", parameters=vouched(phone_settings)))
            calls.append(second)
            await newer.wait_closed(10)
            assert newer.close_code == BUSY
            assert older.closed_at is None and first.closed_at is None
            third = await answered(PhoneCall(url, caller="13800000003", parameters=vouched(phone_settings)))
            calls.append(third)
            await older.wait_closed(10)
            assert older.close_code == BUSY
            # every place is a vouched call's now: the next caller, vouched or not, is busy
            fourth = PhoneCall(url, caller="13800000004", parameters=vouched(phone_settings))
            calls.append(fourth)
            assert await refused(fourth) == BUSY
            assert all(call.closed_at is None for call in (first, second, third))
            assert counted_since(before) == {"unvouched_ended": 2, "busy": 1}
        finally:
            await hang_up(calls)


async def test_max_unvouched_calls_is_checked_when_the_channel_is_built(phone_settings):
    from bot.channels import ChannelConfigError
    from bot.channels.ivr import IvrInput

    for bad in ({"max_calls": 5, "max_unvouched_calls": 6}, {"max_unvouched_calls": -1},
                {"max_unvouched_calls": "many"}):
        with pytest.raises(ChannelConfigError):
            IvrInput.from_credentials(bad)
    assert IvrInput.from_credentials({"max_unvouched_calls": 0}).places.max_unvouched == 0  # softphone off


async def test_the_ended_unvouched_call_is_recorded_as_ended_busy_and_leaves_no_live_state(
        phone_settings, redis):  # noqa: F811
    from bot.handoff.tickets import repository
    from tests.ivr.conftest import ended

    calls: list[PhoneCall] = []
    async with hotline({"max_calls": 2, "max_unvouched_calls": 1}, redis) as url:
        try:
            unvouched = await answered(PhoneCall(url, caller="13900000001"))
            first = await answered(PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings)))
            calls += [unvouched, first]
            second = await answered(PhoneCall(url, caller="13800000002", parameters=vouched(phone_settings)))
            calls.append(second)
            await unvouched.wait_closed(10)
            assert unvouched.close_code == BUSY
            assert (await ended(repository(), unvouched.stream_sid))["reason"] == "busy"
            assert unvouched.stream_sid not in await live(redis)
            assert {first.stream_sid, second.stream_sid} <= await live(redis)
        finally:
            await hang_up(calls)


async def test_an_unvouched_call_ended_while_it_starts_leaves_no_live_state(phone_settings, redis):  # noqa: F811
    from bot.handoff.tickets import repository
    from tests.ivr.conftest import call_events

    calls: list[PhoneCall] = []
    async with hotline({"max_calls": 1, "max_unvouched_calls": 1}, redis) as url:
        try:
            for n in range(5):  # both starts at once: whichever is placed first, the unvouched one ends
                unvouched = PhoneCall(url, caller=f"1390000000{n}")
                trunk = PhoneCall(url, caller=f"1380000000{n}", parameters=vouched(phone_settings))
                calls += [unvouched, trunk]
                await asyncio.gather(unvouched.__aenter__(), trunk.__aenter__())
                await trunk.wait_media(30)
                await unvouched.wait_closed(10)
                assert unvouched.close_code == BUSY
                events = await call_events(repository(), unvouched.stream_sid, timeout=2)
                assert not events or events[-1]["kind"] == "ivr_call_ended", events
                assert await live(redis) == {trunk.stream_sid}
                await trunk.close()
                await until_no_live_calls(redis)
        finally:
            await hang_up(calls)


async def test_a_vouched_stream_refused_as_a_duplicate_ends_no_unvouched_caller(phone_settings, redis):  # noqa: F811
    calls: list[PhoneCall] = []
    before = refusals()
    async with hotline({"max_calls": 1, "max_unvouched_calls": 1}, redis) as url:
        try:
            first = await answered(PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings)))
            calls.append(first)
            await first.close()
            await until_no_live_calls(redis)
            caller = await answered(PhoneCall(url, caller="13900000001"))
            calls.append(caller)
            # the trunk opens that call's stream again: refused (bot/ivr/call_state.py claim), and
            # the softphone's caller, who has the only place, must not be cut off for it
            again = PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings),
                              stream_sid=first.stream_sid)
            calls.append(again)
            await again.__aenter__()
            await again.wait_closed(10)
            assert again.media_count() == 0
            # the place is still the softphone caller's: another unvouched stream is busy
            assert await refused(PhoneCall(url, caller="13900000002")) == BUSY
            assert caller.closed_at is None, f"the unvouched caller was ended ({caller.close_code})"
            assert await live(redis) == {caller.stream_sid}
            assert counted_since(before) == {"duplicate_stream": 1, "unvouched_full": 1}
        finally:
            await hang_up(calls)


async def test_the_unvouched_caller_ended_to_make_room_hears_that_the_line_is_busy(phone_settings, redis):  # noqa: F811
    """Found in review: the caller whose place went to a vouched call heard nothing: the stream just closed,
    mid-sentence of whatever the hotline was saying. They now hear content/ivr.yml's prompts.line_busy."""
    from bot.ivr.config import load_hotline_config

    line_busy = load_hotline_config(phone_settings.ivr_config_path).prompt("line_busy")
    calls: list[PhoneCall] = []
    before = refusals()
    async with hotline({"max_calls": 2, "max_unvouched_calls": 1}, redis) as url:
        try:
            unvouched = await answered(PhoneCall(url, caller="13900000001", parameters={"captions": "1"}))
            first = await answered(PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings)))
            calls += [unvouched, first]
            heard_before = len(unvouched.received)
            second = PhoneCall(url, caller="13800000002", parameters=vouched(phone_settings))
            calls.append(second)
            await answered(second)  # its place is its own at once
            await unvouched.wait_closed(15)
            assert unvouched.close_code == BUSY
            after = unvouched.received[heard_before:]
            captions = [r for r in after if r.kind == "kefu_caption"]
            assert "".join(r.name for r in captions).endswith(line_busy.strip()), [r.name for r in captions]
            assert [r.name for r in after if r.kind == "mark"][-1:] == ["line_busy"], unvouched.marks()
            begun = next(r.at for r in captions if line_busy.startswith(r.name))
            spoken_s = sum(r.kind == "media" and r.at >= begun for r in after) * 0.02
            assert spoken_s >= 0.5, f"the prompt was said for {spoken_s:.2f} s"  # said, not only captioned
            assert counted_since(before) == {"unvouched_ended": 1}
        finally:
            await hang_up(calls)


async def test_the_line_busy_prompt_does_not_keep_the_ended_stream_open_past_its_bound(
        phone_settings, redis, monkeypatch):  # noqa: F811
    from bot.ivr import session as session_module

    monkeypatch.setattr(session_module, "BUSY_PROMPT_MAX_S", 0.3)
    calls: list[PhoneCall] = []
    async with hotline({"max_calls": 1, "max_unvouched_calls": 1}, redis) as url:
        try:
            unvouched = await answered(PhoneCall(url, caller="13900000001"))
            trunk = PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings))
            calls += [unvouched, trunk]
            asked = time.monotonic()
            await trunk.__aenter__()
            await unvouched.wait_closed(10)
            assert unvouched.close_code == BUSY
            assert unvouched.closed_at - asked < 0.3 + 1.0, unvouched.closed_at - asked
            await trunk.wait_media(30)
        finally:
            await hang_up(calls)
