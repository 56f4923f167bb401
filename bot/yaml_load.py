"""Read YAML with libyaml's parser, and PyYAML's own messages when the text is not valid.

`kefu validate` and the reloads read every editor file, many of them on each check: the pure-Python
parser was the largest share of a validation once the reply check stopped searching texts
(bench/RESULTS.md, "Suite time, forty-first pass"). libyaml parses the same documents into the same
values, but words its errors differently; editors are shown the messages they have always been
shown, so a text libyaml refuses is read again by the pure-Python parser, which raises its own.
"""
from __future__ import annotations

from typing import Any

import yaml

_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML built without libyaml: the same loader


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, faster: the same value for a valid document, the same error for an invalid one."""
    try:
        return yaml.load(text, Loader=_FAST)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return yaml.safe_load(text)
