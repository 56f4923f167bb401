"""A reply's ``{placeholder}`` must be something Kefu fills: a slot, or a value some code passes by name.

Rasa sends a placeholder it cannot fill as written, so a typo (``{customer_nmae}``) reaches customers
as braces (found by a tester: validate let it through). The names code passes are read from the code
itself: keyword arguments and string dictionary keys in the project's ``actions/`` and in Kefu's own
``bot/`` and ``voice/`` packages.
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from bot.editor.problems import Problem

PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")  # the pattern of Rasa's own interpolation (rasa.core.nlg.interpolator)
KEFU = Path(__file__).resolve().parents[2]  # where the bot and voice packages are installed


def names_code_passes(actions_dir: Path) -> frozenset[str]:
    names: set[str] = set()
    for folder in (actions_dir, KEFU / "bot", KEFU / "voice"):
        for path in sorted(folder.rglob("*.py")):
            names |= names_in(path.read_text(encoding="utf-8"))
    return frozenset(names)


@functools.lru_cache(maxsize=4096)
def names_in(source: str) -> frozenset[str]:
    """Keyword arguments and string dictionary keys of one module. Cached by its text: parsing every
    module of ``bot/`` and ``voice/`` took 1.5 s, for each project validated in a process (the editor
    tests validate dozens of copies whose modules are the same text)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            names.update(k.arg for k in node.keywords if k.arg)
        elif isinstance(node, ast.Dict):
            names.update(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return frozenset(names)


def unfilled_placeholders(settings, domain) -> list[Problem]:
    from bot.contacts.rules import wide_placeholder

    known = domain.slots | names_code_passes(settings.root / "actions")
    return [Problem(path, line, f"{name}: nothing fills {{{placeholder}}}; customers would see it as written "
                                "(a slot's name, or a value the code passes)")
            for path, line, name, text in domain.texts
            for placeholder in PLACEHOLDER.findall(text) if placeholder not in known] + [
        Problem(path, line, f"{name}: {wide.group(0)} is written with full-width braces, which Rasa does not fill: "
                            f"customers would see it as written; write {{{wide.group(1)}}}")
        for path, line, name, text in domain.texts if (wide := wide_placeholder(text)) is not None]
