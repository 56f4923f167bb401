"""Argument types of the ``kefu`` commands: a bad value is argparse's one usage line, not a traceback later."""
from __future__ import annotations

import argparse
from typing import Callable


def whole_number_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``."""
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {minimum}")
        return value

    return whole
