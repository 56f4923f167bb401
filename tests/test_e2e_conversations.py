"""End-to-end conversation tests (every tests/test_*.yml) with Rasa's own runner, against the real action server."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from bot.editor.quality import conversation_stories
from tests.conftest import PROJECT_ROOT
from tests.trainings import rasa_env

pytestmark = pytest.mark.slow


def test_conversations_have_no_prediction_errors(running_kefu, tmp_path):
    result = subprocess.run(
        [
            sys.executable, "-m", "bot.rasa_cli", "test", "core",
            "--model", str(running_kefu.model),
            "--stories", str(conversation_stories(PROJECT_ROOT, tmp_path / "stories")),
            "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
            "--fail-on-prediction-errors",
            "--out", str(tmp_path),
        ],
        cwd=PROJECT_ROOT, env=running_kefu.child_environment(), capture_output=True, text=True,
    )
    failed = tmp_path / "failed_test_stories.yml"
    report = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, report or result.stdout[-3000:] + result.stderr[-3000:]


# Conversation files whose messages the NLU reads too (``rasa test core --e2e``): the test above takes each
# message's intent and entities as written, so a message the served model misreads passes there.
READ_BY_THE_NLU = ("test_read_as_meant.yml",)


def test_these_messages_are_read_as_written(trained_model, tmp_path):
    stories = tmp_path / "stories"
    stories.mkdir()
    for name in READ_BY_THE_NLU:
        shutil.copy(PROJECT_ROOT / "tests" / name, stories / name)
    # Without --fail-on-prediction-errors: every story is read, and each misread message is in the report.
    result = subprocess.run(
        [sys.executable, "-m", "bot.rasa_cli", "test", "core", "--e2e", "--model", str(trained_model),
         "--stories", str(stories), "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, env=rasa_env(), capture_output=True, text=True,
    )
    failed = tmp_path / "failed_test_stories.yml"
    assert result.returncode == 0 and failed.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    report = failed.read_text(encoding="utf-8")
    assert "stories:" not in report, report
