"""HTTP face of the demo carrier (:mod:`bot.contacts.demo_carrier`), mounted on the Rasa server.

- ``POST /webhooks/ivr/demo-carrier/2010-04-01/Accounts/<sid>/Calls.json``: Twilio's Call resource
  (HTTP Basic auth with the demo account), what Kefu's dialer calls;
- ``GET /ivr/phone/api/rings?number=…``: server-sent events telling a softphone page which calls ring
  for its number (all numbers when empty), fed by Redis pub/sub from whichever worker took the call;
- ``POST /ivr/phone/api/calls/<sid>/answer|decline|hangup``: the softphone's buttons.

Everything answers 404 when the demo carrier is off (a real provider configured, or
``KEFU_DEMO_CARRIER=off``): the softphone page then never shows an incoming call. The ring feed and
the buttons answer loopback clients only (403 otherwise): the softphone is a local demo, and the feed
shows customers' numbers and the parameters (one-time token) that answer their calls. They answer
only the softphone page itself, not a page of another site in a browser on this machine, even one
``KEFU_CORS_ORIGINS`` lists (``bot.security.loopback``).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.contacts.carrier_account import DEMO_API_PATH, carrier_account
from bot.contacts.demo_carrier import CarrierRequestError, DemoCarrier
from bot.security.loopback import from_loopback
from bot.security.offered_secret import is_secret
from bot.security.secrets import get_secrets
from bot.settings import get_settings

logger = logging.getLogger(__name__)

SOFTPHONE_HEADER = "X-Kefu-Softphone"  # a page of ours sent it: cross-site forms cannot
KEEPALIVE_S = 15.0


def carrier_of(app: Sanic) -> DemoCarrier | None:
    """This worker's carrier client (state is all in Redis), or None when the demo carrier is off."""
    if not hasattr(app.ctx, "kefu_demo_carrier"):
        settings = get_settings()
        account = carrier_account(settings, get_secrets().channel_secret)
        carrier = None
        if account is not None and account.demo and settings.redis.url:
            import redis.asyncio as aioredis

            from bot.redis_reconnect import reconnecting

            carrier = DemoCarrier(aioredis.from_url(settings.redis.url, **reconnecting()), account.account_sid,
                                  account.auth_token)
        app.ctx.kefu_demo_carrier = carrier
        app.ctx.kefu_demo_ring_timers = set()
    return app.ctx.kefu_demo_carrier


def _authorised(request: Request, carrier: DemoCarrier, account: str) -> bool:
    given = request.headers.get("Authorization", "")
    if not given.startswith("Basic ") or account != carrier.account_sid:
        return False
    try:
        sid, _, token = base64.b64decode(given[6:]).partition(b":")
    except ValueError:  # binascii.Error, or text that is not ASCII (any client may send it)
        return False
    return is_secret(sid.decode("utf-8", "surrogateescape"), carrier.account_sid) \
        and is_secret(token.decode("utf-8", "surrogateescape"), carrier.auth_token)


async def create_call(request: Request, account: str) -> HTTPResponse:
    carrier = carrier_of(request.app)
    if carrier is None:
        return response.json({"code": 20404, "message": "The requested resource was not found", "status": 404}, 404)
    if not _authorised(request, carrier, account):
        return response.json({"code": 20003, "message": "Authenticate", "status": 401}, 401)
    try:
        call = await carrier.create(dict(request.form or {}))
    except CarrierRequestError as exc:
        return response.json({"code": exc.code, "message": str(exc), "status": 400}, 400)
    timer = asyncio.create_task(carrier.ring_out(call.sid, call.ring_until - time.time()))
    timers = request.app.ctx.kefu_demo_ring_timers
    timers.add(timer)
    timer.add_done_callback(timers.discard)
    return response.json({"sid": call.sid, "account_sid": carrier.account_sid, "status": "queued", "to": call.to,
                          "from": call.from_number, "direction": "outbound-api", "api_version": "2010-04-01"},
                         status=201)


async def rings(request: Request) -> HTTPResponse | None:
    """Server-sent events: ``ring`` for a call ringing for the number, ``ended`` when it stops ringing."""
    carrier = carrier_of(request.app)
    if carrier is None:
        return response.json({"error": "no_demo_carrier"}, status=404)
    if not from_loopback(request):  # found by a tester: anyone could watch every call ring
        return response.json({"error": "local_only"}, status=403)
    number = "".join(ch for ch in request.args.get("number", "") if ch.isdigit() or ch == "+")[:32]
    pubsub = carrier.redis.pubsub()
    await pubsub.subscribe(carrier.rings_channel)
    reply = await request.respond(content_type="text/event-stream",
                                  headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    try:
        await reply.send(": listening\n\n")
        for call in await carrier.ringing(number):
            await reply.send(f"event: ring\ndata: {json.dumps(call.ring())}\n\n")
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_S)
            if message is None:
                await reply.send(": keep-alive\n\n")
                continue
            data = json.loads(message["data"])
            if data.get("status") == "ringing":
                if not number or data.get("to") == number:
                    await reply.send(f"event: ring\ndata: {json.dumps(data)}\n\n")
            else:
                await reply.send(f"event: ended\ndata: {json.dumps(data)}\n\n")
    finally:
        await pubsub.unsubscribe()
        await pubsub.close()


def _from_softphone(handler):
    async def wrapped(request: Request, sid: str) -> HTTPResponse:
        carrier = carrier_of(request.app)
        if carrier is None:
            return response.json({"error": "no_demo_carrier"}, status=404)
        if request.headers.get(SOFTPHONE_HEADER) != "1" or not from_loopback(request):
            return response.json({"error": "forbidden"}, status=403)
        return await handler(carrier, sid[:40])

    wrapped.__name__ = handler.__name__
    return wrapped


@_from_softphone
async def answer(carrier: DemoCarrier, sid: str) -> HTTPResponse:
    """Picked up: the stream to open and its parameters, as the TwiML gave them (409 if it stopped ringing)."""
    call = await carrier.answer(sid)
    if call is None:
        return response.json({"error": "not_ringing"}, status=409)
    return response.json({"call_sid": call.sid, "account_sid": carrier.account_sid, "stream_url": call.stream_url,
                          "parameters": call.parameters, "from": call.from_number, "to": call.to})


@_from_softphone
async def decline(carrier: DemoCarrier, sid: str) -> HTTPResponse:
    ok = await carrier.decline(sid)
    return response.json({"ok": ok}, status=200 if ok else 409)


@_from_softphone
async def hangup(carrier: DemoCarrier, sid: str) -> HTTPResponse:
    ok = await carrier.hang_up(sid)
    return response.json({"ok": ok}, status=200 if ok else 409)


def register(app: Sanic) -> None:
    """Add the carrier's routes to the app (once; the IVR channel's blueprint calls this)."""
    if any(route.name.endswith("kefu_demo_carrier_calls") for route in app.router.routes):
        return
    app.add_route(create_call, f"{DEMO_API_PATH}/2010-04-01/Accounts/<account:str>/Calls.json", methods=["POST"],
                  name="kefu_demo_carrier_calls")
    app.add_route(rings, "/ivr/phone/api/rings", methods=["GET"], name="kefu_demo_carrier_rings")
    for handler in (answer, decline, hangup):
        app.add_route(handler, f"/ivr/phone/api/calls/<sid:str>/{handler.__name__}", methods=["POST"],
                      name=f"kefu_demo_carrier_{handler.__name__}")
