"""`kefu contacts run` beside `kefu run` on the embedded Redis (no REDIS_URL): its worker reaches the
agents' queue the running Kefu recorded, so a booked callback it claims joins the queue at its time
instead of waiting an hour for a worker that has agents."""
from __future__ import annotations

import asyncio
import threading

from bot import settings as settings_module
from bot.contacts.callbacks import schedule_callback
from bot.contacts.commands import command_redis_url, run_worker
from bot.contacts.schedule import Schedule
from bot.handoff.queue import HandoffQueue
from bot.serving import record_serving


async def test_a_worker_started_alone_offers_callbacks_to_the_running_kefus_agents(kefu_env, repository, redis,
                                                                                 redis_url, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)  # the default install: kefu run's embedded Redis
    settings_module.get_settings.cache_clear()
    settings = settings_module.get_settings()
    record_serving(settings, redis_url=redis_url)  # what the running kefu run wrote
    contact_id = schedule_callback(repository, ticket_id="TK000777", phone="13800000001", customer_id=None,
                                   conversation_id="wx-callback-1", channel="webchat", skill="general", priority=0,
                                   context={})
    queue = HandoffQueue(redis)
    stop = threading.Event()
    worker = asyncio.create_task(run_worker(settings, stop, 3600, command_redis_url(settings)))
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while (await queue.entry("wx-callback-1")) is None and not worker.done():
            assert asyncio.get_running_loop().time() < deadline, Schedule(repository).get(contact_id)
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    assert (await queue.entry("wx-callback-1"))["state"] == "waiting"
    assert Schedule(repository).get(contact_id)["status"] == "offered"
    settings_module.get_settings.cache_clear()
