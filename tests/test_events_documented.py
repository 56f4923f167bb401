"""Every outcome event kind is in README's table for BI, and the table names no kind the code lacks.

Found by an integrator: the events are BI's only interface (table ``conversation_events``), and their
kinds and fields were a comment block in ``bot/outcomes/events.py``, named nowhere in the README.
"""
from __future__ import annotations

import re

from bot.outcomes.events import EVENT_KINDS
from tests.conftest import PROJECT_ROOT


def events_table() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Outcome events for BI")
    return readme[start:readme.index("\n## ", start)]


def test_every_event_kind_is_documented_for_bi():
    documented = re.findall(r"^\| `([a-z_]+)` \|", events_table(), flags=re.MULTILINE)
    assert len(documented) == len(set(documented)), "a kind is documented twice"
    assert sorted(EVENT_KINDS - set(documented)) == []  # kinds BI cannot know about
    assert sorted(set(documented) - EVENT_KINDS) == []  # documented kinds the code does not record
