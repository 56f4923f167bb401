"""Hold audio through the real media-stream path, in process: a Twilio-format WebSocket served by
:class:`CallSession` with the real flow engine, queue (Redis), database and TTS; the simulated
carrier (:class:`PhoneCall`) sends a frame every 20 ms and records what it receives, when.

What a waiting caller must hear: the hotline's hold audio with no gap longer than a second while
nobody speaks, interrupted (``clear``) for a queue update and resumed after it; the reminder of
the keys; the callback key booking a callback from the queue entry; nothing more of it once an
agent has the call or the caller has hung up.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import websockets

from bot.embedded_redis import free_port
from bot.handoff.queue import HandoffQueue
from bot.ivr.hold_audio import hold_frames
from bot.ivr.line import publish
from tests.handoff.conftest import Clock, redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.simulator import PhoneCall, hold_media, receiver
from voice.pcm import mulaw_decode, pcm_to_wav_bytes, rms_dbfs

pytestmark = pytest.mark.realtime

FLOWS = Path(__file__).parent / "hold_flows"
REMINDER_S = 3
GAP_S = 2  # hold.announcement_gap_s in the test hotline
SMS_PER_NUMBER = 2  # texts per number in any hour in the test hotline
# The text budget reads a hand-driven clock (``text_clock``), ten seconds before the top of an hour: a
# test that does not move it has every text at the same instant, and each must still count.
TOP_OF_THE_HOUR = 1_700_002_800.0
MAX_GAP_S = 1.0
TRUNK = "trunk-secret"  # what the phone trunk sends beside a caller ID it vouches for


@pytest.fixture
def text_clock() -> Clock:
    return Clock(TOP_OF_THE_HOUR - 10)


@pytest.fixture
async def hold_line(kefu_env, redis, tmp_path, text_clock):
    """A media-stream server on a free port; yields (url, sessions it served, hold frames)."""
    from bot.db.repository import Repository
    from bot.ivr.call_state import CallStore
    from bot.ivr.config import HotlineConfigSource
    from bot.ivr.engine import FlowEngine
    from bot.ivr.handoff import QueueHandoff
    from bot.ivr.line import CallLines
    from bot.ivr.registry import FlowRegistry
    from bot.ivr.services import CallRecords, CallServices
    from bot.ivr.sms_budget import TextBudget
    from bot.ivr.session import CallSession
    from bot.ivr.twilio import TwilioSerializer
    from bot.notify import OutboxNotifier
    from voice.prompts import PromptPlayer
    from voice.tts import default_engine

    hotline_yml = kefu_env.content_dir / "ivr.yml"
    config = tmp_path / "ivr.yml"
    config.write_text(hotline_yml.read_text(encoding="utf-8").replace(
        "audio: media/hold_tone.wav", f"audio: {hotline_yml.parent / 'media' / 'hold_tone.wav'}").replace(
        "reminder_every_s: 45", f"reminder_every_s: {REMINDER_S}").replace(
        "announcement_gap_s: 20", f"announcement_gap_s: {GAP_S}"), encoding="utf-8")
    repository = Repository(kefu_env.database_url)
    hotline = HotlineConfigSource(config)
    services = CallServices(registry=FlowRegistry(FLOWS, redis).load(), store=CallStore(redis), hotline=hotline,
                            records=CallRecords(repository), handoff=QueueHandoff(redis, repository),
                            notifier=OutboxNotifier.from_settings(kefu_env, repository),
                            sms_budget=TextBudget(redis, per_number_per_hour=SMS_PER_NUMBER, per_call_per_hour=3,
                                                  clock=text_clock))
    engine = FlowEngine(services)
    lines = await CallLines(redis).start()
    player = PromptPlayer(default_engine(), kefu_env.prompts_dir)
    sessions: list[CallSession] = []

    async def serve(ws) -> None:
        session = CallSession(engine=engine, serializer=TwilioSerializer(TRUNK), player=player, asr=None,
                              send=ws.send, close=ws.close, lines=lines)
        sessions.append(session)
        await session.run(receiver(ws))

    port = free_port()
    async with websockets.serve(serve, "127.0.0.1", port):
        yield f"ws://127.0.0.1:{port}", sessions, hold_frames(hotline.get().hold_audio)
    await lines.stop()


def gaps(times: list[float]) -> float:
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


async def queued(call: PhoneCall) -> float:
    """Press 0 and wait for the transfer prompt; the time its mark arrived."""
    await call.wait_media()
    await call.press("0")
    await call.wait_mark("agent", 30)
    return next(r.at for r in call.received if r.kind == "mark" and r.name == "agent")


async def test_a_queued_caller_hears_hold_audio_without_gaps_and_an_update_interrupts_it(hold_line, redis):
    url, _, frames = hold_line
    assert len(frames) > 50, "the shipped hold audio is missing"
    async with PhoneCall(url, flow="t_hold") as call:
        transferred = await queued(call)
        await call.wait_for(lambda: len(hold_media(call, frames, transferred)) >= 100, 10, "2 s of hold audio")
        update_sent = time.monotonic()
        await publish(redis, call.stream_sid, {"kind": "message", "message": {
            "text": "您目前排在第1位，预计等待2分钟。", "utter_action": "utter_queue_update"}})
        await call.wait_mark("line:utter_queue_update", 30)
        spoken = next(r.at for r in call.received if r.name == "line:utter_queue_update")
        await call.wait_for(lambda: len(hold_media(call, frames, spoken)) >= 50, 5, "hold audio resumed")
        received = list(call.received)
        await call.hangup()
    media = [r.at for r in received if r.kind == "media" and r.at > transferred]
    assert gaps(media) < MAX_GAP_S, f"{gaps(media):.2f} s without audio while queued"
    clears = [r.at for r in received if r.kind == "clear" and update_sent < r.at < spoken]
    assert clears, "the hold audio was not cleared for the update"
    # Between the clear and the update's mark only the update itself plays, none of the hold loop.
    assert not [r for r in hold_media(call, frames, clears[-1]) if r.at < spoken - 0.1]
    # The loop continues in order: consecutive frames of the file, wrapping round, a `hold` mark per pass. Only
    # frames occurring once in the file are recognisable, so "next" counts those (CI run 118 reached a stretch of
    # repeated frames and failed on the old count of any frames).
    recognisable = [i for i, frame in enumerate(frames) if frames.count(frame) == 1]
    played = [recognisable.index(frames.index(r.payload)) for r in hold_media(call, frames, spoken)]
    assert played and all(0 < (b - a) % len(recognisable) < 5 for a, b in zip(played, played[1:]))


def update(position: int) -> dict:
    return {"kind": "message", "message": {"utter_action": "utter_queue_update",
                                           "text": f"人工客服正在忙，您目前排在第{position}位，预计还需等待约{position}分钟，请稍候。"}}


async def test_queue_announcements_keep_their_distance_and_the_latest_place_is_said(hold_line, redis):
    """Found by a tester: as the queue moved, the waiting room's notices reached the caller back to
    back (five in 35 s). Each announcement comes at least `hold.announcement_gap_s` of hold audio after
    the previous one ended, and places passed meanwhile are not read out, only the latest."""
    url, _, _ = hold_line
    announcements = ("agent", "line:utter_queue_update", "hold:reminder")
    queue = HandoffQueue(redis)
    async with PhoneCall(url, flow="t_hold", parameters={"captions": "1"}) as call:
        await call.wait_media()
        await call.press("0")
        deadline = time.monotonic() + 10
        while await queue.position(f"ivr:{call.stream_sid}") is None:  # the waiting room notifies the queued
            assert time.monotonic() < deadline, "the caller was never queued"
            await asyncio.sleep(0.02)
        assert "agent" not in call.marks(), "the transfer prompt ended before the test could publish"
        for position in (5, 4, 3):  # the queue moves while the transfer prompt plays
            await publish(redis, call.stream_sid, update(position))
        await call.wait_mark("line:utter_queue_update", 30)
        await publish(redis, call.stream_sid, update(2))
        await call.wait_for(lambda: call.marks().count("line:utter_queue_update") == 2, 30, "the second update")
        received = list(call.received)
        await call.hangup()
    said = [r.name for r in received if r.kind == "kefu_caption" and "排在第" in r.name]
    assert [s[s.index("第") + 1] for s in said] == ["3", "2"], said
    marks = [r for r in received if r.kind == "mark" and r.name in announcements]
    for before, after in zip(marks, marks[1:]):
        clears = [r.at for r in received if r.kind == "clear" and before.at < r.at < after.at]
        assert clears, f"{after.name} came straight after {before.name}, with no hold audio between"
        assert clears[-1] - before.at >= GAP_S - 0.15, \
            f"{after.name} {clears[-1] - before.at:.2f} s after {before.name} ended (gap {GAP_S} s)"


async def test_the_reminder_plays_over_hold_and_the_callback_key_books_from_the_queue(hold_line, redis, kefu_env):
    from bot.contacts.schedule import Schedule
    from bot.db.repository import Repository

    url, sessions, frames = hold_line
    queue = HandoffQueue(redis)
    async with PhoneCall(url, flow="t_hold", caller="13800000001", parameters={"kefuTrunkToken": TRUNK}) as call:
        transferred = await queued(call)
        assert (await queue.position(f"ivr:{call.stream_sid}")) is not None
        await call.wait_mark("hold:reminder", REMINDER_S + 15)
        reminded = next(r.at for r in call.received if r.name == "hold:reminder")
        await call.wait_for(lambda: hold_media(call, frames, reminded), 5, "hold audio after the reminder")
        await call.press("1")
        await call.wait_mark("callback_booked", 30)
        await call.wait_closed(10)
    assert await queue.position(f"ivr:{call.stream_sid}") is None, "still queued after booking a callback"
    repository = Repository(kefu_env.database_url)
    tickets = [t for t in repository.tickets_since() if t.get("conversation_id") == f"ivr:{call.stream_sid}"]
    assert [t["kind"] for t in tickets] == ["callback"]
    assert tickets[0]["details"]["via"] == "waiting_room" and tickets[0]["details"]["callback_phone"] == "13800000001"
    scheduled = [c for c in Schedule(repository).listing(purpose="callback") if c["ticket_id"] == tickets[0]["ticket_id"]]
    assert len(scheduled) == 1
    assert gaps([r.at for r in call.received if r.kind == "media" and transferred < r.at < reminded]) < MAX_GAP_S


async def key(call: PhoneCall, digits: str) -> None:
    for digit in digits:
        await call.press(digit)


def call_texts(repository, call: PhoneCall) -> list[str]:
    """Who the call had texted (the outbox rows it queued)."""
    return [r["recipient"] for r in repository.outbound(channel="sms") if r["payload"].get("call_id") == call.stream_sid]


@pytest.mark.parametrize("vouched", [False, True], ids=["claimed-caller-id", "trunk-caller-id"])
async def test_a_text_goes_to_the_caller_id_only_when_the_trunk_vouched_for_it(hold_line, kefu_env, vouched):
    """Found by a tester: a media stream claiming any From (no trunk token) had the self-help text
    sent to that number. Unproven, the caller keys the number to text; vouched, nothing is asked."""
    from bot.db.repository import Repository

    url, _, _ = hold_line
    async with PhoneCall(url, flow="t_hold", caller="13912345678",
                         parameters={"kefuTrunkToken": TRUNK if vouched else "guessed"}) as call:
        await call.wait_media()
        await call.press("1")
        if not vouched:
            await call.wait_mark("ask_sms_number", 20)
            await key(call, "13700000001")
        await call.wait_mark("bye", 20)
        await call.wait_closed(10)
    assert ("ask_sms_number" in call.marks()) is not vouched
    assert call_texts(Repository(kefu_env.database_url), call) == ["13912345678" if vouched else "13700000001"]


async def test_a_keyed_number_gets_no_more_texts_than_its_budget(hold_line, kefu_env):
    """Found by a tester: a number keyed on the phone proves nothing, yet every call could have a text
    sent to it, with no limit (the chat budgets its texts per number). Past the number's hourly
    budget the call texts nothing and says so (the notify node's `on_failure`)."""
    from bot.db.repository import Repository

    url, _, _ = hold_line
    repository = Repository(kefu_env.database_url)
    heard = []
    for _ in range(SMS_PER_NUMBER + 1):  # each call from another phone, all keying the victim's number
        heard.append(await keying_the_victim(url))
        texted = call_texts(repository, heard[-1][1])
    assert [said for said, _ in heard] == [["bye"]] * SMS_PER_NUMBER + [["sms_not_sent"]], heard
    assert texted == [], "the number was texted past its budget"


async def keying_the_victim(url: str) -> tuple[list[str], PhoneCall]:
    """A call keying the same number to text: what it said of the text (bye: sent), and the call."""
    async with PhoneCall(url, flow="t_hold", caller="13912345678") as call:
        await call.wait_media()
        await call.press("1")
        await call.wait_mark("ask_sms_number", 20)
        await key(call, "13700000009")
        await call.wait_closed(20)
    return [m for m in call.marks() if m in ("bye", "sms_not_sent")], call


async def test_a_number_gets_no_more_texts_than_its_budget_in_any_hour(hold_line, text_clock):
    """Counted in fixed hourly windows, a number could be texted its budget at 12:59:50 and its budget
    again at 13:00:05 (SMS bombing). No more than the budget in any hour; one more an hour after the first."""
    url, _, _ = hold_line
    heard = [(await keying_the_victim(url))[0] for _ in range(SMS_PER_NUMBER)]  # at 12:59:50
    text_clock.advance(15)  # 13:00:05: a new hour, but not an hour since those texts
    heard.append((await keying_the_victim(url))[0])
    text_clock.advance(3600 - 15)  # 13:59:50: the first texts are an hour old
    heard.append((await keying_the_victim(url))[0])
    assert heard == [["bye"]] * SMS_PER_NUMBER + [["sms_not_sent"], ["bye"]], heard


async def test_a_flow_that_asks_no_number_texts_nobody_for_a_claimed_caller_id(hold_line, kefu_env):
    from bot.db.repository import Repository

    url, _, _ = hold_line
    async with PhoneCall(url, flow="t_hold", caller="13912345678") as call:
        await call.wait_media()
        await call.press("3")
        await call.wait_mark("sms_without_asking:unverified", 20)  # content/ivr.yml unverified_not_sent
        await call.wait_mark("bye", 20)
    assert call_texts(Repository(kefu_env.database_url), call) == []


async def test_a_callback_key_with_a_claimed_caller_id_books_the_number_the_caller_keys(hold_line, redis, kefu_env):
    """Found by a tester: from the queue, 1 booked a callback to whatever number the stream claimed."""
    from bot.db.repository import Repository

    url, _, _ = hold_line
    async with PhoneCall(url, flow="t_hold", caller="13912345678", parameters={"kefuTrunkToken": "guessed"}) as call:
        await queued(call)
        await call.press("1")
        await call.wait_mark("ask_callback_number", 30)
        await key(call, "13700000002")
        await call.wait_mark("callback_booked", 30)
    assert await HandoffQueue(redis).position(f"ivr:{call.stream_sid}") is None
    tickets = [t for t in Repository(kefu_env.database_url).tickets_since()
               if t.get("conversation_id") == f"ivr:{call.stream_sid}"]
    assert [t["kind"] for t in tickets] == ["callback"]
    assert tickets[0]["details"]["callback_phone"] == "13700000002"
    assert "13912345678" not in json.dumps(tickets[0]["details"])


async def test_a_second_stream_with_a_calls_id_is_refused_and_the_caller_keeps_their_place(hold_line, redis):
    """Found by a tester: a second media stream with a live call's streamSid was taken for the same
    call, and its hang-up took the first caller out of the queue. Once the call ended, its id stays refused."""
    url, _, _ = hold_line
    queue = HandoffQueue(redis)
    async with PhoneCall(url, flow="t_hold") as first:
        await queued(first)
        async with PhoneCall(url, flow="t_hold", stream_sid=first.stream_sid) as second:
            await second.wait_closed(10)
            await second.hangup()
        assert second.media_count() == 0, "the second stream was answered"
        await first.wait_for(lambda: first.media_count() > 0 and first.closed_at is None, 5, "the first call going on")
        assert await queue.position(f"ivr:{first.stream_sid}") is not None, "the first caller lost the queue"
        await first.hangup()
    async with PhoneCall(url, flow="t_hold", stream_sid=first.stream_sid) as late:
        await late.wait_closed(10)
    assert late.media_count() == 0, "a stream with an ended call's id was answered"


async def test_hold_audio_stops_when_the_agent_takes_the_call(hold_line, redis):
    url, _, frames = hold_line
    queue = HandoffQueue(redis)
    async with PhoneCall(url, flow="t_hold") as call:
        transferred = await queued(call)
        await call.wait_for(lambda: hold_media(call, frames, transferred), 10, "hold audio")
        claimed = await queue.claim_next("agent-1")
        assert claimed is not None and claimed.conversation_id == f"ivr:{call.stream_sid}"
        for action, text in (("utter_agent_joined", "您好，客服小王为您服务。"), ("", "请问有什么可以帮您？")):
            await publish(redis, call.stream_sid, {"kind": "message", "message": {"text": text, "utter_action": action}})
        await call.wait_mark("line:utter_agent_joined", 30)
        joined = next(r.at for r in call.received if r.name == "line:utter_agent_joined")
        await call.wait_for(lambda: [r for r in call.received if r.name == "line" and r.at > joined], 30,
                            "the agent's message")
        agent_said = next(r.at for r in call.received if r.name == "line" and r.at > joined)
        await call.hangup()
    assert not hold_media(call, frames, joined), "hold audio after the agent took the call"
    assert agent_said > joined


NOTICES = (("utter_queue_update", "人工客服正在忙，您目前排在第3位，预计还需等待约6分钟，请稍候。"),
           ("utter_queue_nobody_available", "目前没有人工客服在线，暂时无法估计等待时间。您可以继续等待，客服上线后会按顺序接听；"
                                            "预约回电请按1，语音留言请按2，通过短信获取自助服务指引请按3，取消排队请按星号键。"),
           ("utter_queue_agents_back", "现在有人工客服在线了，您排在第2位，预计等待约4分钟。"))


async def agent_takes(redis, call: PhoneCall) -> float:
    """An agent claims the waiting call and the desk greets the caller; the time of the claim."""
    claimed = await HandoffQueue(redis).claim_next("agent-1")
    assert claimed is not None and claimed.conversation_id == f"ivr:{call.stream_sid}"
    at = time.monotonic()
    await publish(redis, call.stream_sid, {"kind": "message", "message": {
        "text": "人工客服小王已为您接入，请问有什么可以帮您？", "utter_action": "utter_agent_joined"}})
    return at


async def test_notices_queued_for_the_waiting_caller_do_not_drown_the_agent(hold_line, redis):
    """Found by a tester: queue notices still queued when the agent picked up played first, over
    the agent's first words. Once the agent has the call the caller hears the agent next, and a
    notice about the wait that crosses the claim is never said."""
    url, _, frames = hold_line
    async with PhoneCall(url, flow="t_hold") as call:
        transferred = await queued(call)
        await call.wait_for(lambda: hold_media(call, frames, transferred), 10, "hold audio")
        published = time.monotonic()
        for action, text in NOTICES:
            await publish(redis, call.stream_sid, {"kind": "message", "message": {"text": text, "utter_action": action}})
        # The hold audio is cleared for the first notice, which then plays for half a second.
        await call.wait_for(lambda: [r for r in call.received if r.kind == "clear" and r.at > published], 30,
                            "the hold audio to make way for the first notice")
        cleared = next(r.at for r in call.received if r.kind == "clear" and r.at > published)
        await call.wait_for(lambda: sum(r.kind == "media" and r.at > cleared for r in call.received) > 25, 10,
                            "the first notice to play")
        claimed = await agent_takes(redis, call)
        await publish(redis, call.stream_sid, {"kind": "message", "message": {  # the waiting room was a beat late
            "text": "人工客服正在忙，您目前排在第1位，预计还需等待约2分钟，请稍候。", "utter_action": "utter_queue_update"}})
        await publish(redis, call.stream_sid, {"kind": "message", "message": {"text": "请问是宽带的问题吗？"}})
        await call.wait_for(lambda: "line" in call.marks(), 60, "the agent's words")
        received = list(call.received)
        await call.hangup()
    heard_after_claim = [r.name for r in received if r.kind == "mark" and r.at > claimed and r.name != "hold"]
    assert heard_after_claim == ["line:utter_agent_joined", "line"], "the caller heard notices after the agent took the call"
    joined = next(r.at for r in received if r.name == "line:utter_agent_joined")
    assert joined - claimed < 10, f"the agent's greeting came {joined - claimed:.1f} s after the claim"


async def test_the_transfer_prompt_is_not_played_once_the_agent_has_the_call(hold_line, redis):
    """Found by a tester: an agent who took the call in its first seconds had to wait for the rest
    of "transferring you" before the caller heard the greeting. Once the agent has the call the
    caller hears the agent next."""
    url, _, _ = hold_line
    queue = HandoffQueue(redis)
    async with PhoneCall(url, flow="t_hold") as call:
        await call.wait_media()
        await call.press("0")
        deadline = time.monotonic() + 10
        while await queue.position(f"ivr:{call.stream_sid}") is None:
            assert time.monotonic() < deadline, "the caller was never queued"
            await asyncio.sleep(0.02)
        assert "agent" not in call.marks(), "the transfer prompt ended before the test could claim"
        claimed = await agent_takes(redis, call)
        await call.wait_mark("line:utter_agent_joined", 30)
        received = list(call.received)
        await call.hangup()
    heard_after_claim = [r.name for r in received if r.kind == "mark" and r.at > claimed and r.name != "hold"]
    assert heard_after_claim == ["line:utter_agent_joined"], "the caller heard the transfer prompt after the agent took it"
    joined = next(r.at for r in received if r.name == "line:utter_agent_joined")
    assert joined - claimed < 10, f"the agent's greeting came {joined - claimed:.1f} s after the claim"


async def test_star_after_the_agent_took_the_call_keeps_the_agent(hold_line, redis):
    """Found by a tester: * (stop waiting) pressed while talking to the agent cancelled the queue
    entry and dropped the agent. It stops waiting only until an agent has the call."""
    url, _, _ = hold_line
    async with PhoneCall(url, flow="t_hold") as call:
        await queued(call)
        await agent_takes(redis, call)
        await call.wait_mark("line:utter_agent_joined", 30)
        await call.press("*")
        await publish(redis, call.stream_sid, {"kind": "message", "message": {"text": "您好，请讲。"}})
        await call.wait_for(lambda: "line" in call.marks(), 30, "the agent's words after *")
        entry = await HandoffQueue(redis).entry(f"ivr:{call.stream_sid}")
        closed = call.closed_at
        await call.hangup()
    assert entry is not None and entry["state"] == "claimed" and entry["agent_id"] == "agent-1"
    assert "stopped_waiting" not in call.marks() and closed is None


async def test_hold_audio_stops_when_the_caller_hangs_up(hold_line, redis):
    url, sessions, frames = hold_line
    async with PhoneCall(url, flow="t_hold") as call:
        transferred = await queued(call)
        await call.wait_for(lambda: hold_media(call, frames, transferred), 10, "hold audio")
        [session] = sessions
        sent = []
        original = session.playback._send

        async def counting(frame: str) -> None:
            sent.append((time.monotonic(), json.loads(frame)["event"]))
            await original(frame)

        session.playback._send = counting
        await call.wait_for(lambda: len(sent) > 10, 5, "hold frames through the session")
        await call.hangup()
    await call.wait_for(lambda: session.ended.is_set() and session.playback._task.done(), 10, "the call to end")
    hung_up = call.closed_at
    assert not [at for at, kind in sent if kind == "media" and at > hung_up + 0.05], "hold audio after the hang-up"
    deadline = time.monotonic() + 10
    while await HandoffQueue(redis).position(f"ivr:{call.stream_sid}") is not None:
        assert time.monotonic() < deadline, "the caller who hung up is still queued"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("hold,field,problem", [
    ('{"keys": {"*": callback}}', "hold.keys.*", "always stops waiting"),
    ('{"keys": {"1": nowhere}}', "hold.keys.1", "names no node"),
    ('{"reminder": 请稍候, "music": x}', "hold", "a mapping with"),
])
def test_a_bad_hold_section_names_its_field(hold, field, problem):
    from bot.ivr.errors import FlowError
    from bot.ivr.flow_loader import parse_flow

    text = (FLOWS / "t_hold.yml").read_text(encoding="utf-8")
    start = text.index("hold:\n")
    end = text.index("nodes:\n")
    with pytest.raises(FlowError) as raised:
        parse_flow(text[:start] + f"hold: {hold}\n" + text[end:], "t_hold.yml", "t_hold")
    assert (raised.value.field, problem in str(raised.value)) == (field, True)


def test_validate_warns_about_missing_hold_audio_and_reaches_nodes_by_hold_keys(kefu_env, tmp_path):
    import dataclasses

    from bot.ivr.flow_loader import load_flow_file
    from bot.ivr.validation import hold_audio_problems, reachable

    config = tmp_path / "ivr.yml"
    config.write_text((kefu_env.content_dir / "ivr.yml").read_text(encoding="utf-8"), encoding="utf-8")
    [problem] = hold_audio_problems(dataclasses.replace(kefu_env, ivr_config_path=config))
    assert "hold.audio" in problem.message and "silence" in problem.message
    assert hold_audio_problems(kefu_env) == []
    flow = load_flow_file(FLOWS / "t_hold.yml")
    assert {"callback", "callback_booked", "message"} <= reachable(flow)


def test_the_shipped_hold_audio_is_kefus_own_chime_at_the_phone_rate():
    from bot.ivr.hold_tone import hold_tone_pcm
    from tests.conftest import PROJECT_ROOT
    from voice.pcm import read_wav

    shipped = read_wav(PROJECT_ROOT / "content" / "media" / "hold_tone.wav")
    assert shipped.sample_rate == 8000 and shipped.samples == hold_tone_pcm()


def tone(frequency: int, sample_rate: int, seconds: float = 1.0) -> bytes:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (np.sin(2 * np.pi * frequency * t) * 12000).astype("<i2").tobytes()


def test_hold_music_at_another_rate_reaches_the_line_without_aliasing(tmp_path):
    # A 16 kHz file: a 1 kHz tone must come through at its length; a 6 kHz tone is above what an
    # 8 kHz line carries and must be filtered out, not folded down to an audible 2 kHz hiss.
    audible, too_high = tmp_path / "audible.wav", tmp_path / "too_high.wav"
    audible.write_bytes(pcm_to_wav_bytes(tone(1000, 16000), 16000))
    too_high.write_bytes(pcm_to_wav_bytes(tone(6000, 16000), 16000))

    def line_pcm(path) -> bytes:
        return b"".join(mulaw_decode(base64.b64decode(frame)) for frame in hold_frames(str(path)))

    heard = line_pcm(audible)
    assert len(heard) // 2 == pytest.approx(8000, abs=160)  # one second at the phone rate, whole frames
    assert rms_dbfs(heard) > -12
    assert rms_dbfs(line_pcm(too_high)) < rms_dbfs(heard) - 30


def test_hold_music_replaced_by_a_same_size_file_keeping_its_date_is_heard(tmp_path):
    """Found in review: the encoded loop was kept per modification time and size, so new hold music copied
    over the old with its date kept (`cp -p`, a file of the same length) was never heard."""
    music = tmp_path / "hold.wav"
    music.write_bytes(pcm_to_wav_bytes(tone(1000, 8000), 8000))
    status, first = music.stat(), hold_frames(str(music))
    music.write_bytes(pcm_to_wav_bytes(tone(500, 8000), 8000))
    os.utime(music, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (music.stat().st_mtime_ns, music.stat().st_size) == (status.st_mtime_ns, status.st_size)
    assert first and hold_frames(str(music)) != first


async def test_a_key_that_is_no_option_is_told_so_and_unmatched_speech_is_not_heard(hold_line, kefu_env):
    """Found by a tester: a key that is none of the menu's options was answered "没有听清" (didn't
    catch that), wrong for a key the line heard for sure. It hears `key_not_an_option` from
    content/ivr.yml and the menu again; speech that matches no option keeps the flow's no-match words."""
    import yaml

    from bot.ivr.events import Utterance

    url, sessions, _ = hold_line
    prompts = yaml.safe_load((kefu_env.content_dir / "ivr.yml").read_text(encoding="utf-8"))["prompts"]
    async with PhoneCall(url, flow="t_hold", parameters={"captions": "1"}) as call:
        await call.wait_mark("menu", 30)
        await call.press("7")
        await call.wait_for(lambda: call.marks().count("menu") == 2, 30, "the menu again after the wrong key")
        [session] = sessions
        session._post(Utterance("今天天气怎么样", confidence=0.9))  # words that name no option
        await call.wait_for(lambda: call.marks().count("menu") == 3, 30, "the menu again after the speech")
        received = list(call.received)
        await call.hangup()
    captions = [r.name for r in received if r.kind == "kefu_caption"]
    marks = [r.name for r in received if r.kind == "mark" and r.name != "hold"]
    assert marks == ["menu", "menu:not_an_option", "menu", "menu:retry", "menu"], marks
    assert captions[1] == prompts["key_not_an_option"] and "没有听清" not in captions[1]
    assert captions[3] == "没有听清您的选择。"  # the flow's no_match_say, for speech


async def test_keys_typed_ahead_after_a_cut_number_choose_nothing_and_cut_nothing(hold_line):
    """Found by an accessibility audit: a slow caller's number was cut by the pause between keys, and the
    digits they went on keying chose options of the menu that followed. On the live line (the session
    stamps each key), a key just after the cut neither interrupts what is said nor chooses: the menu is
    heard whole, its own timer still runs, and a later key chooses."""
    url, _, _ = hold_line
    async with PhoneCall(url, flow="t_typed_ahead") as call:
        await call.wait_mark("number", 30)
        await call.press("1")
        await call.wait_media(30)  # cut after 0.5 s: "号码不完整" begins (then, whole, the menu)
        # The rest of the number, at once: not "确认". Pressed as the apology begins, not after it (its
        # 1.7 s, with the suite's load, took the key past the 3 s the rest of a number is taken for).
        await call.press("1")
        await call.wait_mark("number:invalid", 30)
        await call.wait_mark("menu:retry", 30)  # the menu was said whole and its timer ran out
        await call.wait_for(lambda: call.marks().count("menu") == 2, 30, "the menu again")
        await call.press("1")
        await call.wait_closed(30)
        marks = [r.name for r in call.received if r.kind == "mark" and r.name != "hold"]
    assert marks == ["number", "number:invalid", "menu", "menu:retry", "menu", "chosen"], marks
    assert not [r for r in call.received if r.kind == "clear"], "a typed-ahead key interrupted a prompt"


def test_stereo_hold_music_at_a_cd_rate_is_heard_not_silence(tmp_path):
    # What an operator usually has: music as a stereo 44.1 kHz WAV. It used to give no frames (a
    # warning in the log) and every waiting caller heard silence.
    import wave

    left = np.frombuffer(tone(1000, 44100, seconds=2.0), dtype="<i2")
    music = tmp_path / "music.wav"
    with wave.open(str(music), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(np.column_stack([left, left]).astype("<i2").tobytes())
    heard = b"".join(mulaw_decode(base64.b64decode(frame)) for frame in hold_frames(str(music)))
    assert len(heard) // 2 == pytest.approx(16000, abs=160)  # its two seconds at the phone rate
    assert rms_dbfs(heard) > -12
