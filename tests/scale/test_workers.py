"""KEFU_WORKERS decides how many Rasa and action-server workers `kefu run` starts."""
from __future__ import annotations

import os

import pytest

from bot.settings import from_environment
from bot.stack import KefuStack
from bot.workers import WorkerConfigError, worker_count


def test_default_is_one_worker_per_core():
    assert worker_count({}) == (os.cpu_count() or 1)


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_bad_value_is_refused_with_its_name(raw):
    with pytest.raises(WorkerConfigError, match="KEFU_WORKERS"):
        worker_count({"KEFU_WORKERS": raw})


def test_the_servers_get_that_many_workers(tmp_path):
    stack = KefuStack(from_environment({"KEFU_DATA_DIR": str(tmp_path), "KEFU_WORKERS": "3"}))
    env = stack.child_environment()
    assert env["SANIC_WORKERS"] == "3" and env["ACTION_SERVER_SANIC_WORKERS"] == "3"


class _Turn:
    """What the middleware sees of a request: method, path and Sanic's HTTP/1 connection state."""

    def __init__(self, method: str, path: str) -> None:
        self.method, self.path = method, path
        self.stream = type("Http", (), {"keep_alive": True})()


@pytest.mark.parametrize("method, path, closes", [
    ("POST", "/webhooks/rest/webhook", True), ("POST", "/webhooks/wechat/webhook", True),
    ("GET", "/webhooks/rest/webhook", False), ("GET", "/chat/", False), ("POST", "/agent/api/login", False)])
async def test_with_several_workers_only_turn_webhooks_close_their_connection(method, path, closes):
    from bot.worker_balance import close_after_turn

    request = _Turn(method, path)
    await close_after_turn(request, None)
    assert request.stream.keep_alive is (not closes)


def test_the_connection_closing_is_on_only_with_several_workers():
    from bot.worker_balance import serves_with_several_workers

    assert serves_with_several_workers({"SANIC_WORKERS": "2"})
    assert not serves_with_several_workers({"SANIC_WORKERS": "1"}) and not serves_with_several_workers({})
