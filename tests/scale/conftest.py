"""One stack for the scale tests: two Rasa server processes (A and B) on one Redis and database.

It starts with one worker per server so that a test decides which process takes each message.
Editors' files are copies (content/, ivr.yml, flows), so a test may break them on purpose.
"""
from __future__ import annotations

import os
import shutil

import pytest

from bot import settings as settings_module
from tests.conftest import PROJECT_ROOT
from tests.worker_redis import SCALE, spare_url


@pytest.fixture(scope="session")
def two_processes(trained_model, tmp_path_factory):
    from bot.embedded_redis import free_port
    from bot.stack import KefuStack
    from tests.ivr.stack_env import ivr_environment

    data_dir = tmp_path_factory.mktemp("two-processes")
    content = data_dir / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    env = dict(os.environ, KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()), KEFU_WORKERS="1", KEFU_CONTENT_DIR=str(content),
               KEFU_DEMO_DATA="on")  # the demo customers, on CI's PostgreSQL too
    env.update(ivr_environment(data_dir, PROJECT_ROOT, env))
    env.pop("KEFU_DATABASE_URL", None)
    if env.get("REDIS_URL"):  # CI's redis-server: a database of its own, not the shared stack's
        env["REDIS_URL"] = spare_url(env["REDIS_URL"], SCALE)
    from tests.postgres import fresh_database_url, postgres_server_url

    if postgres_server_url():  # CI: on PostgreSQL, as the shared stack
        env["KEFU_DATABASE_URL"] = fresh_database_url(postgres_server_url())
    stack = KefuStack(settings_module.from_environment(env), model=trained_model).start()
    try:
        port_b = free_port()
        stack.start_extra_rasa_server(port_b)
        yield stack, [stack.settings.rasa_url, f"http://{stack.settings.host}:{port_b}"]
    finally:
        stack.stop()
