"""``kefu run`` starts its embedded Redis again when it dies (the kernel's OOM killer, a stray ``kill``),
on the same port, so the Rasa and action servers (which were given its URL) reconnect by themselves.
It did not: the Keeper watched only the Rasa and action servers, so every customer got the apology until
someone restarted Kefu, and ``kefu run`` said nothing. A real redis-server, killed with SIGKILL."""
from __future__ import annotations

import os
import signal
import time

import redis

from bot import settings as settings_module
from bot.launcher import Keeper
from bot.stack import KefuStack, start_embedded_redis


def test_a_killed_embedded_redis_is_started_again_on_its_port_with_its_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_AOF_REWRITE_SECONDS="0")
    settings = settings_module.from_environment(env)
    stack = KefuStack(settings)
    stack._redis = start_embedded_redis(settings)
    stack.redis_url = stack._redis.url
    try:
        client = redis.Redis.from_url(stack.redis_url, socket_timeout=2)
        client.set("kefu:test:kept", "yes")
        time.sleep(1.5)  # appendfsync everysec: on disk
        keeper = Keeper(stack, [])
        first = stack._redis.process
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        told = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            told += keeper.tick()
            try:
                if client.get("kefu:test:kept") == b"yes":
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.5)
        assert client.get("kefu:test:kept") == b"yes", told
        assert stack._redis.process.pid != first.pid
        assert any("embedded Redis" in line and "SIGKILL" in line for line in told), told
        assert any("embedded Redis started again" in line for line in told), told
    finally:
        client.close()
        stack.stop()
