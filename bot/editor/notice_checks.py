"""Customers are told before Kefu records or recognises what they say (PIPL art. 17; operators'
call-recording rules): a phone flow's first prompt and the web chat's greeting must carry the notice.

The words that make a notice are the editors' (``notices`` in ``content/validation.yml``); this only
checks they are there, so a rewritten greeting cannot silently drop the notice (a privacy audit found
Kefu shipped with none, recording callers' clips for agents without a word to the caller)."""
from __future__ import annotations

import json
from pathlib import Path

from bot.editor.problems import Problem
from bot.yaml_load import safe_load


def notice_problems(settings, domain) -> list[Problem]:
    limits_file = settings.content_dir / "validation.yml"
    notices = (safe_load(limits_file.read_text(encoding="utf-8")) or {}).get("notices") or {}
    problems: list[Problem] = []
    if notices.get("phone"):
        problems += _phone_problems(settings.ivr_flows_dir, notices["phone"])
    if notices.get("chat"):
        problems += _chat_problems(settings.content_dir / "ui" / "webchat.zh.json", notices["chat"])
    return problems


def _phone_problems(flows: Path, words: list[str]) -> list[Problem]:
    from bot.ivr.errors import FlowError
    from bot.ivr.flow_loader import load_flow_file

    problems = []
    for path in sorted(flows.glob("*.yml")):
        try:
            flow = load_flow_file(path)
        except FlowError:
            continue  # reported by the flow checks
        first = flow.nodes.get(flow.start)
        said = first.say if first is not None else ""
        if not any(word in said for word in words):
            problems.append(Problem(str(path), None, f"the first prompt ('{flow.start}') does not tell the caller "
                                    f"the call is recorded and recognised: it must contain one of {words} "
                                    "(notices.phone in content/validation.yml)"))
    return problems


def _chat_problems(strings: Path, words: list[str]) -> list[Problem]:
    greeting = json.loads(strings.read_text(encoding="utf-8")).get("greeting", "")
    if any(word in greeting for word in words):
        return []
    return [Problem(str(strings), None, f"the chat greeting does not tell the customer the conversation is kept: "
                    f"it must contain one of {words} (notices.chat in content/validation.yml)")]
