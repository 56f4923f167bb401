"""Numbers written in Chinese numerals, as customers type them and as the recogniser writes what
callers say ("一三九一二三四五六七八", "幺三八…"): a phone or account number in this form must be
masked like its Arabic-digit twin (a tester found one shown in full on the desk and in a voice
message's transcript)."""
from __future__ import annotations

import re

DIGITS = "零〇一二三四五六七八九幺"
# Ten or more numeral digits, maybe in groups (one space, dot or dash between): a personal number.
# Shorter runs are ordinary words and amounts ("一一", "三三两两" never reach ten digits).
NUMBER = re.compile(rf"[{DIGITS}](?:[ \u3000.\-－]?[{DIGITS}]){{9,}}")
DIGIT = re.compile(rf"[{DIGITS}]")


def mask_all_but_last_four(number: str) -> str:
    """``number`` with every numeral but the last four replaced by ``*`` (separators kept)."""
    positions = [m.start() for m in DIGIT.finditer(number)]
    hidden = set(positions[:-4])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(number))


def mask_numbers(text: str) -> str:
    return NUMBER.sub(lambda m: mask_all_but_last_four(m.group(0)), text)
