"""Read YAML keeping line numbers, so problems can point at the editor's line."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class YamlFileError(ValueError):
    def __init__(self, path: Path, line: int | None, message: str):
        super().__init__(message)
        self.path, self.line, self.message = path, line, message


@lru_cache(maxsize=128)
def _parsed(text: str) -> Any:
    return YAML(typ="rt").load(text)


def syntax_error(exc: Exception, text: str) -> tuple[int | None, str]:
    """(1-based line, "not valid YAML: …") for a YAML parser's error, in words an editor can act on: a tab
    indenting a line, or a quote opened and not closed (the parser stops lines later, "expected <block end>,
    but found '<scalar>'", where the text it swallowed ends), at the line to change."""
    mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    line = mark.line if mark else None
    problem = str(getattr(exc, "problem", None) or exc)
    if "'\\t'" in problem or "\t" in problem:
        return (line + 1 if line is not None else None), "not valid YAML: a tab indents this line: indent with spaces, not tabs"
    lines = text.splitlines()
    start = context.line if context is not None else 0
    for number in range(start, min(line + 1 if line is not None else len(lines), len(lines))):
        if (quote := _unclosed_quote(lines[number])) is not None:
            return number + 1, (f"not valid YAML: the quote ({quote}) opened on this line is not closed: end the text "
                                f"with {quote} on the same line, or leave both out")
    return (line + 1 if line is not None else None), f"not valid YAML: {problem}"


def _unclosed_quote(line: str) -> str | None:
    """The quote a line's value opens and does not close (``key: "text`` / ``- 'text``), if any."""
    stripped = line.strip()
    value = stripped[2:].lstrip() if stripped.startswith("- ") else stripped
    if not value.startswith(("\"", "'")) and ": " in value:
        value = value.split(": ", 1)[1].lstrip()
    if not value or value[0] not in "\"'":
        return None
    quote, rest = value[0], value[1:]
    if quote == '"':
        rest = rest.replace("\\\\", "").replace('\\"', "")
        return None if '"' in rest else quote
    return None if rest.replace("''", "").count("'") else quote


def load(path: Path) -> Any:
    """Round-trip load: mappings and lists carry ``.lc`` line info (0-based).

    Parsed once per content: the round-trip parser is pure Python (a full ``kefu validate`` spent 11 of
    its 13 s in it, bench/RESULTS.md "Suite time, eighteenth pass"), and a validation after an edit reads
    every file again though one changed. Each caller gets its own copy (line info included)."""
    text = path.read_text(encoding="utf-8")
    try:
        return copy.deepcopy(_parsed(text))
    except YAMLError as exc:
        raise YamlFileError(path, *syntax_error(exc, text)) from None


def line_of(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping key (or of the node itself)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        return (lc.key(key)[0] if key is not None else lc.line) + 1
    except (KeyError, TypeError, AttributeError):
        return lc.line + 1


def item_line(sequence: Any, index: int) -> int | None:
    lc = getattr(sequence, "lc", None)
    try:
        return lc.item(index)[0] + 1 if lc else None
    except (KeyError, TypeError, AttributeError):
        return None
