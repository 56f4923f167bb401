"""The time a customer asks a technician to come, from their own words ("改到周六下午", "明天上午十点").

The day is resolved to a date ("12月5日（周六）下午") when the visit is booked, so the ticket still
names the right day when an agent, the ledger or the customer reads it days later; the part of the
day and the hour are kept as said. Words that name no day ("下午", "周末"), or only a day already
past or a time today already over ("今天上午" said at three), give no time: the technician rings to
agree one, as before. How the date reads is editors' wording (``visit_when`` in
content/labels.yml).
"""
from __future__ import annotations

import datetime as dt
import re

NUMERAL = "0-9零〇一二两三四五六七八九十"
WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
DAYS_AHEAD = {"今天": 0, "明天": 1, "后天": 2, "大后天": 3}

DAY = re.compile(
    r"(?P<ahead>大后天|后天|明天|今天)"
    r"|(?:(?P<next>下下个?|下个?)|(?P<this>这个?|本))?(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天])"
    rf"|(?:(?P<next_month>下个?月)|(?P<month>[{NUMERAL}]{{1,3}})月)?(?P<day>[{NUMERAL}]{{1,3}})[日号]")
# A bare "N号" in an address ("人民路18号", "3号楼", "第9号") is no day: it was booked as one.
ADDRESS_BEFORE = "路街道巷弄村区楼栋第"
ADDRESS_AFTER = "楼栋院室门房单座"
# What follows the day, as said: the part of the day and an hour or a span ("上午9点到12点", "下午两点半").
HOUR = rf"[{NUMERAL}]{{1,3}}[点:：](?:半|[{NUMERAL}]{{1,2}}分?)?"
REST = re.compile(rf"\s*(?P<part>早上|上午|中午|下午|傍晚|晚上)?\s*(?:(?P<start>{HOUR})(?:(?:到|至|-|~)(?P<end>{HOUR}))?)?")
CLOCK = re.compile(rf"(?P<hour>[{NUMERAL}]{{1,3}})[点:：](?P<minute>半|[{NUMERAL}]{{1,2}})?")
# When a part of the day is over (24-hour clock), and the parts whose hours are said on a 12-hour clock.
PART_ENDS = {"早上": 9, "上午": 12, "中午": 14, "下午": 18, "傍晚": 19, "晚上": 24}
AFTER_NOON = ("下午", "傍晚", "晚上")


def numeral(text: str) -> int | None:
    """A small number in Arabic or Chinese numerals ("12", "十二", "二十五"), or None."""
    if text.isdigit():
        return int(text)
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
    if "十" in text:
        tens, _, ones = text.partition("十")
        if (tens and tens not in digits) or (ones and ones not in digits):
            return None
        return (digits[tens] if tens else 1) * 10 + (digits[ones] if ones else 0)
    return digits.get(text) if len(text) == 1 else None


def day_of(match: re.Match, today: dt.date) -> dt.date | None:
    """The date a day phrase names, from ``today``: the next such weekday (this week's when said so), this
    month's day or the next (next month's when said so); None for one already past (the technician rings
    to agree a day)."""
    if match["ahead"]:
        return today + dt.timedelta(days=DAYS_AHEAD[match["ahead"]])
    if match["weekday"]:
        weekday = WEEKDAY[match["weekday"]]
        monday = today - dt.timedelta(days=today.weekday())
        if match["next"]:  # 下周三: the Wednesday of next week; 下下周三: of the week after
            return monday + dt.timedelta(days=7 * (1 + match["next"].startswith("下下")) + weekday)
        if match["this"]:  # 这周四: this week's, today included; one already past names no day
            date = monday + dt.timedelta(days=weekday)
            return date if date >= today else None
        return today + dt.timedelta(days=(weekday - today.weekday()) % 7 or 7)  # 周四 on a Thursday: the next
    day = numeral(match["day"])
    if match["next_month"]:  # 下个月5号: next month's, though this month's 5th is still to come
        year, month = next_month(today, today.month, False)[0]
        try:
            return dt.date(year, month, day) if day is not None else None
        except ValueError:
            return None
    month = numeral(match["month"]) if match["month"] else today.month
    if day is None or month is None:
        return None
    for year, month_ in ((today.year, month), *next_month(today, month, bool(match["month"]))):
        try:
            date = dt.date(year, month_, day)
        except ValueError:
            continue
        if date >= today:
            return date
    return None


def next_month(today: dt.date, month: int, named: bool) -> list[tuple[int, int]]:
    """Where a day already past lies: next year for a named month, else next month."""
    if named:
        return [(today.year + 1, month)]
    return [(today.year + (month == 12), month % 12 + 1)]


def minutes_of(hour_said: str, part: str | None) -> int | None:
    """The minute of the day an hour as said names ("两点半" in the afternoon: 14:30); with no part of
    the day, its later reading ("三点": 15:00). None when it is no hour."""
    clock = CLOCK.match(hour_said)
    hour = numeral(clock["hour"]) if clock else None
    minute = 30 if clock and clock["minute"] == "半" else numeral(clock["minute"]) if clock and clock["minute"] else 0
    if hour is None or minute is None:
        return None
    if (part in AFTER_NOON or part is None or (part == "中午" and hour < 11)) and hour < 12:
        hour += 12
    elif part == "晚上" and hour == 12:
        hour = 24
    return hour * 60 + minute


def over(rest: re.Match, now: dt.datetime) -> bool:
    """Whether the part of the day or the hour said after today is over at ``now`` (the end of a span)."""
    said = rest["end"] or rest["start"]
    end = minutes_of(said, rest["part"]) if said else PART_ENDS[rest["part"]] * 60 if rest["part"] else None
    return end is not None and end <= now.hour * 60 + now.minute


def in_address(text: str, match: re.Match) -> bool:
    """Whether a day number with no month ("18号") is part of an address, by the character around it."""
    if not match["day"] or match["month"] or match["next_month"]:
        return False
    before, after = text[match.start() - 1:match.start()], text[match.end():match.end() + 1]
    return bool(before and before in ADDRESS_BEFORE) or bool(after and after in ADDRESS_AFTER)


def days_named(text: str, moved_to) -> list[re.Match]:
    """The days ``text`` names, those after the last of ``moved_to`` first ("周六又有事了 改成明天上午吧": tomorrow)."""
    days = list(DAY.finditer(text))
    start = max((text.rfind(word) for word in moved_to if word), default=-1)
    return [day for day in days if day.start() > start >= 0] + [day for day in days if not day.start() > start >= 0]


def asked_time(text: str, now: dt.datetime, when_words: dict, said: dt.datetime | None = None) -> str | None:
    """The visit time named in ``text``, as the customer is told it, or None when it names no day (or
    only one already past at ``now``: "今天上午" said in the afternoon promised a visit in the past). Its
    days count from when it was said (``said``, default ``now``): "明天" said at 23:59 and agreed to
    after midnight is the day after it was said, and "今天上午" said at 11:59 and agreed to after noon
    names a morning already past."""
    for match in days_named(text or "", when_words.get("moved_to") or ()):
        if in_address(text, match):
            continue
        date = day_of(match, (said or now).date())
        rest = REST.match(text, match.end())
        if date is None or date < now.date() or (date == now.date() and over(rest, now)):
            continue
        weekdays = when_words["weekdays"]
        return when_words["date"].format(month=date.month, day=date.day, weekday=weekdays[date.weekday()]) + (
            re.sub(r"\s", "", rest.group(0)))
    return None
