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
    assert "keeps nothing across a restart" in run_refused(monkeypatch, tmp_path, capsys, own_redis.url)


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


def test_a_redis_that_refuses_config_is_reported_unchecked():
    class ManagedRedis:  # CONFIG disabled, as on many managed services
        def config_get(self, name):
            raise redis.ResponseError("unknown command 'CONFIG'")

    found = inspect(ManagedRedis())
    assert found.kind == "unknown"
    checked = verdict(found, "r", allow_volatile=False)
    assert not checked.refuse and "could not check" in checked.messages[0]


def unused_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return unused.getsockname()[1]


def run_refused(monkeypatch, tmp_path, capsys, redis_url: str) -> str:
    """``kefu run`` with ``redis_url``: it must exit 2 before preparing anything; what it printed."""
    from bot.stack import KefuStack

    def start(*_args, **_kwargs):  # fail at once rather than bring up a stack that can only apologise
        raise AssertionError("kefu run went on to start the servers")

    monkeypatch.setattr(KefuStack, "start", start)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    settings_module.get_settings.cache_clear()
    try:
        assert cli.cmd_run(None) == 2
    finally:
        settings_module.get_settings.cache_clear()
    assert not (tmp_path / "var" / "kefu.sqlite3").exists()  # refused before preparing anything
    printed = capsys.readouterr()
    assert "s3cret" not in printed.err + printed.out  # never the URL's password
    return printed.err


def test_kefu_run_refuses_an_unreachable_redis_naming_the_setting(tmp_path, monkeypatch, capsys):
    """Found by an on-call test: a mistyped REDIS_URL only printed "could not check the persistence",
    then Kefu started everything and could answer nothing but apologies."""
    port = unused_port()
    said = run_refused(monkeypatch, tmp_path, capsys, f"redis://:s3cret@127.0.0.1:{port}/0")
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1 and "REDIS_URL" in lines[0] and f"127.0.0.1:{port} is unreachable" in lines[0], said


def test_kefu_run_refuses_a_redis_that_refuses_the_password(own_redis, tmp_path, monkeypatch, capsys):
    client = redis.Redis.from_url(own_redis.url)
    client.config_set("requirepass", "right-one")
    client.close()
    wrong = own_redis.url.replace("redis://", "redis://:s3cret@")
    said = run_refused(monkeypatch, tmp_path, capsys, wrong)
    assert "REDIS_URL" in said and "refused the password" in said, said


def test_a_read_only_replica_is_refused(own_redis, tmp_path):
    """REDIS_URL naming a replica (a Sentinel setup's other node, by mistake) passed the check, persistence
    and all, and Kefu started: every write (each turn stores its tracker, takes its lock) then failed with
    READONLY and every customer got the apology. A real replica of the test's own Redis."""
    replica = EmbeddedRedis(tmp_path / "replica").start()
    try:
        client = redis.Redis.from_url(replica.url)
        client.replicaof("127.0.0.1", own_redis.port)
        client.close()
        found = check_external_redis(from_environment({"REDIS_URL": replica.url}))
        assert found.refuse, found.messages
        assert "replica" in found.messages[0] and f"127.0.0.1:{own_redis.port}" in found.messages[0]
        assert not check_external_redis(from_environment({"REDIS_URL": own_redis.url})).refuse  # its primary
    finally:
        client = redis.Redis.from_url(replica.url)
        client.replicaof("no", "one")  # a replica still syncing takes longer than stop() waits to shut down
        client.close()
        replica.stop()
