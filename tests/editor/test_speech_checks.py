"""`kefu validate` warns, at the phrase's line, about menu phrases the speech model cannot say."""
from __future__ import annotations

import pytest

from bot.editor.validate import kefu_problems, report
from bot.settings import get_settings
from tests.editor.conftest import edit

# What the shared test model cannot recognise in the shipped main flow (issue #17).
UNSAYABLE = {"语音留言", "回拨", "客服", "短信", "自助", "等待"}


def phrase_warnings(project) -> list[str]:
    return [line for line in report(kefu_problems(get_settings()), project).splitlines()
            if "the speech model does not know" in line]


def test_shipped_flow_phrases_the_test_model_cannot_recognise(project, vosk_model_dir):
    warnings = phrase_warnings(project)
    in_main = {w.split("phrase '")[1].split("'")[0] for w in warnings if w.startswith("ivr_flows/main.yml:")}
    assert in_main == UNSAYABLE
    for warning in warnings:  # the outbound flows' survey answers (五分, 非常满意…) are warned at their lines too
        path, line, rest = warning.split(":", 2)
        assert path.startswith("ivr_flows/") and rest.startswith(" warning: node '")
        phrase = rest.split("phrase '")[1].split("'")[0]
        assert phrase in (project / path).read_text(encoding="utf-8").splitlines()[int(line) - 1], warning


def test_a_new_phrase_is_checked_where_the_editor_wrote_it(project, vosk_model_dir):
    flow = project / "ivr_flows" / "main.yml"
    edit(flow, "phrases: [话费, 余额, 账单, 套餐, 查询]", "phrases: [话费, 余额, 账单, 套餐, 查询, 发票]")
    line = flow.read_text(encoding="utf-8").splitlines().index("        phrases: [话费, 余额, 账单, 套餐, 查询, 发票]") + 1
    assert f"ivr_flows/main.yml:{line}: warning: node 'main_menu': phrase '发票' has words the speech model " \
           "does not know; callers saying it will not be understood" in phrase_warnings(project)


def test_no_model_configured_means_nothing_to_check(project, monkeypatch):
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    get_settings.cache_clear()
    assert phrase_warnings(project) == []


@pytest.fixture
def vosk_model_dir():
    from voice.model_layout import validate_model_dir

    return validate_model_dir(get_settings().vosk_model_path)
