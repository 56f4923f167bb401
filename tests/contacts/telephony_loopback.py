"""A loopback telephony REST API in Twilio's format: ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``.

It checks HTTP Basic auth and the form fields (``To``, ``From``, ``Twiml``), answers ``201`` with the
new call's ``sid`` like the Call resource, and then — as the carrier would once the callee picks
up — runs ``answer(call)``, a test coroutine that opens the media stream named in the TwiML.
"""
from __future__ import annotations

import asyncio
import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from xml.etree import ElementTree

from aiohttp import web

from bot.embedded_redis import free_port


@dataclass
class PlacedCall:
    sid: str
    to: str
    from_: str
    stream_url: str
    parameters: dict
    form: dict


@dataclass
class TelephonyLoopback:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "loopback-token"
    answer: Callable[[PlacedCall], Awaitable[None]] | None = None  # None: the callee never picks up
    calls: list[PlacedCall] = field(default_factory=list)
    answered: list[asyncio.Task] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def create_call(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = dict(await request.post())
        if not form.get("To") or not form.get("From") or not (form.get("Twiml") or form.get("Url")):
            return web.json_response({"code": 21201, "message": "missing To/From/Twiml", "status": 400}, status=400)
        stream = ElementTree.fromstring(form["Twiml"]).find("./Connect/Stream")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        call = PlacedCall("CA" + uuid.uuid4().hex, form["To"], form["From"], stream.get("url"), parameters, form)
        self.calls.append(call)
        if self.answer is not None:
            self.answered.append(asyncio.get_running_loop().create_task(self.answer(call)))
        return web.json_response({"sid": call.sid, "account_sid": self.account_sid, "status": "queued",
                                  "to": call.to, "from": call.from_, "api_version": "2010-04-01"}, status=201)

    async def start(self) -> "TelephonyLoopback":
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", self.create_call)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def finish_calls(self, timeout: float = 60) -> None:
        if self.answered:
            await asyncio.wait_for(asyncio.gather(*self.answered), timeout)

    async def stop(self) -> None:
        for task in self.answered:
            task.cancel()
        await self._runner.cleanup()


def only_digits(text: str) -> str:
    return re.sub(r"\D", "", text)
