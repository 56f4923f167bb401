"""Flow scripts run through the flow engine without audio, and fail when the flow changes."""
from __future__ import annotations

import pytest

from bot.ivr.flow_tests import FlowScriptError, run_flow_tests
from bot.settings import get_settings
from tests.editor.conftest import edit


def copy_scripts(project):
    import shutil

    from tests.conftest import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "tests" / "flows", project / "tests" / "flows")


def test_shipped_flow_scripts_pass(project):
    copy_scripts(project)
    passed, report = run_flow_tests(get_settings())
    assert passed, report
    assert report.count("ok  ") == len(list((project / "tests" / "flows").glob("*.yml")))


def test_a_changed_prompt_fails_the_script_that_expects_it(project):
    copy_scripts(project)
    edit(project / "ivr_flows" / "main.yml", "自助服务指引已经发送到您的手机", "指引已发到您手机")
    passed, report = run_flow_tests(get_settings())
    assert not passed
    assert "FAIL main_peak_hour_sms.yml" in report
    assert "step 8 (hear: 已经发送到您的手机)" in report and "指引已发到您手机" in report


def test_a_changed_menu_target_fails_the_node_check(project):
    copy_scripts(project)
    edit(project / "ivr_flows" / "main.yml", "        target: fault_bot", "        target: ask_bot")
    passed, report = run_flow_tests(get_settings())
    assert "main_fault_by_key.yml step 4 (node: fault_bot): the call is at node 'ask_bot'" in report


def test_malformed_script_is_reported(project):
    (project / "tests" / "flows").mkdir()
    (project / "tests" / "flows" / "bad.yml").write_text("flow: main\nsteps:\n  - dance: 1\n", encoding="utf-8")
    with pytest.raises(FlowScriptError, match="unknown step 'dance'"):
        run_flow_tests(get_settings())
