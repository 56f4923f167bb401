"""The demo carrier: a Twilio-format telephony provider built into the Rasa server, for development.

It takes ``POST …/2010-04-01/Accounts/{sid}/Calls.json`` like Twilio's Call resource (Basic auth, ``To``,
``From``, ``Twiml``, ``Timeout``, ``StatusCallback``/``StatusCallbackEvent``), reads the TwiML's
``<Connect><Stream>`` and "rings" every browser softphone (``/ivr/phone/``) listening for the
number. The softphone that answers opens the stream URL with the ``<Parameter>``s as
``customParameters`` — what Twilio does once the callee picks up — so the flow runs on Kefu's real
media-stream endpoint. The carrier then sends the signed status callbacks Twilio would:
``ringing``, ``in-progress`` on answer, ``completed`` on hang-up, ``busy`` when declined and
``no-answer`` when nobody answers within ``Timeout``.

Every call lives in Redis (a hash per call, a sorted set of ringing calls, a pub/sub channel for
rings named after the deployment's Redis database, ``kefu:democarrier:rings:db<N>``:
``bot.redis_channels``), so the softphone may be connected to any Rasa worker. Each state change is one
compare-and-set script, so of an answer, a decline and the ring timeout racing, exactly one wins
and one status callback is sent. The timeout runs in the worker that took the call; if that worker
dies, the contact worker's own lease still counts the call as not answered.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from xml.etree import ElementTree

import aiohttp

from bot.contacts.status import signature
from bot.redis_channels import deployment_channel

logger = logging.getLogger(__name__)

PREFIX = "kefu:democarrier"
RINGING_SET = f"{PREFIX}:ringing"
RINGS_CHANNEL_BASE = f"{PREFIX}:rings"
CALL_TTL_S = 6 * 3600
MAX_RING_S = 120
FINAL = ("completed", "busy", "no-answer", "failed", "canceled")
EVENT_OF = {"ringing": "ringing", "in-progress": "answered"}  # every final status is the `completed` event

# KEYS: call hash, ringing set; ARGV: expected status, new status, sid, now. 1 when moved.
_MOVE = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'changed_at', ARGV[4])
if ARGV[2] == 'in-progress' then redis.call('HSET', KEYS[1], 'answered_at', ARGV[4]) end
if ARGV[2] ~= 'ringing' then redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
"""


class CarrierRequestError(ValueError):
    """A Calls.json request the carrier refuses: ``code`` is Twilio's error code, the message for the log."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def call_key(sid: str) -> str:
    return f"{PREFIX}:call:{sid}"


@dataclass(frozen=True)
class DemoCall:
    sid: str
    to: str
    from_number: str
    stream_url: str
    parameters: dict
    status: str
    ring_until: float

    def ring(self) -> dict:
        """What a softphone is told about a ringing call (the stream only once it answers)."""
        return {"sid": self.sid, "to": self.to, "from": self.from_number, "status": self.status,
                "ring_until": self.ring_until}


def parse_stream(twiml: str) -> tuple[str, dict]:
    """The ``<Connect><Stream url>`` and its ``<Parameter>``s; CarrierRequestError if there is none."""
    try:
        stream = ElementTree.fromstring(twiml).find("./Connect/Stream")
    except ElementTree.ParseError as exc:
        raise CarrierRequestError(21205, f"Twiml is not valid XML: {exc}") from None
    if stream is None or not stream.get("url"):
        raise CarrierRequestError(21205, "Twiml has no <Connect><Stream url=...>")
    return stream.get("url"), {p.get("name"): p.get("value") or "" for p in stream.findall("Parameter") if p.get("name")}


class DemoCarrier:
    def __init__(self, redis, account_sid: str, auth_token: str) -> None:
        self.redis = redis
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._move = redis.register_script(_MOVE)
        self.rings_channel = deployment_channel(RINGS_CHANNEL_BASE, redis)  # the ring feeds subscribe to it

    # -- the REST side ---------------------------------------------------------------------
    async def create(self, form: dict[str, list[str]]) -> DemoCall:
        """A new ringing call from a Calls.json form (field -> every value given)."""
        first = {k: (v[0] if v else "") for k, v in form.items()}
        if not first.get("To") or not first.get("From") or not first.get("Twiml"):
            raise CarrierRequestError(21201, "To, From and Twiml are required")
        stream_url, parameters = parse_stream(first["Twiml"])
        try:
            timeout = min(MAX_RING_S, max(5, int(first.get("Timeout") or 60)))
        except ValueError:
            raise CarrierRequestError(21210, "Timeout must be a number of seconds") from None
        events = [e for value in form.get("StatusCallbackEvent", []) for e in value.split()] or ["completed"]
        call = DemoCall("CA" + uuid.uuid4().hex, first["To"], first["From"], stream_url, parameters, "ringing",
                        time.time() + timeout)
        key = call_key(call.sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"sid": call.sid, "to": call.to, "from": call.from_number,
                                    "stream_url": stream_url, "parameters": json.dumps(parameters),
                                    "status": "ringing", "created_at": str(time.time()), "ring_until": call.ring_until,
                                    "status_callback": first.get("StatusCallback", ""), "events": " ".join(events)})
            pipe.expire(key, CALL_TTL_S)
            pipe.zadd(RINGING_SET, {call.sid: call.ring_until})
            await pipe.execute()
        await self.redis.publish(self.rings_channel, json.dumps(call.ring()))
        logger.info("democarrier.call.ringing sid=%s timeout=%d", call.sid, timeout)
        await self._callback(call.sid, "ringing")
        return call

    async def ring_out(self, sid: str, after_s: float) -> None:
        """Wait out the ring; unanswered by then, the call ends as ``no-answer``."""
        await asyncio.sleep(after_s)
        await self.end(sid, "ringing", "no-answer")

    # -- the softphone side ----------------------------------------------------------------
    async def _fields(self, sid: str) -> dict[str, str]:
        """The call's hash as text ({} once it has expired or never existed)."""
        return {k.decode(): v.decode() for k, v in (await self.redis.hgetall(call_key(sid))).items()}

    async def get(self, sid: str) -> DemoCall | None:
        data = await self._fields(sid)
        if not data:
            return None
        return DemoCall(data["sid"], data["to"], data["from"], data["stream_url"], json.loads(data["parameters"]),
                        data["status"], float(data["ring_until"]))

    async def ringing(self, number: str) -> list[DemoCall]:
        """Calls ringing now for ``number`` ("" = any number): a softphone that connects mid-ring sees them."""
        sids = await self.redis.zrangebyscore(RINGING_SET, time.time(), "+inf")
        calls = [await self.get(sid.decode()) for sid in sids]
        return [c for c in calls if c is not None and c.status == "ringing" and (not number or c.to == number)]

    async def answer(self, sid: str) -> DemoCall | None:
        """The callee picked up: returns the call with its stream to open, None if it no longer rings."""
        if not await self._moved(sid, "ringing", "in-progress"):
            return None
        await self.redis.publish(self.rings_channel, json.dumps({"sid": sid, "status": "in-progress"}))
        await self._callback(sid, "in-progress")
        return await self.get(sid)

    async def decline(self, sid: str) -> bool:
        return await self.end(sid, "ringing", "busy")

    async def hang_up(self, sid: str) -> bool:
        return await self.end(sid, "in-progress", "completed")

    async def end(self, sid: str, expected: str, status: str) -> bool:
        if not await self._moved(sid, expected, status):
            return False
        await self.redis.publish(self.rings_channel, json.dumps({"sid": sid, "status": status}))
        logger.info("democarrier.call.ended sid=%s status=%s", sid, status)
        await self._callback(sid, status)
        return True

    async def _moved(self, sid: str, expected: str, status: str) -> bool:
        return bool(await self._move(keys=[call_key(sid), RINGING_SET],
                                     args=[expected, status, sid, str(time.time())]))

    # -- status callbacks ------------------------------------------------------------------
    async def _callback(self, sid: str, status: str) -> None:
        """POST the status to the call's StatusCallback if its event was asked for, signed like Twilio."""
        raw = await self._fields(sid)
        url, events = raw.get("status_callback", ""), raw.get("events", "").split()
        if not url or (EVENT_OF.get(status, "completed") not in events):
            return
        params = {"CallSid": sid, "AccountSid": self.account_sid, "From": raw["from"], "To": raw["to"],
                  "CallStatus": status, "Direction": "outbound-api", "ApiVersion": "2010-04-01",
                  "CallbackSource": "call-progress-events"}
        if status == "completed":
            params["CallDuration"] = str(max(0, round(float(raw.get("changed_at") or 0) -
                                                      float(raw.get("answered_at") or 0))))
        headers = {"X-Twilio-Signature": signature(self.auth_token, url, params)}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.post(url, data=params, headers=headers) as answer:
                    logger.info("democarrier.callback sid=%s status=%s http=%s", sid, status, answer.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("democarrier.callback.failed sid=%s status=%s error=%s", sid, status, type(exc).__name__)
