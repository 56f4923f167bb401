"""content/labels.yml: the words Kefu fills into sentences, and the ticket summaries agents read.

Read by the actions (status names, line templates) and by the waiting room, the phone and the
voice-message pipeline, which write tickets too: the summary line on the agent desk and in the
ledger is in the agents' language and the editors' wording, never a Python string. The machine
reads a ticket's ``kind`` and ``details``, never its summary.
"""
from __future__ import annotations

from pathlib import Path
from string import Formatter

import yaml

# The summary lines every ticket writer needs, with the values each may use.
SUMMARY_FIELDS: dict[str, frozenset[str]] = {
    "fault": frozenset({"fault", "code", "selfhelp"}),
    "visit": frozenset({"said"}),
    "visit_change": frozenset({"said", "channel"}),
    "service_change": frozenset({"service", "said"}),
    "complaint": frozenset({"said"}),
    "callback": frozenset({"said"}),
    "left_message": frozenset({"said"}),
    "phone_callback": frozenset({"skill"}),
    "voice_message": frozenset({"said"}),
    # How an agent closed, when they wrote no note of their own (bot/handoff/tickets.py).
    "agent_resolved": frozenset(),
    "agent_ticket": frozenset(),
    "agent_callback": frozenset(),
    # A note on an open complaint: the follow-up of this ticket is its handler's (bot/contacts/complaints.py).
    "followup_held": frozenset({"ticket_id"}),
}


def parse_labels(path: Path) -> dict:
    labels = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(labels, dict):
        raise ValueError(f"{path}: expected a mapping of labels")
    summaries = labels.get("ticket_summary")
    if not isinstance(summaries, dict):
        raise ValueError(f"{path}: 'ticket_summary' must map each ticket summary to its wording")
    for key, fields in SUMMARY_FIELDS.items():
        template = summaries.get(key)
        if not isinstance(template, str) or not template.strip():
            raise ValueError(f"{path}: ticket_summary has no '{key}' line")
        try:
            used = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise ValueError(f"{path}: ticket_summary '{key}': {exc}") from exc
        if used - fields:
            raise ValueError(f"{path}: ticket_summary '{key}' uses {sorted(used - fields)}; "
                             f"it may use {sorted(fields)}")
    return labels


def labels() -> dict:
    """The editors' label file: its last good version."""
    from bot.settings import get_settings
    from bot.snapshot import editor_file

    return editor_file(get_settings().content_dir / "labels.yml", parse_labels, (ValueError, yaml.YAMLError)).get()


def ticket_summary(key: str, **values: object) -> str:
    """A ticket's summary line in the editors' words (``ticket_summary`` in content/labels.yml)."""
    line = labels()["ticket_summary"][key].format(**{name: values.get(name, "") for name in SUMMARY_FIELDS[key]})
    return line.strip().rstrip("：:，, ")  # a button's request has no words of its own


def labels_problems(settings, domain) -> list:
    """`kefu validate`: the label file parses and every ticket summary line is there."""
    from bot.editor.problems import Problem

    path = settings.content_dir / "labels.yml"
    try:
        parse_labels(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [Problem(str(path), None, str(exc).removeprefix(f"{path}: "))]
    return []
