"""Where a long WeChat text is cut: never inside a character or a link, at a sentence where one is in reach."""
from __future__ import annotations

from bot.channels.wechat_split import split_text


def test_four_byte_characters_are_never_cut_and_every_part_fits():
    text = "😀" * 700  # 2800 bytes, no place a reader would pause
    parts = split_text(text, limit=1000)
    assert "".join(parts) == text
    assert all(len(part.encode("utf-8")) <= 1000 for part in parts)


def test_a_link_across_the_limit_moves_whole_to_the_next_part():
    link = '<a href="weixin://bizmsgmenu?msgmenucontent=转人工&msgmenuid=4">转人工</a>'
    text = "请" * 320 + link + "。" + "好" * 100  # the link starts at byte 960 of a 1000-byte limit
    parts = split_text(text, limit=1000)
    assert sum(link in part for part in parts) == 1
    assert "".join(parts) == text


def test_a_sentence_end_is_preferred_to_a_comma_and_a_comma_to_anywhere():
    sentence = "光猫重启以后，请等两分钟再试，" * 10 + "还是不行请告诉我。"
    parts = split_text(sentence * 3, limit=1200)
    assert all(part.endswith("。") for part in parts[:-1])
    assert split_text("这是一句话，" * 200, limit=1000)[0].endswith("，")
