"""Talking to the shared running stack: the REST channel, Rasa's tracker API and the agent desk."""
from __future__ import annotations

import asyncio
import threading
import time

import requests
import redis.asyncio as aioredis

from bot.handoff.queue import HandoffQueue

DESK_HEADERS = {"X-Kefu-Desk": "1"}


async def _no_events(*_args) -> None:
    return None


def say(stack, sender: str, text: str) -> list[dict]:
    reply = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                          json={"sender": sender, "message": text}, timeout=60)
    reply.raise_for_status()
    return reply.json()


def tracker(stack, sender: str) -> dict:
    reply = requests.get(f"{stack.settings.rasa_url}/conversations/{sender}/tracker", timeout=30)
    reply.raise_for_status()
    return reply.json()


def desk_login(stack, name: str | None = None, password: str | None = None) -> requests.Session:
    session = requests.Session()
    reply = session.post(f"{stack.settings.rasa_url}/agent/api/login", headers=DESK_HEADERS, timeout=30,
                         json={"name": name or stack.settings.demo_agent_name,
                               "password": password or stack.settings.demo_agent_password})
    reply.raise_for_status()
    return session


def desk(session: requests.Session, stack, method: str, path: str, **body) -> requests.Response:
    return session.request(method, f"{stack.settings.rasa_url}/agent/api/{path}", headers=DESK_HEADERS,
                           json=body if method != "GET" else None, timeout=30)


def only_waiting(stack, keep: str, agent_id: str) -> None:
    """Other tests' leftovers out of the way: abandon other waiting requests, free the agent."""
    async def run():
        client = aioredis.Redis.from_url(stack.redis_url)
        queue = HandoffQueue(client, recorder=_no_events)
        for skill in queue.rules.skills:
            for conversation_id in await queue.waiting(skill):
                if conversation_id != keep:
                    await queue.abandon(conversation_id, "test_cleanup")
        for conversation_id in await queue.serving(agent_id):
            await queue.close(conversation_id, agent_id, "test_cleanup")
        await client.close()

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join()


def wait_for(check, timeout: float = 20.0, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def desk_page(browser, stack, errors: list[str]):
    """A browser context signed in at the desk (page errors collected in ``errors``); close the context after."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.settings.rasa_url}/agent/")
    page.locator("#login-name").fill(stack.settings.demo_agent_name)
    page.locator("#login-password").fill(stack.settings.demo_agent_password)
    page.locator("#login-submit").click()
    page.locator("#desk").wait_for(state="visible", timeout=10000)
    return context, page
