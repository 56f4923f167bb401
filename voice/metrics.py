"""Recognition quality measures shared by the tests and the benchmarks."""
from __future__ import annotations

import re

_NOT_HANZI = re.compile(r"[^\u3400-\u9fff]")


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over Chinese characters, divided by the reference length."""
    ref, hyp = _NOT_HANZI.sub("", reference), _NOT_HANZI.sub("", hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(len(ref), 1)
