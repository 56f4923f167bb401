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
