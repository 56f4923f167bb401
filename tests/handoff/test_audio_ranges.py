"""The desk's recordings answer HTTP range requests, as Safari/iOS's ``<audio>`` needs and seeking does
everywhere: 206 with ``Content-Range`` for one range, 416 past the end, the whole body otherwise, behind
the same sign-in; one ``recording_played`` per playback, not per range request of it.

Through the real HTTP routes: the desk's handlers on a Sanic server, requests over a socket."""
from __future__ import annotations

import aiohttp
import pytest
from sanic import Sanic

from bot.handoff.byte_ranges import ranged
from bot.handoff.queue import HandoffRequest
from bot.handoff.sessions import COOKIE
from bot.ivr.caller_clips import CallerClips
from bot.ledger.ledger import fault_of, named_skill
from tests.sanic_served import served_desk
from tests.handoff.test_recordings_across_instances import (  # noqa: F401 - fixtures
    agent,
    desk,
    leave_voice_message,
    other_machine,
    plays_recorded,
    tone,
)
from voice.pcm import pcm_to_wav_bytes

# Sanic rewrites some of its own methods when an app starts (TouchUp); a second app in the process can
# only start in test mode, which keeps the originals (as tests/channels/conftest.py does).
Sanic.test_mode = True


@pytest.fixture
async def desk_url(desk):  # noqa: F811
    async with served_desk(desk, "desk_ranges") as url:
        yield url


async def get(url: str, token: str | None, range_header: str | None = None) -> tuple[int, dict, bytes]:
    headers = {"Range": range_header} if range_header else {}
    cookies = {COOKIE: token} if token else {}
    async with aiohttp.ClientSession(cookies=cookies) as session, session.get(url, headers=headers) as answer:
        return answer.status, dict(answer.headers), await answer.read()


async def test_a_voice_message_plays_by_ranges_as_safari_asks_and_one_playback_is_audited_once(
        desk, desk_url, other_machine, tmp_path):  # noqa: F811
    message = tmp_path / "message.wav"
    message.write_bytes(pcm_to_wav_bytes(tone(16000, 1.0), 16000))
    ticket_id = leave_voice_message(other_machine, message)
    ticket = desk.repository.get_ticket(ticket_id)
    token = await agent(desk, "wang", [desk.queue.rules.ticket_skill(ticket["kind"], named_skill(ticket),
                                                                     fault_of(ticket))])
    url = f"{desk_url}/agent/api/tickets/{ticket_id}/audio"

    status, headers, whole = await get(url, token)
    assert status == 200 and headers["Accept-Ranges"] == "bytes" and whole[:4] == b"RIFF"
    size = len(whole)
    # Safari: a two-byte probe, then the whole from 0, then (seeking) the rest from the middle.
    status, headers, body = await get(url, token, "bytes=0-1")
    assert (status, headers["Content-Range"], body) == (206, f"bytes 0-1/{size}", b"RI")
    status, headers, body = await get(url, token, "bytes=0-")
    assert (status, headers["Content-Range"], body) == (206, f"bytes 0-{size - 1}/{size}", whole)
    status, headers, body = await get(url, token, f"bytes={size // 2}-")
    assert (status, headers["Content-Range"], body) == (206, f"bytes {size // 2}-{size - 1}/{size}", whole[size // 2:])
    assert headers["Cache-Control"] == "private, no-store"
    status, headers, body = await get(url, token, f"bytes={size}-")
    assert (status, headers["Content-Range"], body) == (416, f"bytes */{size}", b"")

    # Signed out, a range is no way in.
    status, _, body = await get(url, None, "bytes=0-1")
    assert status == 401 and b"RI" not in body
    # Audited: the plain GET and the playback from 0; not the probe, the seek nor the refused range.
    heard = await plays_recorded(desk, ticket["conversation_id"], count=3)
    assert [(e["kind"], e["ticket_id"]) for e in heard] == [("voice_message", ticket_id)] * 2


async def test_a_callers_clip_seeks_by_range_for_its_agent_only(desk, desk_url, other_machine):  # noqa: F811
    conversation_id = "ivr:MZ00000000000000000000000000000002"
    clip = CallerClips.from_settings(other_machine).store_clip(tone(8000, 1.0), 8000, conversation_id)
    desk.conversations.clips[conversation_id] = [clip.id]
    token = await agent(desk, "wang", ["general"])
    await desk.queue.roster.register("wang", name="wang", skills=["general"], capacity=2, status="available")
    await desk.queue.enqueue(HandoffRequest(conversation_id, "ivr", "general", 0, None, {}))
    assert (await desk.queue.claim_next("wang")).conversation_id == conversation_id
    url = f"{desk_url}/agent/api/conversations/{conversation_id}/clips/{clip.id}"

    _, _, whole = await get(url, token)
    status, headers, body = await get(url, token, "bytes=-100")
    assert (status, headers["Content-Range"], body) == (206, f"bytes {len(whole) - 100}-{len(whole) - 1}/{len(whole)}",
                                                        whole[-100:])
    other = await agent(desk, "li", ["general"])
    status, _, body = await get(url, other, "bytes=0-")
    assert status == 404 and not body.startswith(b"RIFF")


@pytest.mark.parametrize("header, status, content_range, part", [
    (None, 200, None, slice(None)),
    ("bytes=0-0", 206, "bytes 0-0/10", slice(0, 1)),  # Sanic's own handler refuses this one
    ("bytes=2-5", 206, "bytes 2-5/10", slice(2, 6)),
    ("bytes=8-100", 206, "bytes 8-9/10", slice(8, 10)),  # an end past the body: up to its end
    ("bytes=-3", 206, "bytes 7-9/10", slice(7, 10)),
    ("bytes=-30", 206, "bytes 0-9/10", slice(None)),
    ("bytes=10-", 416, "bytes */10", slice(0, 0)),
    ("bytes=-0", 416, "bytes */10", slice(0, 0)),
    ("bytes=0-1,4-5", 200, None, slice(None)),  # several ranges: the whole body, as the RFC allows
    ("bytes=5-2", 200, None, slice(None)),  # malformed: ignored
    ("items=0-1", 200, None, slice(None)),
])
def test_one_range_of_a_body(header, status, content_range, part):
    body = bytes(range(10))
    answer = ranged(body, header, content_type="audio/wav")
    assert answer.status == status and answer.headers.get("Content-Range") == content_range
    assert answer.body == body[part] and answer.headers["Accept-Ranges"] == "bytes"

