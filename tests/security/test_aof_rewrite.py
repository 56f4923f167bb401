"""Expired conversations leave the disk, not only Redis's memory.

Found by a data-protection audit: a tracker expired from Redis as documented, yet its service
password, ID-card number and codes stayed in the embedded Redis's ``appendonly.aof``, which Redis
compacts on its own only past 64 MB. The embedded Redis now rewrites the file on a schedule
(``KEFU_AOF_REWRITE_SECONDS``); a rewrite writes only the keys that are still alive.
"""
from __future__ import annotations

import time

import redis

from bot.embedded_redis import EmbeddedRedis


def aof_bytes(server: EmbeddedRedis) -> bytes:
    return b"".join(path.read_bytes() for path in server.directory.glob("appendonly*.aof*"))


def test_an_expired_conversation_leaves_the_append_only_file_within_the_rewrite_interval(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", aof_rewrite_s=1).start()
    client = redis.Redis.from_url(server.url)
    try:
        client.rpush("kefu:events:dpo-henry", '{"text":"110101199003074512"}')
        client.pexpire("kefu:events:dpo-henry", 300)
        client.set("kefu:events:still-talking", "kept-13800000001")
        assert b"110101199003074512" in aof_bytes(server), "written to disk first"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            data = aof_bytes(server)
            if b"110101199003074512" not in data and not client.exists("kefu:events:dpo-henry"):
                break
            time.sleep(0.2)
        data = aof_bytes(server)
        assert b"110101199003074512" not in data, "the expired conversation is still on disk"
        assert b"kept-13800000001" in data, "what has not expired is kept"
    finally:
        client.close()
        server.stop()

