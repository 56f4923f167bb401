"""Editor files read by libyaml give what PyYAML's own parser gives: values, and the message for a mistake."""
from __future__ import annotations

import pytest
import yaml

from bot.yaml_load import safe_load
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("path", sorted(p.relative_to(PROJECT_ROOT) for folder in ("content", "ivr_flows", "domain")
                                        for p in (PROJECT_ROOT / folder).rglob("*.yml")), ids=str)
def test_every_shipped_editor_file_reads_as_the_pure_python_parser_reads_it(path):
    text = (PROJECT_ROOT / path).read_text(encoding="utf-8")
    assert safe_load(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["a:\n\tb: 1\n", 'a: "unclosed\nb: 2\n', "a: [1, 2\n", "- a\nb: 1\n"])
def test_a_mistake_is_worded_as_editors_have_always_been_shown_it(text):
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as got:
        safe_load(text)
    assert str(got.value) == str(expected.value)  # with the line quoted and the character named
