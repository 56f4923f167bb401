"""Text as a caller should hear it: amounts, dates, times and numbers the way Mandarin says them.

espeak-ng's Mandarin voice reads "23.50元" as "二十三五零元" (no 点), "2026-11" as "两千二十六 十一",
"/" and "*" as the English words "slash" and "asterisk", and a phone number as one big number
(found by a tester: a caller could not tell what they owed). It also drops the 零 of a number with
a zero inside ("105" is said 一百五, which is 150) and has no 万 ("12345" is 十二千…), so every number
left is written out in characters; a fault code ("E102") is read letter and digit by digit and an
acronym ("LOS") letter by letter, not as an English word. Replies are written for the screen,
so the phone's speech is rewritten here, just before synthesis; the words stay the editors'.
"""
from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
UNITS_PER = "月天日年次分钟小时秒人"  # "元/月" is "元每月"
COUNTED = "个|小时|天|次|分钟|秒|周|名|台|条|张|种|项|份|遍|步|岁|块|部|套|年"  # measure words after 两


def _digits(number: str) -> str:
    return "".join(DIGITS[int(d)] for d in number)


def _decimal(match: re.Match) -> str:
    whole, fraction = match[1], match[2].rstrip("0")
    return f"{whole}点{_digits(fraction)}" if fraction else whole


def _below_10000(value: int, first: bool) -> str:
    """1..9999 in characters: 零 once for a gap of zeros before a digit, 十五 (not 一十五) only first."""
    out, gap = "", False
    for digit, unit in zip(f"{value:04d}", ("千", "百", "十", "")):
        if digit == "0":
            gap = bool(out)
            continue
        if gap:
            out += "零"
        gap = False
        out += ("" if first and not out and unit == "十" and digit == "1" else DIGITS[int(digit)]) + unit
    return out


def _integer(number: str) -> str:
    """A whole number as Mandarin says its value (105 → 一百零五, 100500 → 十万零五百); a number
    written with a leading zero, or too long to be a quantity, digit by digit."""
    if (len(number) > 1 and number[0] == "0") or len(number) > 12:
        return _digits(number)
    value = int(number)
    if not value:
        return DIGITS[0]
    out, zero_before = "", False
    for unit, group in (("亿", value // 10**8), ("万", value // 10**4 % 10**4), ("", value % 10**4)):
        if not group:
            zero_before = bool(out)
            continue
        if out and (zero_before or group < 1000):
            out += "零"
        out += _below_10000(group, first=not out) + unit
        zero_before = False
    return out


def _time(match: re.Match) -> str:
    hour, minute = int(match[1]), int(match[2])
    return f"{hour}点" + (f"{_digits(match[2])}分" if minute < 10 and minute else f"{minute}分" if minute else "")


REWRITES: tuple[tuple[re.Pattern, object], ...] = (
    # a code on a screen or a device: E102 → E 一零二
    (re.compile(r"(?<![A-Za-z\d])([A-Z]{1,3})(\d+)(?![\d.])"), lambda m: f"{' '.join(m[1])} {_digits(m[2])}"),
    (re.compile(r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])"), lambda m: " ".join(m[0])),  # LOS → L O S
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"),
     lambda m: f"{_digits(m[1])}年{int(m[2])}月{int(m[3])}日"),
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})(?!\d)"), lambda m: f"{_digits(m[1])}年{int(m[2])}月"),
    (re.compile(r"(?<!\d)(\d{4})(?=年)"), lambda m: _digits(m[1])),
    # a phone number written in groups (400-800-1234, 138-0000-0003, 0571-88886666): digit by digit, a
    # pause per group; a range (100-200元) is none
    (re.compile(r"(?<![\d-])(?:\d{3,4}-\d{3,4}-\d{4}|0\d{2,3}-\d{7,8})(?![\d-])"),
     lambda m: " ".join(map(_digits, m[0].split("-")))),
    # a range (8-10点, 9:00–18:00, 1~5分): 到 between its ends. espeak-ng makes no sound of the dash, so
    # "8-10点" was heard 八十点, eighty o'clock (found in review)
    (re.compile(r"(?<![\d:-])(\d{1,4}(?::\d{2}|点)?)\s*[-–—~～]\s*(\d{1,4}(?::\d{2})?)(?![\d:-])"),
     lambda m: f"{m[1]}到{m[2]}"),
    # a balance below zero ("余额 -45.00 元", actions.accounts.money): espeak-ng says no minus at all
    (re.compile(r"(?<![\dA-Za-z])(?<!\d )-(?=\d)"), lambda m: "负"),
    (re.compile(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?!\d)"), _time),
    (re.compile(r"(\d+)\.(\d+)"), _decimal),
    (re.compile(r"(\d+(?:点[零一二三四五六七八九]+)?)%"), lambda m: f"百分之{m[1]}"),
    (re.compile(r"\d{5,}(?![\d点元])"), lambda m: _digits(m[0])),  # phone, account, ticket numbers: digit by digit
    (re.compile(r"\d+(?=\*)|(?<=\*)\d+"), lambda m: _digits(m[0])),  # a masked number: 138****0003
    (re.compile(r"\*+"), lambda m: "，星号，"),
    (re.compile(rf"/(?=[{UNITS_PER}])"), lambda m: "每"),
    (re.compile(r"/"), lambda m: "或"),
    # two of something is 两 (再试2次 said 二次, "secondary"); an ordinal (第2位) and a month stay 二
    (re.compile(rf"(?<![\d.点第])(?<!第 )2(?=\s?(?:{COUNTED}))"), lambda m: "两"),
    (re.compile(r"\d+"), lambda m: _integer(m[0])),  # what is left: counts and amounts
)


def speakable(text: str) -> str:
    for pattern, rewrite in REWRITES:
        text = pattern.sub(rewrite, text)
    return text
