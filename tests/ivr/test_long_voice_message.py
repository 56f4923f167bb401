"""A voice message left on the phone is kept whatever its length, up to what a record node allows
(``max_seconds``, at most ``bot.ivr.flow_loader.MAX_RECORD_SECONDS``): the IVR process's own pipeline,
as a call's record node hands it the recording."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.db.repository import Repository
from bot.ivr.errors import FlowError
from bot.ivr.flow_loader import MAX_RECORD_SECONDS, parse_flow

RECORD_FLOW = """flow: demo
start: message
nodes:
  message:
    type: record
    say: 请在提示音后留言。
    max_seconds: {seconds}
    next: bye
  bye:
    type: hangup
"""


async def test_a_message_as_long_as_a_record_node_allows_is_stored(kefu_env):
    # Found in review: a recording runs a little past max_seconds (what the caller said just before the
    # beep, the last frame), and the phone's messages went through the uploads' 120 s limit: a message
    # of a 120 s node's full length was dropped (logged ivr.voicemail.failed, nothing for the agent).
    from bot.channels.ivr import IvrInput, IvrRuntime

    runtime = await IvrRuntime(IvrInput(kefu_env), on_new_message=None).start()
    repository = Repository(kefu_env.database_url)
    before = {m["id"] for m in await asyncio.to_thread(repository.voice_messages, limit=500)}
    seconds = MAX_RECORD_SECONDS + 0.5
    noise = np.random.default_rng(7).normal(0, 300, int(seconds * 8000)).astype("<i2").tobytes()
    try:
        await runtime.services.voicemail(noise, 8000, "", "MZlong")
    finally:
        await runtime.lines.stop()
    stored = [m for m in await asyncio.to_thread(repository.voice_messages, limit=500) if m["id"] not in before]
    assert len(stored) == 1, "the message was not kept"
    assert abs(float(stored[0]["duration_s"]) - seconds) < 0.1, stored[0]


def test_a_record_node_longer_than_a_message_can_be_kept_is_refused_at_load():
    # It was accepted up to 300 s, and every message over ~120 s was lost when the call ended.
    assert parse_flow(RECORD_FLOW.format(seconds=MAX_RECORD_SECONDS), "demo.yml", "demo")
    with pytest.raises(FlowError) as raised:
        parse_flow(RECORD_FLOW.format(seconds=200), "demo.yml", "demo")
    assert (raised.value.node, raised.value.field) == ("message", "max_seconds")
