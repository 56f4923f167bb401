"""A scripted softphone for the demo carrier: listens for rings the way the softphone page does
(server-sent events at ``/ivr/phone/api/rings``) and answers, declines or hangs up through the same
buttons' API. Answering returns what the carrier read from the call's TwiML, to open the stream."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import replace

import aiohttp

from bot.contacts.commands import worker_from_settings
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule

SOFTPHONE = {"X-Kefu-Softphone": "1"}


async def ring_a_call(carrier):
    """A call from the hotline ringing for 13800000003, streamed to Kefu with a one-time token when
    answered; the demo carrier's call record."""
    twiml = ('<Response><Connect><Stream url="ws://127.0.0.1:5005/webhooks/ivr/media">'
             '<Parameter name="kefuContact" value="one-time-token"/></Stream></Connect></Response>')
    return await carrier.create({"To": ["13800000003"], "From": ["+864008000000"], "Twiml": [twiml]})


class DemoPhone:
    def __init__(self, base_url: str, number: str) -> None:
        self.base_url = base_url
        self.number = number
        self.rings: asyncio.Queue[dict] = asyncio.Queue()
        self.ended: list[dict] = []

    async def __aenter__(self) -> "DemoPhone":
        self.http = aiohttp.ClientSession()
        listening = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._listen(listening))
        await asyncio.wait_for(listening, 15)
        return self

    async def __aexit__(self, *exc) -> None:
        self._listener.cancel()
        await self.http.close()

    async def _listen(self, listening: asyncio.Future) -> None:
        url = f"{self.base_url}/ivr/phone/api/rings"
        async with self.http.get(url, params={"number": self.number}, timeout=aiohttp.ClientTimeout(total=None)) as r:
            assert r.status == 200, f"rings answered HTTP {r.status}"
            event = ""
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if not listening.done():
                    listening.set_result(True)
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "ring":
                        await self.rings.put(data)
                    else:
                        self.ended.append(data)

    async def next_ring(self, timeout: float = 20) -> dict:
        return await asyncio.wait_for(self.rings.get(), timeout)

    async def press(self, sid: str, button: str) -> tuple[int, dict]:
        async with self.http.post(f"{self.base_url}/ivr/phone/api/calls/{sid}/{button}", headers=SOFTPHONE) as r:
            return r.status, await r.json()


def demo_worker(stack, now, ring_timeout_s: float | None = None, **changes):
    """The contact worker as `kefu run` builds it for ``stack`` (its dialer the demo carrier), on a test
    clock: ``now`` is a fixed naive-UTC datetime or a callable returning one."""
    worker = worker_from_settings(stack.settings)
    rules = load_rules(stack.settings.content_dir / "contacts.yml")
    if ring_timeout_s is not None:
        rules = replace(rules, ring_timeout=dt.timedelta(seconds=ring_timeout_s))
    worker.rules = lambda: rules
    worker.clock = now if callable(now) else (lambda: now)
    for name, value in changes.items():
        setattr(worker, name, value)
    return worker


async def until_contact(repository, contact_filter, what: str, timeout: float = 30, worker=None) -> dict:
    """Poll (running worker passes when given one) until a contact matching ``contact_filter`` exists."""
    deadline = time.monotonic() + timeout
    schedule = Schedule(repository)
    while True:
        if worker is not None:
            await worker.run_pass()
        found = [c for c in await asyncio.to_thread(schedule.listing, limit=10_000) if contact_filter(c)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def press_during_next_prompt(line, key: str, *, after_mark: str | None = None, since: int = 0,
                                   timeout: float = 30) -> int:
    """Press ``key`` as soon as the next prompt starts playing (barge-in, as a caller who knows the menu):
    after ``after_mark`` when given, else after the ``clear`` the previous key's barge-in caused (looked
    for from ``since``, what the previous call returned). Returns where this press happened."""
    if after_mark is not None:
        await line.wait_mark(after_mark, timeout)
        start = len(line.received)
    else:
        def cleared() -> int | None:
            return next((i for i in range(since, len(line.received)) if line.received[i].kind == "clear"), None)
        await line.wait_for(lambda: cleared() is not None, timeout, "the barge-in's clear")
        start = cleared() + 1
    await line.wait_for(lambda: any(r.kind == "media" for r in line.received[start:]), timeout, "the next prompt")
    pressed_at = len(line.received)
    await line.press(key)
    return pressed_at
