"""Argument types of the ``kefu`` commands: a bad value is argparse's one usage line, not a traceback later."""
from __future__ import annotations

import argparse
from typing import Callable


def number(convert: Callable[[str], float], accepts: Callable[[float], bool], what: str) -> Callable[[str], float]:
    """An argparse ``type``: ``convert(text)`` when ``accepts`` it, else "… is not ``what``"."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepts(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


def whole_number_at_least(minimum: int) -> Callable[[str], int]:
    return number(int, lambda value: value >= minimum, f"a whole number of at least {minimum}")


share = number(float, lambda value: 0 < value <= 1, "a share above 0 and at most 1 (e.g. 0.8)")
positive_seconds = number(float, lambda value: value > 0, "a number of seconds above 0")
