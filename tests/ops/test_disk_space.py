"""A full data folder (SRE tester, finding 3): with ``KEFU_DATA_DIR`` on a full filesystem, ``/health``
stayed ``ok``, no metric showed it, and after a crash every start of the Rasa server died with exit
code -7 (SIGBUS on prometheus-client's mmap'd files) while ``kefu run`` printed stale log lines.

The disk is never filled here: the free-space reading (``shutil.disk_usage``) is replaced, as a full
filesystem would answer it."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import namedtuple

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.observability import disk_space
from tests.ops.test_health_readiness import action_server, health_of, redis_server  # noqa: F401 - fixtures

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def disk_free(monkeypatch):
    """Set the free bytes every reading of the data folder's filesystem reports."""
    free = {"bytes": 10 * 1024 ** 3}
    monkeypatch.setattr(disk_space.shutil, "disk_usage",
                        lambda path: Usage(40 * 1024 ** 2, 40 * 1024 ** 2 - free["bytes"], free["bytes"]))
    return free


async def test_health_is_degraded_when_the_data_folder_is_nearly_full(kefu_env, redis_server, action_server,  # noqa: F811
                                                                     disk_free):
    disk_free["bytes"] = 3 * 1024 ** 2  # below the default KEFU_DATA_DIR_MIN_FREE_MB (500)
    status, body = await health_of(kefu_env, redis_server.url, action_server, database_down=False)
    assert status == 200 and body["status"] == "degraded" and body["ready"] is True, body
    assert body["degraded"] == ["disk"]
    assert str(kefu_env.data_dir) in body["checks"]["disk"]["error"]
    assert "3145728 bytes" in body["checks"]["disk"]["error"]

    disk_free["bytes"] = 2 * 1024 ** 3
    status, body = await health_of(kefu_env, redis_server.url, action_server, database_down=False)
    assert (status, body["status"]) == (200, "ok"), body


async def test_the_data_folders_free_bytes_are_a_metric(kefu_env, disk_free):
    import redis.asyncio as aioredis

    from bot.observability.state import read_state, state_registry

    disk_free["bytes"] = 12345
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    snapshot = await read_state(unreachable, Repository(kefu_env.database_url), data_dir=kefu_env.data_dir)
    await unreachable.close()
    text = generate_latest(state_registry(snapshot)).decode()
    found = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
    assert found["kefu_data_dir_free_bytes"] == 12345


class Stack:
    """The keeper's view of a stack: one server that died of SIGBUS, as the tester's Rasa server did."""

    def __init__(self, settings, log_file):
        self.settings = settings
        log_file.write_text('{"event": "outcomes.write.retry", "message": "error=OperationalError"}\n',
                            encoding="utf-8")  # a line from long before: not why it died
        self.log_starts = {log_file: log_file.stat().st_size}
        dying = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGBUS)"])
        dying.wait()
        self.processes = [dying]
        self.spawned = []

    def child_environment(self):
        return dict(os.environ)

    def _spawn(self, command, env, log_file):
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        self.processes.append(process)
        self.spawned.append(process)
        return process


def test_kefu_run_says_a_server_died_of_sigbus_with_a_full_data_folder_and_waits_for_room(kefu_env, tmp_path,
                                                                                        disk_free):
    from bot.launcher import Keeper

    log_file = tmp_path / "rasa.log"
    stack = Stack(kefu_env, log_file)
    keeper = Keeper(stack, [("Rasa server", log_file)])
    disk_free["bytes"] = 0
    told = "\n".join(keeper.tick(now=100.0))
    assert "Rasa server died of SIGBUS" in told, told
    assert f"the data folder {kefu_env.data_dir} has 0 bytes" in told
    assert "OperationalError" not in told  # the stale line is not offered as the reason
    told = "\n".join(keeper.tick(now=200.0))
    assert "not started again" in told and "0 bytes" in told, told
    assert stack.spawned == []  # it would only die again

    disk_free["bytes"] = 5 * 1024 ** 3
    told = "\n".join(keeper.tick(now=400.0))
    assert "started again" in told and "not started" not in told, told
    assert len(stack.spawned) == 1
    stack.spawned[0].kill()
    stack.spawned[0].wait()


def test_kefu_run_refuses_to_start_on_a_full_data_folder(kefu_env, monkeypatch, disk_free, capsys):
    from bot import settings as settings_module
    from bot.cli import cmd_run

    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    settings_module.get_settings.cache_clear()

    def start_anyway(self, *args, **kwargs):
        raise AssertionError("the stack was started on a full data folder")

    monkeypatch.setattr("bot.stack.KefuStack.start", start_anyway)
    disk_free["bytes"] = 1024
    assert cmd_run(argparse.Namespace()) == 2
    err = capsys.readouterr().err
    assert "Kefu cannot start" in err and f"the data folder {kefu_env.data_dir} has 1024 bytes" in err, err


def serve_metrics_with(folder, tmp_path) -> subprocess.CompletedProcess:
    """A fresh process (prometheus-client chooses its storage at import) counting one turn."""
    from tests.conftest import PROJECT_ROOT

    script = ("from bot.observability.metrics import MESSAGES, exposition\n"
              "MESSAGES.labels('rest').inc()\n"
              "print(exposition()[0].decode())\n")
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder), PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_metrics_folder_that_cannot_be_written_does_not_stop_serving(tmp_path):
    """Finding 6: a read-only metrics/ made the Rasa server die at import (PermissionError on
    counter_*.db). Running as root, no permission blocks a write; a path that is a file stands in."""
    not_a_folder = tmp_path / "metrics"
    not_a_folder.write_text("", encoding="utf-8")
    done = serve_metrics_with(not_a_folder, tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'kefu_messages_total{channel="rest"} 1.0' in done.stdout
    assert "metrics.folder_unusable" in done.stderr and str(not_a_folder) in done.stderr


def test_a_full_metrics_folder_is_not_used(tmp_path, monkeypatch):
    """A full one is not used either: its files would be written through mmap and SIGBUS the server."""
    from bot.observability.metrics import multiprocess_folder_problem

    assert multiprocess_folder_problem(str(tmp_path)) is None
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: Usage(1, 1, 0))
    assert "0 bytes" in multiprocess_folder_problem(str(tmp_path))


def test_metric_files_are_readable_by_their_owner_only(tmp_path):
    """SRE tester, finding 10: files in metrics/ were 0644 while Kefu's files are 0600."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    done = serve_metrics_with(folder, tmp_path)
    assert done.returncode == 0, done.stderr
    made = sorted(folder.glob("*.db"))
    assert made and all(path.stat().st_mode & 0o777 == 0o600 for path in made), \
        [(path.name, oct(path.stat().st_mode & 0o777)) for path in made]
    assert 'kefu_messages_total{channel="rest"} 1.0' in done.stdout  # still read by the scrape
