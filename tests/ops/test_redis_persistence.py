"""`kefu run` checks that an external Redis persists its data (deployer's finding 2): with
`--save "" --appendonly no` a Redis restart wiped every conversation, the handoff queue and all desk
sessions, while the README promised they survive. Real Redis servers of the test's own (the
embedded one, reconfigured), never a shared one."""
from __future__ import annotations

import socket

import pytest
import redis

from bot import cli
from bot import settings as settings_module
from bot.embedded_redis import EmbeddedRedis, free_port
from bot.redis_persistence import check_external_redis, inspect, verdict
from bot.settings import from_environment


@pytest.fixture
def own_redis(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()  # started with an append-only file
    yield server
    server.stop()


def volatile(url: str) -> None:
    client = redis.Redis.from_url(url)
    client.config_set("appendonly", "no")
    client.config_set("save", "")
    client.close()


def test_a_redis_without_persistence_is_refused_unless_accepted(own_redis):
    assert inspect(redis.Redis.from_url(own_redis.url)).kind == "aof"
    assert not check_external_redis(from_environment({"REDIS_URL": own_redis.url})).refuse
    volatile(own_redis.url)
    refused = check_external_redis(from_environment({"REDIS_URL": own_redis.url}))
    assert refused.refuse and "KEFU_ALLOW_VOLATILE_REDIS" in refused.messages[0]
    accepted = check_external_redis(from_environment({"REDIS_URL": own_redis.url,
                                                      "KEFU_ALLOW_VOLATILE_REDIS": "on"}))
    assert not accepted.refuse and accepted.messages[0].startswith("WARNING")


def test_kefu_run_does_not_start_on_a_volatile_redis(own_redis, tmp_path, monkeypatch, capsys):
    volatile(own_redis.url)
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    settings_module.get_settings.cache_clear()
    try:
        assert cli.cmd_run(None) == 2
    finally:
        settings_module.get_settings.cache_clear()
    assert "keeps nothing across a restart" in capsys.readouterr().err
    assert not (tmp_path / "var" / "kefu.sqlite3").exists()  # refused before preparing anything


def test_snapshots_only_and_eviction_are_warned_about(own_redis):
    client = redis.Redis.from_url(own_redis.url)
    client.config_set("appendonly", "no")
    client.config_set("save", "900 1")
    client.config_set("maxmemory-policy", "allkeys-lru")
    found = inspect(client)
    client.close()
    assert found.kind == "snapshots"
    messages = verdict(found, "r", allow_volatile=False).messages
    assert len(messages) == 2 and "snapshot" in messages[0] and "noeviction" in messages[1]


def test_a_redis_that_refuses_config_or_does_not_answer_is_reported_unchecked():
    class ManagedRedis:  # CONFIG disabled, as on many managed services
        def config_get(self, name):
            raise redis.ResponseError("unknown command 'CONFIG'")

    found = inspect(ManagedRedis())
    assert found.kind == "unknown"
    checked = verdict(found, "r", allow_volatile=False)
    assert not checked.refuse and "could not check" in checked.messages[0]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    gone = check_external_redis(from_environment({"REDIS_URL": f"redis://127.0.0.1:{port}/0"}))
    assert not gone.refuse and "could not check" in gone.messages[0]
