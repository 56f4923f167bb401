"""A worker killed while the gateway took its text leaves the attempt counted and unfinished; the next
pass sends it again as the same attempt (the same ``client_ref``, which the gateway sends once), not
as a new text half an hour later that the customer would get twice."""
from __future__ import annotations

import asyncio

from aiohttp import web

from bot.contacts.schedule import Schedule
from bot.outbound.sms import SmsGateway
from tests.sms_loopback import serving

OWING_PHONE = "13800000002"  # the demo customer with arrears (content/demo/seed.yml): an SMS reminder


async def test_a_text_whose_worker_died_mid_send_reaches_the_gateway_as_one_message(repository, make_worker, clock):
    received: list[dict] = []
    arrived = asyncio.Event()
    answering = asyncio.Event()

    async def send(request):
        received.append(await request.json())
        arrived.set()
        await answering.wait()  # the first worker dies before it hears this answer
        return web.json_response({"code": 0, "message_id": received[-1]["client_ref"]})

    app = web.Application()
    app.router.add_post("/v1/sms/send", send)
    async with serving(app) as url:
        dying = asyncio.create_task(make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")}).run_pass())
        await asyncio.wait_for(arrived.wait(), 30)
        dying.cancel()  # killed mid-send: the text is at the gateway, the schedule never heard
        await asyncio.gather(dying, return_exceptions=True)
        answering.set()

        restarted = make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")})
        for minutes in (3, 40, 180):  # past the claim's lease, then past every retry delay that day
            clock.advance(minutes=minutes)
            await restarted.run_pass()

    refs = {m["client_ref"] for m in received if m["to"] == f"+86{OWING_PHONE}"}
    assert len(refs) == 1, refs
    reminder = next(c for c in Schedule(repository).listing(purpose="arrears") if c["phone"] == OWING_PHONE)
    assert (reminder["status"], reminder["result"], reminder["attempts"]) == ("done", "sent", 1)
