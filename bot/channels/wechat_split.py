"""A long text as several WeChat text messages, each under WeChat's size limit.

WeChat refuses a text whose content is too long (errcode 45002 "content size out of limit") and
the follower gets nothing: an agent's 1800-character reply (over 5000 bytes) was refused whole.
WeChat's official-account documentation gives no number for a text message (customer-service
send or passive reply). What others measured, found with the search tool and not confirmed by
WeChat itself:

* developers.weixin.qq.com/community/develop/doc/00084e2936c340b9015a753405b800 (customer-service
  text): "再精确点，2048"; github.com/MamaShip/Observer/issues/77 (official account): "限制是2048个字节",
  Chinese characters taking 3 bytes each;
* github.com/dodgepudding/wechat-php-sdk/issues/363 (passive text reply): at most 2047 bytes (UTF-8);
* WeCom (企业微信) documents 2048 bytes for its text messages (developer.work.weixin.qq.com/document/path/90236).

So Kefu keeps a margin under all of them: ``TEXT_LIMIT_BYTES`` (UTF-8 bytes, not characters).
A text is cut where a reader would pause (a blank line, a line end, 。！？, then ；，, then a space)
and never inside a character or a link (``<a href>`` menu links, bare addresses).
"""
from __future__ import annotations

import re

from bot.channels.wechat_replies import TextUnit, Unit

TEXT_LIMIT_BYTES = 2000

# Where a part may end, best first: after a blank line, a line, a sentence, a clause, a word.
_BREAK_RANKS = (("\n\n",), ("\n",), ("。", "！", "？", "!", "?", "…"), ("；", ";", "，", ",", "、", "：", ":"),
                (" ", "\t"))
_ANYWHERE = len(_BREAK_RANKS)
_CLOSERS = set("”’」』）)】》\"'")  # a closing quote or bracket stays with the sentence it closes
_LINK = re.compile(r"<a\s[^>]*>.*?</a>|https?://[^\s<>\"'，。！？；、）」]+", re.IGNORECASE | re.DOTALL)
# A part shorter than this share of the limit is cut only where nothing better is in reach
# (a line end at the start of a long paragraph would otherwise make one more message).
_MIN_SHARE = 3


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """``text`` as parts of at most ``limit`` UTF-8 bytes, in order (one part when it fits)."""
    text = text.strip()
    if size(text) <= limit:
        return [text] if text else []
    tokens = _tokens(text, limit)
    ends = [0]
    for token in tokens:
        ends.append(ends[-1] + size(token))
    parts: list[str] = []
    start = 0
    while start < len(tokens):
        end = start
        while end < len(tokens) and ends[end + 1] - ends[start] <= limit:
            end += 1
        cut = end if end == len(tokens) else _best_break(tokens, ends, start, end, limit)
        part = "".join(tokens[start:cut]).strip()
        if part:
            parts.append(part)
        start = cut
    return parts


def fit_units(units: list[Unit], limit: int = TEXT_LIMIT_BYTES) -> list[Unit]:
    """The units with every text too long for one message split into several text units."""
    fitted: list[Unit] = []
    for unit in units:
        if isinstance(unit, TextUnit) and size(unit.content) > limit:
            fitted.extend(TextUnit(part) for part in split_text(unit.content, limit))
        else:
            fitted.append(unit)
    return fitted


def _tokens(text: str, limit: int) -> list[str]:
    """Links whole (unless one alone is over the limit), every other character on its own."""
    tokens: list[str] = []
    position = 0
    for link in _LINK.finditer(text):
        tokens.extend(text[position:link.start()])
        if size(link.group()) <= limit:
            tokens.append(link.group())
        else:  # cannot be sent whole anyway: cut like text
            tokens.extend(link.group())
        position = link.end()
    tokens.extend(text[position:])
    return tokens


def _rank(tokens: list[str], at: int) -> int:
    """How good a place to end a part is the boundary before ``tokens[at]`` (0 best)."""
    if at < len(tokens) and tokens[at] in _CLOSERS:
        return _ANYWHERE
    previous = tokens[at - 1]
    if previous in _CLOSERS and at >= 2:
        previous = tokens[at - 2]
    if previous == "\n" and at >= 2 and tokens[at - 2] == "\n":
        return 0
    for rank, marks in enumerate(_BREAK_RANKS[1:], start=1):
        if previous in marks:
            return rank
    return _ANYWHERE


def _best_break(tokens: list[str], ends: list[int], start: int, end: int, limit: int) -> int:
    """The last boundary in (start, end] of the best rank that leaves a part of a useful size."""
    floor = limit // _MIN_SHARE
    candidates = [at for at in range(start + 1, end + 1) if ends[at] - ends[start] >= floor]
    if not candidates:
        return max(end, start + 1)
    best = min(_rank(tokens, at) for at in candidates)
    return max(at for at in candidates if _rank(tokens, at) == best)
