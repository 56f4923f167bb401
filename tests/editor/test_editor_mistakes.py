"""`kefu validate` on the mistakes an editor following docs/editing.md makes: each is named once, at its line,
with what to do."""
from __future__ import annotations

from tests.editor.conftest import edit
from tests.editor.test_validate import errors_for


def test_an_nlu_file_that_does_not_parse_is_the_one_error(project):
    """Trying it: a lost `|` after `examples:` in faults.yml came back with four "intent 'fault_tv' has 4 examples;
    at least 40 are needed" errors beside the real one, counting without the file that did not parse."""
    faults = project / "nlu_data" / "nlu" / "faults.yml"
    text = faults.read_text(encoding="utf-8")
    faults.write_text(text.replace("examples: |", 'examples: "|', 1), encoding="utf-8")
    problems = errors_for(project)
    assert len(problems) == 1 and problems[0].startswith("nlu_data/nlu/faults.yml:") and "not valid YAML" in problems[0], problems


def test_an_error_the_desk_shows_from_the_server_is_named_when_missing(project):
    """The desk shows the server's refusal by its code, t(e.code) (agent.js showError): deleting
    `error_not_delivered_quota` (WeChat's quota used up, desk.py's error_not_delivered_<reason>) or
    `error_not_waiting` passed `kefu validate`, and the agent read the code itself."""
    import json

    desk = project / "content" / "ui" / "agent_desk.zh.json"
    strings = json.loads(desk.read_text(encoding="utf-8"))
    del strings["error_not_delivered_quota"], strings["error_not_waiting"]
    desk.write_text(json.dumps(strings, ensure_ascii=False, indent=2), encoding="utf-8")
    problems = [p for p in errors_for(project) if p.startswith("content/ui/agent_desk.zh.json")]
    assert any("'error_not_delivered_quota' is missing" in p and "bot/handoff/desk.py" in p for p in problems), problems
    assert any("'error_not_waiting' is missing" in p for p in problems), problems
    assert len(problems) == 2, problems
