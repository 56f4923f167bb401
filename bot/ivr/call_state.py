"""Per-call state, kept in Redis (``redis.asyncio``) so no worker holds a call in memory.

One JSON document per call under ``kefu:ivr:call:<id>``, a pending voice recording next to
it, the set ``kefu:ivr:calls`` of live calls, and a marker that the id was used (kept a week). Everything expires on its own if a worker
dies mid-call (the set's member is dropped by :meth:`CallStore.live_calls` once the state has gone); :meth:`CallStore.end` removes it at once when a call ends normally.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from bot.ivr.errors import CallStateError

PREFIX = "kefu:ivr"
LIVE_CALLS = f"{PREFIX}:calls"


def call_key(call_id: str) -> str:
    return f"{PREFIX}:call:{call_id}"


def recording_key(call_id: str) -> str:
    return f"{PREFIX}:call:{call_id}:recording"


def started_key(call_id: str) -> str:
    """Set once when a call starts and kept after it ends: a second stream with its id is refused."""
    return f"{PREFIX}:call:{call_id}:started"


STARTED_TTL_S = 7 * 86400  # how long an ended call's id stays refused (carrier ids are never reused)


def bridged_key(call_id: str) -> str:
    """Set while the carrier has connected the caller's voice to an agent (``bot.ivr.bridge``)."""
    return f"{PREFIX}:call:{call_id}:bridged"


@dataclass
class CallState:
    call_id: str
    caller: str
    flow: str
    version: str
    node: str
    started_at: float
    phase: str = ""  # within a node, e.g. "confirm" after a recording
    no_input: int = 0
    no_match: int = 0
    digits: str = ""
    bot_turns: int = 0
    rerecords: int = 0
    buttons: list = field(default_factory=list)  # payloads of the bot's last read-out buttons
    agent_button: str = ""  # the agent button of the bot's last reply, on hotline.agent_button's key
    keying_number: bool = False  # the assistant just asked for a number or code: every digit is part of it
    pending_question: str = ""  # the assistant's last question, said again when the caller stays silent
    unsure_words: str = ""  # a sentence naming two menu options, kept for the one the caller then picks
    typed_ahead_until: float = 0.0  # keys before this (wall clock) are the rest of a rejected number
    typed_ahead_end_only: bool = False  # the number before was taken whole: only a # until then is still its
    vars: dict = field(default_factory=dict)
    customer_id: int | None = None
    vip_tier: int = 0
    caller_verified: bool = False
    status: str = "active"  # active | queued | ended
    path: list = field(default_factory=list)  # node ids entered, for the call record
    carrier_call_id: str = ""  # the telephony side's id (Twilio callSid), for the voice bridge
    contact_token: str = ""  # the outbound contact this call answers for (bot.contacts), if any
    speech_recognised: bool = True  # False: no recogniser on this line; an agent gets recordings, not words
    told_no_agents: bool = False  # the flow said nobody is online (a transfer's ``on_nobody``): not said again
    reminder_deferred: bool = False  # the hold reminder waited once for a waiting-room question's answer
    long_wait_offered: bool = False  # told the wait is long, with what to do instead (bot.ivr.long_wait): once a call
    # Left the queue by a hold key to key a number (a callback, a text, for a caller whose own line is not proven):
    # the place kept ("place", HandoffGateway.place), the node held at ("node") and the key's node ("target"), so a
    # number refused or not used brings the caller back to that place, not to the end of the line.
    held_place: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> "CallState":
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def reset_retries(self) -> None:
        self.no_input = self.no_match = 0
        self.digits = ""
        self.phase = ""
        self.pending_question = ""
        self.unsure_words = ""


class CallStore:
    def __init__(self, redis, ttl_s: float = 3600) -> None:
        self.redis = redis
        self.ttl_s = int(ttl_s)

    async def create(self, state: CallState) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(call_key(state.call_id), state.to_json(), ex=self.ttl_s)
            pipe.sadd(LIVE_CALLS, state.call_id)
            await pipe.execute()

    async def claim(self, call_id: str) -> bool:
        """True for the first stream with this call id, on any process; False for any later one
        (found by a tester: a second stream with a live call's streamSid hung up the first caller)."""
        return bool(await self.redis.set(started_key(call_id), "1", nx=True, ex=STARTED_TTL_S))

    async def unclaim(self, call_id: str) -> None:
        """Give a claim back: the stream was refused (busy) before its call began, so a retry is taken."""
        await self.redis.delete(started_key(call_id))

    async def load(self, call_id: str) -> CallState:
        raw = await self.redis.get(call_key(call_id))
        if raw is None:
            raise CallStateError(f"no state for call {call_id} (ended or expired)")
        return CallState.from_json(raw)

    async def save(self, state: CallState) -> None:
        await self.redis.set(call_key(state.call_id), state.to_json(), ex=self.ttl_s)

    async def save_recording(self, call_id: str, pcm: bytes) -> None:
        await self.redis.set(recording_key(call_id), pcm, ex=self.ttl_s)

    async def recording(self, call_id: str) -> bytes | None:
        return await self.redis.get(recording_key(call_id))

    async def end(self, call_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(call_key(call_id), recording_key(call_id), bridged_key(call_id))
            pipe.srem(LIVE_CALLS, call_id)
            await pipe.execute()

    async def bridged(self, call_id: str) -> bool:
        return bool(await self.redis.exists(bridged_key(call_id)))

    async def live_calls(self) -> set[str]:
        """The calls in progress on every process. A call whose state is gone (its process was killed
        mid-call, so :meth:`end` never ran, and the state expired) is dropped from the set here: without
        this it counted as a live call for ever."""
        members = [m.decode() if isinstance(m, bytes) else m for m in await self.redis.smembers(LIVE_CALLS)]
        if not members:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in members:
                pipe.exists(call_key(call_id))
            found = await pipe.execute()
        gone = [call_id for call_id, exists in zip(members, found) if not exists]
        if gone:  # create and end change the key and the set together, so "gone" stays gone
            await self.redis.srem(LIVE_CALLS, *gone)
        return {call_id for call_id, exists in zip(members, found) if exists}
