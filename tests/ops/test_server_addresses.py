"""Behind nginx on other machines, ``KEFU_HOST`` is this machine's address (deploy/nginx.conf's upstream
``10.0.0.11:5005``) while the action server stays on ``KEFU_ACTION_HOST``, 127.0.0.1 by default (README
"Locked servers"). Rasa was told to call the action server at ``http://KEFU_HOST:5055/webhook`` and
``kefu run`` waited for it there: nothing listens at that address, so the start failed after 300 s
("did not come up"), and had it not, every action would have failed. A real action server, started
with the stack's own command and environment, must answer at the address Rasa is given."""
from __future__ import annotations

import os
from urllib.parse import urlparse

from bot import settings as settings_module
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.security.launch import action_server_command
from bot.stack import KefuStack, wait_until_up


def test_rasa_reaches_the_action_server_when_kefu_host_is_the_machines_address(tmp_path):
    env = dict(os.environ)
    for name in ("KEFU_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "KEFU_ACTION_HOST"):
        env.pop(name, None)
    # 127.0.0.2: an address of this machine other than the action server's 127.0.0.1 (all of 127/8 is local)
    env.update(KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_HOST="127.0.0.2", KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()), KEFU_WORKERS="1")
    settings = settings_module.from_environment(env)
    (tmp_path / "var").mkdir(mode=0o700)
    Repository(settings.database_url).create_schema()
    stack = KefuStack(settings, redis_url=env["REDIS_URL"])
    stack.reset_metrics()
    child = stack.child_environment()
    actions = stack._spawn(action_server_command(settings), child, tmp_path / "actions.log")
    try:
        told = urlparse(child["KEFU_ACTION_URL"])  # what endpoints.yml gives Rasa
        assert told.port == settings.action_port
        wait_until_up(f"http://{told.netloc}/health", actions, tmp_path / "actions.log", timeout=90)
    finally:
        stack.stop()
