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


def load(path: Path) -> Any:
    """Round-trip load: mappings and lists carry ``.lc`` line info (0-based).

    Parsed once per content: the round-trip parser is pure Python (a full ``kefu validate`` spent 11 of
    its 13 s in it, bench/RESULTS.md "Suite time, eighteenth pass"), and a validation after an edit reads
    every file again though one changed. Each caller gets its own copy (line info included)."""
    try:
        return copy.deepcopy(_parsed(path.read_text(encoding="utf-8")))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlFileError(path, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}")


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
