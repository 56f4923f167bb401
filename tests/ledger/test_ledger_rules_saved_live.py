"""content/ledger.yml is an editor's file saved while Kefu runs: a bad save keeps the last good version
at the desk (``bot.snapshot``), as every other editor-owned file does, instead of breaking its pages."""
from __future__ import annotations

import json
import os
import shutil
import types

import pytest

from bot import settings as settings_module
from bot.channels import ledger_desk
from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.sessions import COOKIE
from tests.conftest import PROJECT_ROOT
from tests.handoff.conftest import clock, events, queue, redis, redis_url, rules  # noqa: F401 - a real Redis


@pytest.fixture
def content(kefu_env, tmp_path, monkeypatch):
    """A copy of the shipped content an editor may break."""
    folder = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", folder)
    monkeypatch.setenv("KEFU_CONTENT_DIR", str(folder))
    settings_module.get_settings.cache_clear()
    return folder


async def ledger_page_data(desk: Desk, token: str) -> types.SimpleNamespace:
    app = types.SimpleNamespace(ctx=types.SimpleNamespace(kefu_desk=desk))
    request = types.SimpleNamespace(app=app, cookies={COOKIE: token}, method="GET", path="/agent/api/ledger",
                                    headers={}, args={})
    return await ledger_desk.ledger_items(request)


async def test_a_broken_ledger_file_saved_live_leaves_the_ledger_answering(content, queue, kefu_env):  # noqa: F811
    """Found in review: the ledger and glance routes parsed ledger.yml on every request, so one bad save
    (a typo, a step due before the one before it) made both answer 500 to every agent until fixed."""
    AccountStore(kefu_env.database_url).add("lin", "lin-pass-1", ["tv"], role="supervisor")
    desk = Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    token, _ = await desk.login("lin", "lin-pass-1")
    before = await ledger_page_data(desk, token)
    assert before.status == 200

    ledger_file = content / "ledger.yml"
    ledger_file.write_text(ledger_file.read_text(encoding="utf-8").replace("  default:", "  defualt:"),
                           encoding="utf-8")
    stat = ledger_file.stat()
    os.utime(ledger_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later save

    after = await ledger_page_data(desk, token)
    assert after.status == 200
    assert json.loads(after.body)["step_labels"] == json.loads(before.body)["step_labels"]
