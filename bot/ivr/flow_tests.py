"""Flow scripts (`tests/flows/*.yml`): a caller presses or says X, the flow must say Y.

Editors write them to pin down what a flow does; `kefu test` runs them through the real
flow engine with no audio: keys and utterances go in as Kefu call events, prompts come
out as text. The bot, the queue and the clock are scripted so a script can set the scene
("peak hour, 10 minutes' wait"); the call state lives in a real Redis.

A script::

    flow: main
    caller: "13900000000"
    time: "2026-11-23T10:00:00+08:00"   # decides business hours
    queue_wait_s: 600                   # what the queue estimates
    agents_online: false                # nobody signed in (default: true)
    recogniser: false                   # the line has no speech recogniser (default: true)
    bot: [["好的，已为您查询。"]]          # the assistant's replies, one list per turn
    steps:
      - hear: 欢迎致电        # words somewhere in the prompts since the last action
      - not_hear: 说出      # words in none of them
      - press: "0"
      - node: peak_offer
      - say: 短信              # the caller speaks (recognised text)
      - sent: sms
      - ended: true

``pause: 4`` is the caller doing nothing for 4 seconds on a simulated clock (keys are stamped with it):
when the node's timer (``timeout_s``, or ``inter_digit_timeout_s`` while a number is being keyed) runs
out within the pause, the flow gets its "no input" then, as on a live line. The clock counts from the
caller's last action (the time the prompts take to play is not counted). ``silence: true`` is the
timer running out, whatever it is.
``agent_done: true`` is the agent closing at the desk: the call goes back to the assistant.
``bot_heard: "13800000002"`` checks what the caller's last turn sent to the assistant;
``speak_unrecognised: true`` is the caller talking on a line with no speech recogniser.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bot.ivr.bot_turns import BotGateway
from bot.ivr.events import (CallStart, EndCall, HandedBack, Hold, KeyPress, Listen, NoInput, Recording, Say,
                            StartRecording, Utterance)
from bot.ivr.handoff import HandoffGateway, QueueTicket
from bot.notify import Notifier
from bot.yaml_load import safe_load

ACTIONS = ("press", "say", "speak_unrecognised", "silence", "record", "hangup", "agent_done")
WAITS = ("pause",)
CLOCK_START = 1_000_000.0  # the simulated clock's first reading (0 means "no time" to the engine)
CHECKS = ("hear", "not_hear", "node", "ended", "held", "sent", "bot_heard")


class FlowScriptError(ValueError):
    """A script itself is malformed (unknown step, missing flow)."""


class ScriptedQueue(HandoffGateway):
    def __init__(self, wait_s: float, agents_online: bool = True):
        self.wait_s = wait_s
        self.online = agents_online
        self.queued: list[str] = []

    async def enqueue(self, *, conversation_id, skill, priority, customer_id, phone, collected) -> QueueTicket:
        self.queued.append(skill)
        return QueueTicket(position=len(self.queued), estimated_wait_s=self.wait_s)

    async def estimated_wait(self, skill: str) -> float:
        return self.wait_s

    async def agents_available(self, skill: str) -> bool:
        return self.online


class ScriptedBot(BotGateway):
    """Each reply is a text, or ``{text: …, response: utter_…, buttons: […]}`` when the flow depends on which
    response it was (content/ivr.yml ``number_prompts``) or on its buttons."""

    def __init__(self, turns: list[list]):
        self.turns = list(turns)
        self.heard: list[str] = []  # what the caller's turns sent to the assistant

    async def turn(self, sender: str, text: str, metadata: dict) -> list[dict]:
        self.heard.append(text)
        replies = self.turns.pop(0) if self.turns else []
        return [{"recipient_id": sender, "text": reply} if isinstance(reply, str) else
                {"recipient_id": sender, "text": str(reply.get("text", "")), "utter_action": reply.get("response"),
                 **({"buttons": list(reply["buttons"])} if reply.get("buttons") else {})}
                for reply in replies]

    async def unheard(self, sender: str, metadata: dict) -> None:
        self.heard.append("")


class CollectingNotifier(Notifier):
    def __init__(self):
        self.sent: list[str] = []

    async def send_selfhelp(self, to, channel, entry, *, voice_message_id=None) -> None:
        self.sent.append(channel)

    async def send(self, to: str, message: dict) -> None:
        self.sent.append(message.get("channel", "sms"))


@dataclass
class ScriptResult:
    name: str
    failures: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


async def run_script(path: Path, settings, redis) -> ScriptResult:
    from bot.db.repository import Repository
    from bot.ivr.call_state import CallStore
    from bot.ivr.config import HotlineConfigSource
    from bot.ivr.engine import FlowEngine
    from bot.ivr.registry import FlowRegistry
    from bot.ivr.services import CallRecords, CallServices

    script = safe_load(path.read_text(encoding="utf-8")) or {}
    if "flow" not in script or not isinstance(script.get("steps"), list):
        raise FlowScriptError(f"{path.name}: a script needs 'flow' and a list of 'steps'")
    at = dt.datetime.fromisoformat(str(script.get("time", "2026-01-05T10:00:00+08:00")))
    notifier = CollectingNotifier()
    services = CallServices(
        registry=FlowRegistry(settings.ivr_flows_dir, redis).load(),
        store=CallStore(redis),
        hotline=HotlineConfigSource(settings.content_dir / "ivr.yml"),
        records=CallRecords(Repository(settings.database_url)),
        handoff=ScriptedQueue(float(script.get("queue_wait_s", 0)), bool(script.get("agents_online", True))),
        notifier=notifier,
        bot=ScriptedBot(script.get("bot") or []),
        clock=lambda: at,
    )
    engine = FlowEngine(services)
    call_id = f"script-{uuid.uuid4().hex[:8]}"
    result = ScriptResult(path.name)
    commands = await engine.start(CallStart(call_id=call_id, caller=str(script.get("caller", "")), flow=script["flow"],
                                            speech_recognised=bool(script.get("recogniser", True))))
    clock = CLOCK_START
    listen = timers_after(commands, None)
    try:
        for number, step in enumerate(script["steps"], start=1):
            (kind, value), = step.items()
            if kind in WAITS:
                timer = (listen.inter_digit_timeout_s or listen.timeout_s) if listen is not None else None
                if timer is not None and float(value) >= timer:
                    commands = await engine.handle(call_id, NoInput(bool(listen.inter_digit_timeout_s), at=clock + timer))
                    listen = timers_after(commands, listen)
                else:
                    commands = []
                clock += float(value)
            elif kind in ACTIONS:
                event = event_for(kind, value)
                commands = await engine.handle(call_id, KeyPress(event.digit, at=clock) if kind == "press" else event)
                listen = timers_after(commands, listen)
            elif kind in CHECKS:
                failure = await check(kind, value, commands, engine, call_id, notifier)
                if failure:
                    result.failures.append(f"{path.name} step {number} ({kind}: {value}): {failure}")
                    break
            else:
                raise FlowScriptError(f"{path.name} step {number}: unknown step '{kind}'")
            result.heard += [c.text for c in commands if isinstance(c, Say)]
    finally:
        await engine.end(call_id, "script")
    return result


def timers_after(commands: list, before: Listen | None) -> Listen | None:
    """What the caller's line waits for after this answer, as the session sets it (None: no timer)."""
    for command in reversed(commands):
        if isinstance(command, Listen):
            return command
        if isinstance(command, (Hold, EndCall, StartRecording)):
            return None
    return before


def event_for(kind: str, value):
    if kind == "press":
        return KeyPress(str(value))
    if kind == "say":
        return Utterance(str(value), confidence=0.9, seconds=1.0)
    if kind == "speak_unrecognised":  # the caller talks on a line with no recogniser (no Vosk model)
        return Utterance("", seconds=1.0, recognisable=False)
    if kind == "silence":
        return NoInput()
    if kind == "agent_done":
        return HandedBack("agent_closed")
    if kind == "record":
        seconds = float(value)
        return Recording(pcm=b"\x00\x10" * int(8000 * seconds), sample_rate=8000, finished_by="key")
    return None


async def check(kind: str, value, commands: list, engine, call_id: str, notifier: CollectingNotifier) -> str | None:
    said = " / ".join(c.text for c in commands if isinstance(c, Say))
    if kind == "hear":
        return None if str(value) in said else f"heard only: {said or '(nothing)'}"
    if kind == "not_hear":
        return None if str(value) not in said else f"heard: {said}"
    if kind == "ended":
        ended = any(isinstance(c, EndCall) for c in commands)
        return None if ended == bool(value) else f"call {'did not end' if value else 'ended'}"
    if kind == "held":
        return None if any(isinstance(c, Hold) for c in commands) == bool(value) else "not on hold"
    if kind == "sent":
        return None if str(value) in notifier.sent else f"sent only: {notifier.sent}"
    if kind == "bot_heard":
        heard = engine.services.bot.heard
        return None if heard and heard[-1] == str(value) else f"the assistant last heard: {heard[-1:] or '(nothing)'}"
    state = await engine.services.store.load(call_id)
    return None if state.node == str(value) else f"the call is at node '{state.node}'"


async def run_all(settings, scripts_dir: Path, redis) -> list[ScriptResult]:
    return [await run_script(path, settings, redis) for path in sorted(scripts_dir.glob("*.yml"))]


def run_flow_tests(settings) -> tuple[bool, str]:
    """Run every script in tests/flows with a throw-away database and an embedded Redis."""
    import redis.asyncio as aioredis

    from bot.db.repository import Repository
    from bot.db.seed import seed_demo
    from bot.embedded_redis import EmbeddedRedis
    from bot.redis_reconnect import reconnecting
    from bot.settings import from_environment

    scripts = settings.root / "tests" / "flows"
    if not scripts.is_dir():
        return True, "no flow scripts"
    with tempfile.TemporaryDirectory(prefix="kefu-flows-") as tmp:
        scratch = from_environment({**settings.env, "KEFU_DATA_DIR": tmp, "KEFU_DATABASE_URL": ""})
        seed_demo(Repository(scratch.database_url), scratch.content_dir / "demo" / "seed.yml")
        server = EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            async def go():
                client = aioredis.from_url(server.url, **reconnecting(scratch.redis.timeout_s))
                try:
                    return await run_all(scratch, scripts, client)
                finally:
                    await client.close()

            results = asyncio.run(go())
        finally:
            server.stop()
    lines = [f"{'ok  ' if r.passed else 'FAIL'} {r.name}" for r in results]
    lines += [failure for r in results for failure in r.failures]
    return all(r.passed for r in results), "\n".join(lines)
