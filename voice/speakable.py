"""Text as a caller should hear it: amounts, dates, times and numbers the way Mandarin says them.

espeak-ng's Mandarin voice reads "23.50元" as "二十三五零元" (no 点), "2026-11" as "两千二十六 十一",
"/" and "*" as the English words "slash" and "asterisk", and a phone number as one big number
(found by a tester: a caller could not tell what they owed). Replies are written for the screen,
so the phone's speech is rewritten here, just before synthesis; the words stay the editors'.
"""
from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
UNITS_PER = "月天日年次分钟小时秒人"  # "元/月" is "元每月"


def _digits(number: str) -> str:
    return "".join(DIGITS[int(d)] for d in number)


def _decimal(match: re.Match) -> str:
    whole, fraction = match[1], match[2].rstrip("0")
    return f"{whole}点{_digits(fraction)}" if fraction else whole


def _time(match: re.Match) -> str:
    hour, minute = int(match[1]), int(match[2])
    return f"{hour}点" + (f"{_digits(match[2])}分" if minute < 10 and minute else f"{minute}分" if minute else "")


REWRITES: tuple[tuple[re.Pattern, object], ...] = (
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"),
     lambda m: f"{_digits(m[1])}年{int(m[2])}月{int(m[3])}日"),
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})(?!\d)"), lambda m: f"{_digits(m[1])}年{int(m[2])}月"),
    (re.compile(r"(?<!\d)(\d{4})(?=年)"), lambda m: _digits(m[1])),
    (re.compile(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?!\d)"), _time),
    (re.compile(r"(\d+)\.(\d+)"), _decimal),
    (re.compile(r"(\d+(?:点[零一二三四五六七八九]+)?)%"), lambda m: f"百分之{m[1]}"),
    (re.compile(r"\d{5,}(?![\d点元])"), lambda m: _digits(m[0])),  # phone, account, ticket numbers: digit by digit
    (re.compile(r"\d+(?=\*)|(?<=\*)\d+"), lambda m: _digits(m[0])),  # a masked number: 138****0003
    (re.compile(r"\*+"), lambda m: "，星号，"),
    (re.compile(rf"/(?=[{UNITS_PER}])"), lambda m: "每"),
    (re.compile(r"/"), lambda m: "或"),
)


def speakable(text: str) -> str:
    for pattern, rewrite in REWRITES:
        text = pattern.sub(rewrite, text)
    return text
