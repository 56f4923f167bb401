"""The day a customer names for a visit becomes a date, so the ticket names the right day when read later."""
from __future__ import annotations

import datetime as dt

import pytest

from actions.visit_time import asked_time
from bot.labels import labels

THURSDAY = dt.datetime(2026, 12, 3, 10, 0)


@pytest.mark.parametrize("said, kept", [
    ("预约周六下午上门安装", "12月5日（周六）下午"),
    ("预约明天下午两点上门维修", "12月4日（周五）下午两点"),
    ("上门能不能改到下周一", "12月7日（周一）"),
    ("改到周四上午", "12月10日（周四）上午"),  # today is Thursday: the next one
    ("这周四下午能来吗", "12月3日（周四）下午"),  # ... unless this week's is said: today
    ("本周六上午", "12月5日（周六）上午"),
    ("这个星期天", "12月6日（周日）"),
    ("星期天晚上", "12月6日（周日）晚上"),
    ("12月10号上午9点到12点", "12月10日（周四）上午9点到12点"),
    ("二十号下午", "12月20日（周日）下午"),
    ("改到2号", "1月2日（周六）"),  # this month's 2nd is past: next month's
    ("工单TK000123号那个上门改到后天", "12月5日（周六）"),  # no 123rd day: the next day phrase
    # Found in a live trial: the first day named was taken, the visit moved to the day the customer could not do.
    ("周六又有事了 改成明天上午吧", "12月4日（周五）上午"),
    ("明天不行 改到周六下午", "12月5日（周六）下午"),
    ("本来约的周日，能改到下周一上午吗", "12月7日（周一）上午"),
])
def test_a_named_day_becomes_a_date_and_the_rest_is_kept_as_said(said, kept):
    assert asked_time(said, THURSDAY, labels()["visit_when"]) == kept


@pytest.mark.parametrize("said", ["师傅什么时候上门", "下午上门", "往后推一天", "周末能上门吗", "帮我约个师傅",
                                  "这周二上午"])  # this week's Tuesday is past: not next week's
def test_words_naming_no_day_give_no_time(said):
    assert asked_time(said, THURSDAY, labels()["visit_when"]) is None


THURSDAY_AFTERNOON = dt.datetime(2026, 12, 3, 15, 0)


@pytest.mark.parametrize("said", ["改到今天上午", "今天上午十点来吧", "这周四早上", "今天中午12点", "今天下午两点半",
                                  "今天上午9点到12点"])
def test_a_time_today_already_over_gives_no_time(said):
    """Said at three in the afternoon: a visit promised for this morning would be one in the past."""
    assert asked_time(said, THURSDAY_AFTERNOON, labels()["visit_when"]) is None


@pytest.mark.parametrize("said, kept", [
    ("今天晚上7点", "12月3日（周四）晚上7点"),
    ("今天下午4点到6点", "12月3日（周四）下午4点到6点"),
    ("今天下午", "12月3日（周四）下午"),  # the afternoon is not over yet
    ("今天", "12月3日（周四）"),
    ("今天上午不行，改到明天下午", "12月4日（周五）下午"),  # the next day phrase
])
def test_a_time_later_today_is_kept(said, kept):
    assert asked_time(said, THURSDAY_AFTERNOON, labels()["visit_when"]) == kept


@pytest.mark.parametrize("said, kept", [
    ("下个月5号上午", "1月5日（周二）上午"),  # this month's 5th is still to come: next month's was meant
    ("下月10号", "1月10日（周日）"),
    ("下个月三号下午", "1月3日（周日）下午"),
])
def test_a_day_of_next_month_is_next_months(said, kept):
    assert asked_time(said, THURSDAY, labels()["visit_when"]) == kept


def test_the_week_after_next_is_two_weeks_on():
    assert asked_time("下下周三上午", THURSDAY, labels()["visit_when"]) == "12月16日（周三）上午"


@pytest.mark.parametrize("said, kept", [
    ("我家在人民路18号，明天下午来修", "12月4日（周五）下午"),  # a street number is no day: booked for the 18th
    ("3号楼2单元，周六上午上门", "12月5日（周六）上午"),
    ("地址是幸福小区6号院，后天", "12月5日（周六）"),
    ("和平街第9号，改到10号上午", "12月10日（周四）上午"),
])
def test_a_house_number_is_not_a_day(said, kept):
    assert asked_time(said, THURSDAY, labels()["visit_when"]) == kept


def test_an_address_alone_names_no_day():
    assert asked_time("我家在人民路18号，师傅什么时候来", THURSDAY, labels()["visit_when"]) is None
