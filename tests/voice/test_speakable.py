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
