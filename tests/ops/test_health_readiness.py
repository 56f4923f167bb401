"""``/health`` as a load balancer reads it: a shared dependency down is *degraded*, not *unready*.

Found by an ops tester: with PostgreSQL stopped for 30 s, ``/health`` answered 503 on every instance
at once, so a load balancer following the README would have taken the whole site out, while chat,
self-help and handoff kept working. Real embedded Redis, a real HTTP action-server stand-in, and a
database address where nothing listens (as PostgreSQL stopped).
"""
from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from bot.channels.ops import OpsInput
from bot.embedded_redis import EmbeddedRedis, free_port


class ActionHealth(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, *_):
        pass


@pytest.fixture
def action_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ActionHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def redis_server(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield server
    server.stop()


async def health_of(kefu_env, redis_url: str, action_port: int, database_down: bool) -> tuple[int, dict]:
    settings = dataclasses.replace(kefu_env, action_port=action_port,
                                   redis=dataclasses.replace(kefu_env.redis, url=redis_url))
    channel = OpsInput(settings)
    channel.warmed = True  # a worker past its first parse (bot.warm_up; tests/ops/test_warm_up.py)
    await channel.open_clients(None, None)
    try:
        if database_down:
            channel.repository.engine = sa.create_engine(f"postgresql://kefu:x@127.0.0.1:{free_port()}/kefu")
        answer = await channel.health(None)
    finally:
        await channel.close_clients(None, None)
    return answer.status, json.loads(answer.body)


async def test_database_down_leaves_the_instance_ready_and_says_degraded(kefu_env, redis_server, action_server):
    status, body = await health_of(kefu_env, redis_server.url, action_server, database_down=True)
    assert status == 200, body
    assert body["status"] == "degraded" and body["ready"] is True and body["degraded"] == ["database"]
    assert body["checks"]["database"]["ok"] is False and body["checks"]["redis"]["ok"] is True


async def test_all_up_is_ok(kefu_env, redis_server, action_server):
    status, body = await health_of(kefu_env, redis_server.url, action_server, database_down=False)
    assert (status, body["status"], body["ready"]) == (200, "ok", True) and "degraded" not in body


async def test_this_instances_action_server_down_makes_it_unready(kefu_env, redis_server):
    status, body = await health_of(kefu_env, redis_server.url, free_port(), database_down=False)
    assert status == 503 and body["status"] == "unavailable" and body["ready"] is False
    assert body["checks"]["action_server"]["ok"] is False


async def test_a_redis_that_answers_but_refuses_every_write_is_not_ok(kefu_env, redis_server, action_server):
    """A Redis full to its ``maxmemory`` (noeviction, as a session store should be) still answers PING, so
    ``/health`` said ``ok`` while every turn failed to store its conversation and customers got the Redis
    apology. The same for a Redis that cannot save (MISCONF) or became a read-only replica in a failover."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # what a full Redis refuses: any write
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            client.set("a-turn", "its tracker")  # a customer's turn, as Rasa's tracker store writes it
        status, body = await health_of(kefu_env, redis_server.url, action_server, database_down=False)
    finally:
        client.config_set("maxmemory", "0")
        client.close()
    assert status == 200 and body["status"] == "degraded" and body["degraded"] == ["redis"], body
    assert body["checks"]["redis"] == {"ok": False, "seconds": body["checks"]["redis"]["seconds"],
                                       "error": "OutOfMemoryError"}
