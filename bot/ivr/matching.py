"""Matching what a caller said or keyed against a node: menu phrases, spoken digits, checksums."""
from __future__ import annotations

from typing import Iterable

import re

from bot.ivr.flow import MenuOption

_NOT_WORD = re.compile(r"[\s\W_]+", re.UNICODE)
# Spoken digits as Mandarin callers say them ("幺" for 1 in phone numbers).
_SPOKEN_DIGITS = str.maketrans({"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2",
                                "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "拐": "7",
                                "八": "8", "九": "9"})


def normalise(text: str) -> str:
    return _NOT_WORD.sub("", text).lower()


def without(text: str, words: Iterable[str], by: str = "") -> str:
    """``text`` with each of ``words`` replaced by ``by``, the longest first (有点儿 goes whole, not as 有点 leaving
    儿): what is left once the words a reader knows are taken out."""
    for word in sorted(dict.fromkeys(word for word in words if word), key=len, reverse=True):
        text = text.replace(word, by)
    return text


def match_phrases(text: str, options: list[MenuOption]) -> list[MenuOption]:
    """The options whose phrases cover most of ``text`` (characters said that are part of one of the option's
    phrases, wherever they occur): one when it is clear, several when they cover as much (我要报停宽带:
    报停 and 宽带, two options; the engine asks which), none when no phrase was said. 宽带账单查询 is the
    bill option's (账单, 查询), not the first option listed with a word as long as any (宽带, found in review)."""
    heard = normalise(text)
    covered: dict[int, int] = {}
    for index, option in enumerate(options):
        spans = set()
        for phrase in option.phrases:
            wanted = normalise(phrase)
            start = heard.find(wanted) if wanted else -1
            while start >= 0:
                spans.update(range(start, start + len(wanted)))
                start = heard.find(wanted, start + 1)
        if spans:
            covered[index] = len(spans)
    most = max(covered.values(), default=0)
    return [options[index] for index, size in covered.items() if size == most]


def said_more(text: str, option: MenuOption, fillers: tuple[str, ...]) -> bool:
    """Whether ``text`` says more than the option's words and the starts of a sentence (我想, 请问): a
    problem told in a sentence, not just the menu choice ("我家电视没信号了", not "我要报修")."""
    rest = normalise(text)
    for words in sorted((*option.phrases, *fillers), key=len, reverse=True):
        rest = rest.replace(normalise(words), "")
    return bool(rest)


def spoken_digits(text: str) -> str:
    """Digits in a transcript, with Mandarin number words turned into digits."""
    return "".join(ch for ch in text.translate(_SPOKEN_DIGITS) if ch.isdigit())


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        value = int(ch)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def digits_valid(digits: str, min_length: int, max_length: int, pattern: str, checksum: str) -> bool:
    if not digits.isdigit() or not min_length <= len(digits) <= max_length:
        return False
    if pattern and not re.fullmatch(pattern, digits):
        return False
    return not checksum or luhn_ok(digits)


class SafeVars(dict):
    """``str.format_map`` helper: unknown placeholders become empty instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, values: dict) -> str:
    try:
        return template.format_map(SafeVars({k: v for k, v in values.items() if v is not None}))
    except (ValueError, IndexError, AttributeError):
        return template
