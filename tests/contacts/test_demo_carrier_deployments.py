"""A demo call rings only the softphones of the deployment that placed it.

Two Kefu deployments (production and staging, both with the demo carrier and the demo customers) on one Redis
server, each on its own database: Redis's Pub/Sub channels are the server's, not a database's, so a softphone
page of one rang for the other's calls to the same demo number, and answering rang nothing there (the call is
the other's). Through the real ring feed (``/ivr/phone/api/rings``) of each deployment's Sanic server."""
from __future__ import annotations

import json

import aiohttp
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from bot.channels import demo_carrier_routes
from bot.contacts.demo_carrier import DemoCarrier
from bot.contacts.dialer import stream_twiml
from tests.handoff.conftest import neighbour_url, redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.sanic_served import served_app

Sanic.test_mode = True  # several apps in the process

SID, TOKEN = "AC" + "1" * 32, "demo-token"
NUMBER = "13900000001"  # the same demo customer at both deployments


@pytest.fixture
async def neighbour(neighbour_url):  # noqa: F811
    client = aioredis.Redis.from_url(neighbour_url)
    yield client
    await client.close()


def ring_feed_app(name: str, carrier: DemoCarrier) -> Sanic:
    app = Sanic(name)
    app.ctx.kefu_demo_carrier, app.ctx.kefu_demo_ring_timers = carrier, set()
    app.add_route(demo_carrier_routes.rings, "/ivr/phone/api/rings", methods=["GET"])
    return app


async def next_ring(feed) -> str:
    """The sid of the next call the softphone is told rings."""
    event = ""
    while True:
        line = (await feed.content.readline()).decode()
        assert line, "the feed ended"
        if line.startswith("event: "):
            event = line[len("event: "):].strip()
        elif line.startswith("data: ") and event == "ring":
            return json.loads(line[len("data: "):])["sid"]


async def place_call(carrier: DemoCarrier) -> str:
    twiml = stream_twiml("ws://127.0.0.1:9/webhooks/ivr/media", {"flow": "followup"})
    return (await carrier.create({"To": [NUMBER], "From": ["+864008000000"], "Twiml": [twiml],
                                  "Timeout": ["30"]})).sid


async def test_a_softphone_rings_only_for_its_own_deployments_calls(redis, neighbour):  # noqa: F811
    production, staging = DemoCarrier(redis, SID, TOKEN), DemoCarrier(neighbour, SID, TOKEN)
    async with served_app(ring_feed_app("rings_production", production)) as production_url, \
            served_app(ring_feed_app("rings_staging", staging)) as staging_url, \
            aiohttp.ClientSession() as browser, \
            browser.get(f"{production_url}/ivr/phone/api/rings?number={NUMBER}") as at_production, \
            browser.get(f"{staging_url}/ivr/phone/api/rings?number={NUMBER}") as at_staging:
        for feed in (at_production, at_staging):  # listening (subscribed before the feed answers)
            assert feed.status == 200 and (await feed.content.readline()).startswith(b": listening")
        production_call = await place_call(production)
        assert await next_ring(at_production) == production_call
        # Then each deployment places a call in turn: a ring of the other's came first, had it come.
        staging_call = await place_call(staging)
        assert await next_ring(at_staging) == staging_call, "staging's softphone rang for production's call"
        production_again = await place_call(production)
        assert await next_ring(at_production) == production_again, "production's softphone rang for staging's call"
