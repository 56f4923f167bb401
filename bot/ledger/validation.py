"""`kefu validate` for content/ledger.yml: due hours for every step, in order, and a repeat window."""
from __future__ import annotations

from bot.editor.problems import Problem
from bot.ledger.rules import LedgerRulesError, load_rules


def ledger_problems(settings, domain) -> list[Problem]:
    path = settings.content_dir / "ledger.yml"
    if not path.exists():
        return [Problem(str(path), None, "missing: the ledger needs due hours per ticket type")]
    try:
        load_rules(path)
    except LedgerRulesError as exc:
        return [Problem(str(path), None, str(exc).removeprefix(f"{path}: "))]
    return []
