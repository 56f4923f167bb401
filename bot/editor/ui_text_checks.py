"""The pages' texts (``content/ui/*.json``) that Kefu fills in: each fills with what it is given.

A text the browser fills (``{name}`` in a page's script) or Kefu fills (``str.format``) with full-width
braces (｛limit｝, a Chinese input method's) is shown as written. A text the server fills that does not
fill failed what it was for: the chat's ``notice_cut`` (a REST or WeChat customer's long message),
the report's labels (``kefu report``). Each is named at its line."""
from __future__ import annotations

import json
from pathlib import Path

from bot.analytics.config import label_mistakes
from bot.channels.intake import MAX_MESSAGE_CHARS, notice_mistake
from bot.contacts.rules import wide_placeholder
from bot.editor.problems import Problem


def ui_text_problems(settings, domain) -> list[Problem]:
    folder = settings.content_dir / "ui"
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        strings = json.loads(text)  # one that does not parse is named by the syntax check, which stops before
        if not isinstance(strings, dict):
            continue
        mistakes = [(key, f"'{key}' writes {wide.group(0)} with full-width braces, which would be shown as "
                          f"written: write {{{wide.group(1)}}}")
                    for key, value in strings.items()
                    if isinstance(value, str) and (wide := wide_placeholder(value)) is not None]
        if path.name == "report.zh.json":
            mistakes += [m for m in label_mistakes(strings) if m not in mistakes]
        elif path.name == "webchat.zh.json" and (why := notice_mistake(strings, MAX_MESSAGE_CHARS)):
            mistakes.append(("notice_cut", why))
        problems += [Problem(str(path), _line(text, key), why) for key, why in mistakes]
    return problems


def _line(text: str, key: str) -> int | None:
    quoted = json.dumps(key, ensure_ascii=False) + ":"
    return next((number for number, line in enumerate(text.splitlines(), start=1) if quoted in line.replace('" :', '":')),
                None)
