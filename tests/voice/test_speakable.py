"""What a caller hears for amounts, dates, times and numbers: espeak-ng's own reading (its phonemes).

Found by a tester: "23.50 元" was spoken "二十三五零元", "2026-11" as a count, "/" as "slash".
"""
from __future__ import annotations

import re
import subprocess

import pytest

from voice.speakable import speakable

VOICE = "cmn-latn-pinyin"


def phonemes(text: str) -> str:
    """espeak-ng's phonemes for ``text``, without tones, stress and pauses (they shift with context)."""
    done = subprocess.run(["espeak-ng", "-v", VOICE, "-q", "-x", text], capture_output=True, text=True, check=True)
    return re.sub(r"[\d'_|,!\s]", "", done.stdout)


def heard(text: str) -> str:
    return phonemes(speakable(text))


@pytest.mark.parametrize("written", ["余额 23.50 元", "月租79元/月", "回电到 138****0003", "2026-11 账单", "已用 8.5 GB，占 42%"])
def test_no_english_words_are_read_into_mandarin(written):
    assert "(en)" in phonemes(written) or written in ("2026-11 账单", "余额 23.50 元")  # how it sounded before
    assert "(en)" not in heard(written), speakable(written)


def test_an_amount_has_its_point_and_a_round_one_no_zeros():
    assert phonemes("点") in heard("23.50元") and phonemes("点") not in phonemes("23.50元")
    assert phonemes("79元") == heard("79.00元")


def test_a_year_is_read_digit_by_digit_and_a_month_as_a_month():
    assert heard("2026-11") == phonemes("二零二六年十一月")
    assert heard("请在 2026-12-02 13:05 前") == phonemes("请在 二零二六年十二月二日 十三点零五分 前")


def test_a_phone_number_is_read_digit_by_digit_not_as_one_big_number():
    assert heard("13800000003") == phonemes("一三八零零零零零零零三")
    assert heard("第3位，预计等待5分钟") == phonemes("第3位，预计等待5分钟")  # small counts stay counts


@pytest.mark.parametrize("written, said", [
    ("本月账单 105 元", "本月账单 一百零五 元"),  # espeak alone: 一百五 (150)
    ("剩余 1005 分钟", "剩余 一千零五 分钟"),  # espeak alone: 一千五 (1500)
    ("欠费 2008 元", "欠费 二千零八 元"),
    ("一共 1010 元", "一共 一千零一十 元"),
    ("余额 12345元", "余额 一万二千三百四十五元"),  # espeak alone: 十二千三百四十五
    ("押金 100500元", "押金 十万零五百元"),
    ("余额 105.50元", "余额 一百零五点五元"),
])
def test_an_amount_with_zeros_inside_or_past_ten_thousand_is_said_as_its_value(written, said):
    assert heard(written) == phonemes(said), speakable(written)


def test_a_fault_code_is_read_letter_and_digit_by_digit():
    # espeak alone: "E102" as E 一百二 (which a caller hears as E120), LOS as the English word "loss"
    assert heard("错误代码（比如E102）") == phonemes("错误代码（比如E 一零二）")
    assert heard("光猫上的LOS灯亮红灯") == phonemes("光猫上的L O S灯亮红灯")
    assert "(en)" not in heard("光猫上的LOS灯亮红灯")


def test_small_counts_and_menu_keys_sound_as_before():
    for written in ("请按1，人工服务请按0", "第3位，预计等待5分钟", "请输入11位手机号码", "月租79元", "早上8点到晚上9点"):
        assert heard(written) == phonemes(written), speakable(written)


@pytest.mark.parametrize("written, said", [
    ("预计等待约 2 分钟", "预计等待约 两 分钟"),
    ("您还可以再试2次", "您还可以再试两次"),  # 二次 is "secondary", not "twice"
    ("通常2个工作日内上门", "通常两个工作日内上门"),
    ("您目前排在第 2 位", "您目前排在第 二 位"),  # an ordinal stays 二
    ("2月的账单", "二月的账单"),
    ("已用 2.5 小时", "已用 二点五 小时"),
])
def test_two_of_something_is_liang(written, said):
    assert heard(written) == phonemes(said), speakable(written)


def test_a_balance_below_zero_is_said_with_its_minus():
    # actions.accounts.money writes an owed balance as "-45.00"; espeak-ng said no minus at all, so
    # a caller in arrears heard a credit of 四十五元
    assert heard("您当前账户余额 -45.00 元。") == phonemes("您当前账户余额 负四十五 元。")
    assert heard("余额-0.50元") == phonemes("余额负零点五元")
    assert heard("服务时间 8:00-20:00") == phonemes("服务时间 八点到二十点")  # a range is no minus


def test_a_number_written_in_groups_is_read_digit_by_digit():
    # espeak-ng read "400-800-1234" as 四百 八百 一千二百三十四
    assert heard("请拨打 400-800-1234") == phonemes("请拨打 四零零 八零零 一二三四")
    assert heard("回电到 138-0000-0003") == phonemes("回电到 一三八 零零零零 零零零三")
    assert heard("座机 0571-88886666") == phonemes("座机 零五七一 八八八八六六六六")
    assert heard("月费100-200元") == phonemes("月费一百到二百元")  # a range stays two amounts


@pytest.mark.parametrize("written, said", [
    ("上门时间8-10点", "上门时间八到十点"),  # was heard 八十点: eighty o'clock
    ("营业厅每天9:00–18:00营业", "营业厅每天九点到十八点营业"),
    ("请按1～5分评价", "请按一到五分评价"),
    ("周一至周五 9点~17点", "周一至周五 九点到十七点"),
])
def test_a_range_is_said_with_dao_between_its_ends(written, said):
    assert heard(written) == phonemes(said), speakable(written)



def test_what_only_looks_like_a_range_is_not_one():
    assert speakable("2026-12-04 的账单") == "二零二六年十二月四日 的账单"  # a date
    assert speakable("请拨打 400-800-1234") == "请拨打 四零零 八零零 一二三四"  # a number in groups
    assert speakable("余额 -45.00 元") == "余额 负四十五 元"  # an amount owed
    assert speakable("9点-17点") == "九点到十七点"  # was 九点负十七点
