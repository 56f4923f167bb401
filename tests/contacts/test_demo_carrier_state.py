"""The demo carrier's calls live in Redis: a call taken by one Rasa worker rings, and is answered, on
another (two clients, as two processes have), and of an answer and a decline only the first counts.
Status callbacks go to a loopback receiver and carry Twilio's signature."""
from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from bot.contacts.demo_carrier import DemoCarrier
from bot.contacts.dialer import stream_twiml
from bot.contacts.status import signed_by_carrier
from bot.embedded_redis import free_port

SID, TOKEN = "AC" + "1" * 32, "demo-token"


async def status_receiver(received: list[dict]):
    """A loopback StatusCallback endpoint noting each callback and whether its signature is right."""
    url = f"http://127.0.0.1:{free_port()}/webhooks/ivr/status"

    async def status(request: web.Request) -> web.Response:
        params = dict(await request.post())
        signed = signed_by_carrier(TOKEN, url, params, request.headers.get("X-Twilio-Signature", ""))
        received.append({**params, "signed": signed})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/webhooks/ivr/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(url.split(":")[2].split("/")[0])).start()
    return runner, url


async def test_a_call_taken_by_one_worker_rings_and_is_answered_on_another(redis, redis_url):
    received: list[dict] = []
    runner, status_url = await status_receiver(received)
    other_worker = aioredis.Redis.from_url(redis_url)
    try:
        taking, answering = DemoCarrier(redis, SID, TOKEN), DemoCarrier(other_worker, SID, TOKEN)
        twiml = stream_twiml("ws://127.0.0.1:9/webhooks/ivr/media", {"flow": "followup", "kefuContact": "t0k"})
        form = {"To": ["13900000001"], "From": ["+864008000000"], "Twiml": [twiml], "Timeout": ["30"],
                "StatusCallback": [status_url], "StatusCallbackEvent": ["ringing", "answered", "completed"]}
        call = await taking.create(form)
        assert [c.sid for c in await answering.ringing("13900000001")] == [call.sid]
        assert await answering.ringing("13900000002") == []
        answered = await answering.answer(call.sid)
        assert answered.stream_url.endswith("/webhooks/ivr/media")
        assert answered.parameters == {"flow": "followup", "kefuContact": "t0k"}
        assert not await taking.decline(call.sid)  # too late: it was answered
        assert await taking.ringing("") == []
        assert await taking.hang_up(call.sid)
        assert [r["CallStatus"] for r in received] == ["ringing", "in-progress", "completed"]
        assert all(r["signed"] and r["CallSid"] == call.sid for r in received)
    finally:
        await other_worker.close()
        await runner.cleanup()


async def test_a_declined_call_ends_busy_and_one_not_answered_in_time_no_answer(redis):
    carrier = DemoCarrier(redis, SID, TOKEN)
    twiml = stream_twiml("ws://127.0.0.1:9/webhooks/ivr/media", {"flow": "care"})
    declined = await carrier.create({"To": ["1"], "From": ["2"], "Twiml": [twiml]})
    assert await carrier.decline(declined.sid)
    assert (await carrier.get(declined.sid)).status == "busy"
    missed = await carrier.create({"To": ["1"], "From": ["2"], "Twiml": [twiml], "Timeout": ["5"]})
    await carrier.ring_out(missed.sid, 0)
    assert (await carrier.get(missed.sid)).status == "no-answer"
    assert await carrier.answer(missed.sid) is None
