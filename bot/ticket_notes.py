"""A ticket history note: written as its kind and values, read in the agents' words.

Every writer of a ``ticket_history`` note stores ``history_note(kind, **values)``: a JSON object with the
kind (one of ``HISTORY_FIELDS`` in bot/labels.py) and its values (the channel's code, the customer's words,
the agent...), never a sentence. Every reader (the desk's ledger, the customer's data export) shows
``history_line(note)``: the kind's ``ticket_history`` line in content/labels.yml, filled in, the channel
by its name in content/handoff.yml. The values go in as text, never as markup: the desk puts the line in
with ``textContent``.

No column was added and no row rewritten: a note written before (plain text, such as
"reported again (webchat): …") is not such an object and reads as it was written.
"""
from __future__ import annotations

import json
import re

from bot.labels import HISTORY_FIELDS, labels


def history_note(kind: str, **values: object) -> str:
    """The note to store for an entry of ``kind`` with ``values`` (only those its line may use)."""
    allowed = HISTORY_FIELDS[kind]
    if set(values) - allowed:
        raise ValueError(f"ticket history '{kind}' takes {sorted(allowed)}, not {sorted(set(values) - allowed)}")
    kept = {name: "" if value is None else str(value) for name, value in values.items()}
    return json.dumps({"kind": kind, **kept}, ensure_ascii=False)


def history_entry(note: str | None) -> dict[str, str] | None:
    """The kind and values of a note written by ``history_note``; None for a plain-text note."""
    if not note or not note.startswith("{"):
        return None
    try:
        entry = json.loads(note)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("kind") not in HISTORY_FIELDS:
        return None
    if not all(isinstance(value, str) for value in entry.values()):
        return None
    return entry


def history_line(note: str | None) -> str:
    """The note as agents read it: its ``ticket_history`` line filled in, or a plain-text note as it is."""
    entry = history_entry(note)
    if entry is None:
        return note or ""
    kind = entry["kind"]
    values = {name: entry.get(name, "") for name in HISTORY_FIELDS[kind]}
    if values.get("channel"):
        from bot.handoff.rules import load_rules

        values["channel"] = load_rules().channel_names.get(values["channel"], values["channel"])
    return filled(labels()["ticket_history"][kind], values)


def filled(template: str, values: dict[str, str]) -> str:
    """``template`` with ``values``; an empty value takes its brackets ("（{ref}）") with it, and one
    that ends the line the "：" before it. The values themselves are kept as they are."""
    for name in [name for name, value in values.items() if not value]:
        template = re.sub(r"[（(]\{%s\}[）)]" % name, "", template)
        if template.rstrip().endswith("{%s}" % name):
            template = template.rstrip()[:-len(name) - 2].rstrip("：:，, ")
    return template.format(**values).strip()
