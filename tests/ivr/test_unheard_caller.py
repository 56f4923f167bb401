"""A phone caller talking to an agent without a voice bridge, when their words cannot be transcribed.

Found by a tester: with no recogniser (no Vosk model, the default of a fresh ``make run``) or a
recogniser that heard nothing, the caller's speech reached the desk as nothing at all: the agent
could not hear the caller and was not told why. Through the real servers: the caller's audio
over the media stream, the conversation in Rasa's tracker, the desk's API. Each line is another Rasa
process on the stack's Redis and database: one whose test recogniser, unscripted, hears no words,
one with no recogniser at all.

The line that hears nothing has a data directory of its own, like another machine behind the load
balancer, and the agent's desk is on the stack's process: found by a deployer, the clip was a file on
the machine that recorded it, so the agent on another machine got a 404 and could not hear the caller.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import wave
from pathlib import Path

import pytest
import requests

from tests.channels.test_handoff_every_channel import until
from tests.handoff.stack_client import DESK_HEADERS, Desk, SecondRasa
from tests.ivr.simulator import PhoneCall

pytestmark = pytest.mark.slow

CLIP = "aishell1_BAC009S0724W0121.wav"
OTHER_AGENT = ("clip_listener", "clip-listener-pw")


def phone_process(stack, asr_engine: str, data_dir: Path | None = None) -> SecondRasa:
    """Another Rasa process on the stack's Redis and database, its phone line with ``asr_engine``;
    with ``data_dir``, another machine's (its own data directory)."""
    return SecondRasa(stack, env={"KEFU_IVR_ASR_ENGINE": asr_engine,
                                  **({"KEFU_DATA_DIR": str(data_dir)} if data_dir else {})})


@pytest.fixture(scope="module")
def other_machine_dir(tmp_path_factory) -> Path:
    """The data directory of the line that hears nothing: another machine's, not the desk's."""
    return tmp_path_factory.mktemp("other-machine")


@pytest.fixture(scope="module")
def lines(running_kefu, other_machine_dir):
    """Both lines, started side by side: each process loads the model (30-40 s, about one core), and
    one after the other they cost the module two loads' time. The line that hears nothing is on
    another machine: its own data directory, the stack's database and Redis."""
    processes = {"hears_nothing": phone_process(running_kefu, "tests.ivr.scripted_asr:ScriptedRecognizerForTests",
                                                other_machine_dir),
                 "no_recogniser": phone_process(running_kefu, "voice.no_such_engine:Nothing")}
    with contextlib.ExitStack() as stop:
        for process in processes.values():
            process.start()
            stop.callback(process.__exit__)
        for process in processes.values():
            process.wait_until_up()
        yield processes


@pytest.fixture
def hears_nothing(lines, asr_script):
    """A line whose recogniser makes no words of anything (the test recogniser, unscripted)."""
    asr_script({})
    return lines["hears_nothing"]


@pytest.fixture
def no_recogniser(lines):
    """A line with no recogniser at all (its engine cannot be loaded), as with no Vosk model."""
    return lines["no_recogniser"]


def line_of(stack, process: SecondRasa) -> str:
    return f"ws://{stack.settings.host}:{process.port}/webhooks/ivr/media"


@pytest.fixture(scope="module")
def other_agent(running_kefu):
    """A second agent of the same skill group, signed in, serving nothing."""
    from bot.handoff.accounts import AccountStore

    accounts = AccountStore(running_kefu.settings.database_url)
    if accounts.authenticate(*OTHER_AGENT) is None:
        accounts.add(*OTHER_AGENT, ["general"], known_skills=["general"])
    session = requests.Session()
    reply = session.post(f"{running_kefu.settings.rasa_url}/agent/api/login", headers=DESK_HEADERS, timeout=30,
                         json={"name": OTHER_AGENT[0], "password": OTHER_AGENT[1]})
    reply.raise_for_status()
    return session


async def agent_has_the_call(stack, call: PhoneCall, desk_url: str | None = None) -> tuple[Desk, dict]:
    """The caller queued by the flow (0 in ``t_menu``), claimed at the desk and greeted."""
    await call.wait_media()
    await call.press("0")
    await call.wait_mark("agent", 30)
    desk = await asyncio.to_thread(Desk, stack, desk_url)
    claimed = await desk.claim(f"ivr:{call.stream_sid}")
    await call.wait_mark("line:utter_agent_joined", 40)
    return desk, claimed


async def clip_turns(desk: Desk, conversation_id: str) -> list[dict]:
    reply = await desk("GET", f"conversations/{conversation_id}/messages")
    return [t for t in reply.json()["turns"] if t.get("clip")]


async def hear_caller_through_the_desk(call: PhoneCall, desk: Desk, conversation_id: str, speech: bytes) -> list[bytes]:
    """The caller speaks; the desk shows clip turns (one per pause-separated turn); the agent plays
    them. The WAVs the agent got, which together hold (nearly) all the caller said."""
    said_s = len(speech) / 2 / 8000

    async def heard_it_all() -> list[dict]:
        turns = await clip_turns(desk, conversation_id)
        return turns if sum(t["clip"]["seconds"] for t in turns) >= 0.8 * said_s else []

    await call.say_and_wait(speech)
    turns = await until(heard_it_all, 60, "the caller's turns on the desk")
    assert all(t["who"] == "customer" and t["text"] == "" for t in turns), turns
    wavs = []
    for turn in turns:
        played = await desk("GET", f"conversations/{conversation_id}/clips/{turn['clip']['id']}")
        assert played.status_code == 200 and played.headers["content-type"].startswith("audio/wav")
        assert abs(seconds_of(played.content) - turn["clip"]["seconds"]) < 0.1
        wavs.append(played.content)
    assert sum(seconds_of(w) for w in wavs) >= 0.8 * said_s, "the agent got less than the caller said"
    return wavs


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getnframes() / reader.getframerate()


async def test_an_agent_hears_what_the_recogniser_could_not_transcribe(running_kefu, hears_nothing, clips_8k,
                                                                        other_agent, other_machine_dir):
    from bot.db.recordings import CALLER_CLIP, RecordingStore
    from bot.ivr.caller_clips import CLIPS_DIR

    speech = clips_8k[CLIP]
    async with PhoneCall(line_of(running_kefu, hears_nothing), flow="t_menu") as call:
        conversation_id = f"ivr:{call.stream_sid}"
        desk, claimed = await agent_has_the_call(running_kefu, call)
        assert claimed["speech_not_transcribed"] is False, "the line has a recogniser: nothing to warn of"
        wav = (await hear_caller_through_the_desk(call, desk, conversation_id, speech))[0]
        turn = (await clip_turns(desk, conversation_id))[0]
        # Played by the stack's desk from the shared database; on neither machine's disk.
        stored = RecordingStore(running_kefu.settings.database_url).get(turn["clip"]["id"], CALLER_CLIP)
        assert stored.audio == wav and stored.conversation_id == conversation_id
        assert not any((d / CLIPS_DIR).exists() and any((d / CLIPS_DIR).iterdir())
                       for d in (other_machine_dir, running_kefu.settings.data_dir))
        # Another agent, signed in but not serving this call, cannot play it, nor tell that it exists
        # (the same answer as for no such conversation: tests/handoff/test_desk_first_shift.py).
        path = f"/agent/api/conversations/{conversation_id}/clips/{turn['clip']['id']}"
        denied = await asyncio.to_thread(other_agent.get, f"{running_kefu.settings.rasa_url}{path}",
                                         headers=DESK_HEADERS, timeout=30)
        assert denied.status_code == 404 and denied.json()["error"] == "error_not_serving"
        # Nor can the serving agent play a clip this conversation does not name.
        assert (await desk("GET", f"conversations/{conversation_id}/clips/{'0' * 32}")).status_code == 404
        await call.hangup()


async def test_without_a_recogniser_the_agent_plays_the_callers_turns(running_kefu, no_recogniser, clips_8k):
    speech = clips_8k[CLIP]
    async with PhoneCall(line_of(running_kefu, no_recogniser), flow="t_menu") as call:
        conversation_id = f"ivr:{call.stream_sid}"
        desk, claimed = await agent_has_the_call(running_kefu, call, no_recogniser.url)
        assert claimed["speech_not_transcribed"] is True, "the agent was not told the caller is not transcribed"
        await hear_caller_through_the_desk(call, desk, conversation_id, speech)
        await call.hangup()
