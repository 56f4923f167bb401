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
