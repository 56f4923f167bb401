"""A text whose worker died mid-send is sent again as the same attempt by the next pass — by one worker.

Every ``kefu run`` machine runs a contact worker, and each pass looks for attempts whose lease ran
out. Two workers that find the same dead attempt must not both send it again: a WeChat template
message has no ``client_ref`` that WeChat would recognise, so the customer got the message twice.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from bot.contacts.schedule import Schedule
from bot.contacts.worker import CLAIM_LEASE
from bot.outbound.wechat_template import WeChatTemplateSender
from tests.contacts.test_contact_messages import FixedToken
from tests.sms_loopback import serving

OPENID = "openid-dead-worker"


def text_left_by_a_dead_worker(repository, now: dt.datetime) -> int:
    """A WeChat care message counted and handed to WeChat by a worker that died before hearing back."""
    schedule = Schedule(repository)
    contact_id = schedule.add(dedupe_key="care_suspension:dead-worker", purpose="care", rule="care_suspension",
                              due_at=now, channels=["wechat"], openid=OPENID)
    token = schedule.claim(contact_id, "dead-worker", now, CLAIM_LEASE)
    assert schedule.placed(contact_id, token, channel="wechat", address=f"wechat:{OPENID}", now=now, lease=CLAIM_LEASE)
    return contact_id


async def test_two_workers_finding_a_dead_workers_text_send_it_once(repository, make_worker, clock):
    received: list[dict] = []
    first_arrived, answer_first = asyncio.Event(), asyncio.Event()

    async def template_send(request):
        received.append(await request.json())
        if len(received) == 1:  # the first worker's send is still on its way when the second looks
            first_arrived.set()
            await answer_first.wait()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(received)})

    app = web.Application()
    app.router.add_post("/cgi-bin/message/template/send", template_send)
    contact_id = text_left_by_a_dead_worker(repository, clock.now)
    clock.advance(minutes=3)  # past the dead worker's lease
    async with serving(app) as url:
        def worker():
            return make_worker(messengers={"wechat": WeChatTemplateSender(FixedToken(url), "TPL-CARE")})

        first = asyncio.create_task(worker().run_pass())
        await asyncio.wait_for(first_arrived.wait(), 30)
        await asyncio.wait_for(worker().run_pass(), 30)  # a second machine's pass meanwhile
        answer_first.set()
        await asyncio.wait_for(first, 30)

    assert [m["touser"] for m in received if m["touser"] == OPENID] == [OPENID]
    contact = Schedule(repository).get(contact_id)
    assert (contact["status"], contact["result"], contact["attempts"]) == ("done", "sent", 1)


async def test_a_worker_that_stalled_past_its_claim_does_not_send_the_text_another_worker_sent(
        kefu_env, repository, make_worker, clock, wechat_template_api):
    """A worker claims a due text, then stalls (a database lock, a paused machine) past its claim's lease;
    another worker takes the contact back and sends it. The first, going on, must not send it too."""
    from bot.contacts.rules import load_rules

    sent, url = wechat_template_api
    schedule = Schedule(repository)
    contact_id = schedule.add(dedupe_key="care_suspension:stalled", purpose="care", rule="care_suspension",
                              due_at=clock.now, channels=["wechat"], openid=OPENID)
    stalled = make_worker(messengers={"wechat": WeChatTemplateSender(FixedToken(url), "TPL-CARE")})
    claimed_at = clock.now
    token = schedule.claim(contact_id, stalled.name, claimed_at, CLAIM_LEASE)
    claimed = schedule.get(contact_id)

    clock.advance(minutes=3)  # the claim lapsed: the next worker's pass takes the contact and sends it
    await make_worker(messengers={"wechat": WeChatTemplateSender(FixedToken(url), "TPL-CARE")}).run_pass()
    assert [m["touser"] for m in sent if m["touser"] == OPENID] == [OPENID]

    await stalled.attempt(claimed, token, load_rules(kefu_env.content_dir / "contacts.yml"), claimed_at)
    assert [m["touser"] for m in sent if m["touser"] == OPENID] == [OPENID]
    contact = schedule.get(contact_id)
    assert (contact["status"], contact["result"], contact["attempts"]) == ("done", "sent", 1)
