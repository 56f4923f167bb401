"""A loopback stand-in for the telephony REST API's "update a call in progress" (Twilio format).

``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``, HTTP Basic auth with the
account sid and auth token, form field ``Twiml``; answers the call resource as JSON, or a 401
with Twilio's error shape for wrong credentials and a 404 for a call it does not know.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class TwilioRestLoopback:
    account_sid: str
    auth_token: str
    live_calls: set[str] = field(default_factory=set)
    updates: list[dict] = field(default_factory=list)

    async def update_call(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        call_sid = request.match_info["call"]
        if call_sid not in self.live_calls:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        form = await request.post()
        self.updates.append({"call_sid": call_sid, "twiml": form.get("Twiml", "")})
        return web.json_response({"sid": call_sid, "account_sid": self.account_sid, "status": "in-progress",
                                  "api_version": "2010-04-01"})

    async def start(self, port: int) -> "TwilioRestLoopback":
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Calls/{call}.json", self.update_call)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()
