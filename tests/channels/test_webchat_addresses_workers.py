"""The web chat's limits per client address hold across worker processes (README "Channels", web chat).

``test_webchat_addresses`` serves two channels in one process; here two real worker processes, each a
Sanic server with the channel on a real Redis, as ``kefu run`` starts KEFU_WORKERS of them, and the
page's real Socket.IO client (python-socketio). A worker stopped (a restart, a deploy: SIGTERM) gives
its connections back as it stops; one that is killed is ``test_webchat_addresses``'s dead worker.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

from bot.embedded_redis import free_port
from tests.channels.test_webchat_addresses import open_count, pages
from tests.channels.test_webchat_inflight import secrets_in_environment, until  # noqa: F401
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

SERVE = """
import sys
from sanic import Sanic
from bot.channels.webchat import WebChatInput
from bot.settings import get_settings
from tests.channels.test_webchat_inflight import Assistant

port = int(sys.argv[1])
channel = WebChatInput(get_settings(), session_persistence=True)
app = Sanic(f"webchat_worker_{port}")
app.blueprint(channel.blueprint(Assistant()), url_prefix="/webhooks/webchat")
app.run(host="127.0.0.1", port=port, access_log=False, motd=False)
"""


@contextlib.contextmanager
def worker(redis_url: str, **limits: str):  # noqa: F811
    """One worker process serving the web chat; yields its URL once it answers."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, **limits}
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=PROJECT_ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the worker exited while starting"
            assert time.monotonic() < deadline, "the worker did not start"
            try:
                urllib.request.urlopen(f"{url}/webhooks/webchat/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def test_two_workers_share_one_address_s_connections_and_new_sessions(redis_url, redis):  # noqa: F811
    limits = {"KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS": "3", "KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE": "4"}
    with worker(redis_url, **limits) as (_, one), worker(redis_url, **limits) as (stopping, two):
        async with pages() as page:
            on_one, on_two = page(), page()
            assert [await on_one.open(one), await on_two.open(two)] == [None, None]
            assert await page().open(two) is None
            assert await page().open(one) == "too_many_connections", "three open on two workers"
            assert await page().open(two) == "too_many_connections"
            started = [await p.new_session() for p in (on_one, on_two, on_one, on_two, on_one)]
            assert all(started[:4]) and started[4] is None, "four new sessions a minute on both workers together"
            assert on_one.refused.get_nowait() == {"reason": "too_many_sessions"}

            stopping.send_signal(signal.SIGTERM)  # a restart: the worker's connections are given back as it stops

            async def stopped() -> bool:
                return stopping.poll() is not None

            async def given_back() -> bool:
                return await open_count(redis) == 1

            await until(stopped, timeout=30, what="the worker to stop")
            assert await given_back(), "the stopped worker's connections given back"
            assert [await page().open(one) for _ in range(3)] == [None, None, "too_many_connections"]
