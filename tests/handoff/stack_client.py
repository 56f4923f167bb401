"""Talking to the shared running stack: the REST channel, Rasa's tracker API and the agent desk."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import redis.asyncio as aioredis

from bot.handoff.queue import HandoffQueue
from bot.security.secrets import load_secrets

DESK_HEADERS = {"X-Kefu-Desk": "1"}


async def _no_events(*_args) -> None:
    return None


def say(stack, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
    body = {"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})}
    reply = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
    reply.raise_for_status()
    return reply.json()


def tracker(stack, sender: str) -> dict:
    reply = requests.get(f"{stack.settings.rasa_url}/conversations/{sender}/tracker", timeout=30,
                         params={"token": load_secrets(stack.settings).rasa_token})
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


def offer_callback(stack, contact: dict, repository) -> None:
    """Offer a due callback contact to the agents, as the contact worker does (``offer_to_agents``)."""
    from bot.contacts.offer import offer_to_agents

    async def offer():
        client = aioredis.Redis.from_url(stack.redis_url)
        try:
            assert await offer_to_agents(HandoffQueue(client), contact, repository)
        finally:
            await client.close()

    with ThreadPoolExecutor(1) as thread:  # the test's own event loop may be running
        thread.submit(asyncio.run, offer()).result()


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


class Desk:
    """An agent's desk session on one Rasa process (``base_url``); calls run in a worker thread."""

    def __init__(self, stack, base_url: str | None = None) -> None:
        self.stack = stack
        self.base_url = base_url or stack.settings.rasa_url
        self.session = requests.Session()
        reply = self.session.post(f"{self.base_url}/agent/api/login", headers=DESK_HEADERS, timeout=30,
                                  json={"name": stack.settings.demo_agent_name,
                                        "password": stack.settings.demo_agent_password})
        reply.raise_for_status()
        self.agent_id = reply.json()["agent_id"]

    def call(self, method: str, path: str, **body) -> requests.Response:
        return self.session.request(method, f"{self.base_url}/agent/api/{path}", headers=DESK_HEADERS,
                                    json=body if method != "GET" else None, timeout=60)

    async def __call__(self, method: str, path: str, **body) -> requests.Response:
        return await asyncio.to_thread(self.call, method, path, **body)

    async def claim(self, conversation_id: str) -> dict:
        """Serve ``conversation_id`` next: other waiting requests are cleared out of the way first."""
        await asyncio.to_thread(only_waiting, self.stack, conversation_id, self.agent_id)
        claimed = (await self("POST", "claim")).json()["conversation"]
        assert claimed and claimed["conversation_id"] == conversation_id, claimed
        return claimed


class SecondRasa:
    """Another Rasa server on the same Redis and database: the process an agent's request may land on."""

    def __init__(self, stack, env: dict | None = None) -> None:
        """``env``: settings this process has differently (e.g. no recogniser for its phone line)."""
        from bot.embedded_redis import free_port

        self.stack = stack
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://{stack.settings.host}:{self.port}"

    def __enter__(self) -> "SecondRasa":
        self.start()
        try:
            self.wait_until_up()
        except Exception:
            self.__exit__()
            raise
        return self

    def start(self) -> "SecondRasa":
        """Start the process without waiting for it (it loads the model: 13 s on an idle core): several such
        processes can then load theirs side by side, one core each. Stop it with ``__exit__``."""
        import subprocess
        import sys

        settings = self.stack.settings
        env = {**self.stack.child_environment(), "KEFU_RASA_PORT": str(self.port), **self.env}
        self.log = settings.data_dir / "logs" / f"rasa-second-{self.port}.log"  # one per process
        handle = open(self.log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.rasa_cli", "run", "--model", str(self.stack.model), "--port", str(self.port),
             "--interface", settings.host, "--credentials", str(settings.root / "credentials.yml"),
             "--endpoints", str(settings.root / "endpoints.yml"), "--enable-api"],
            cwd=settings.root, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        return self

    def wait_until_up(self) -> None:
        from bot.stack import wait_until_up

        wait_until_up(f"{self.url}/status", self.process, self.log, 300)

    def __exit__(self, *exc) -> None:
        import os
        import signal
        import subprocess

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
DESK_VIEWPORT = {"width": 1400, "height": 900}


def open_page(browser, url: str, errors: list[str], viewport: dict | None = None, timezone_id: str | None = None):
    """A fresh browser context on ``url`` (page errors collected in ``errors``; the PC's clock set to
    ``timezone_id`` if given); close the context after."""
    context = browser.new_context(viewport=viewport or DESK_VIEWPORT, locale="zh-CN", device_scale_factor=1,
                                  **({"timezone_id": timezone_id} if timezone_id else {}))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return context, page


def sign_in(page, stack, name: str | None = None, password: str | None = None) -> None:
    """Sign in on the desk's login form (the demo agent unless told) and wait for the desk."""
    page.locator("#login-name").fill(name or stack.settings.demo_agent_name)
    page.locator("#login-password").fill(password or stack.settings.demo_agent_password)
    page.locator("#login-submit").click()
    page.locator("#desk").wait_for(state="visible", timeout=10000)


def desk_page(browser, stack, errors: list[str], viewport: dict | None = None, name: str | None = None,
              password: str | None = None, timezone_id: str | None = None):
    """A browser context signed in at the desk (page errors collected in ``errors``); close the context after."""
    context, page = open_page(browser, f"{stack.settings.rasa_url}/agent/", errors, viewport, timezone_id)
    sign_in(page, stack, name, password)
    return context, page


def customer_queues_with_a_tv_fault(page):
    """On the web chat: report a TV fault, get the self-help video, ask for a person and wait for the
    waiting room's options (with a place and a wait when an agent is signed in, else the offer of a
    callback first); returns the message box."""
    page.get_by_text("在线", exact=True).wait_for(timeout=15000)
    composer = page.get_by_placeholder("请输入您的问题")
    composer.fill("电视没信号")
    composer.press("Enter")
    page.locator("video").first.wait_for(timeout=30000)
    composer.fill("转人工")
    composer.press("Enter")
    page.get_by_role("button", name="预约回电").last.wait_for(timeout=30000)
    return composer
