"""Whether a word is said, not denied: "重启了" is not said in "没重启了", nor "转人工" in "不想转人工".

One check for every list read with its denials: a self-help step said done (bot/selfhelp.py) and a person asked
for (bot/labels.py ``asks_for_a_person``). Each reader passes what a denial just before its words looks like.
"""
from __future__ import annotations

import re

# A step said done or a guide said tried: 没, 不 or 要不要 in the three characters before it ("没重启", "还没看视频").
NOT_DONE_BEFORE = re.compile(r"[没不].{0,2}$", re.S)
# A person asked for: a denial right before the word, with at most a few words between that keep it denied
# ("不想转人工", "先不转人工", "别找人工了", "无需转人工", "不必再转人工", "不想跟人说话"). Not across a comma or another
# word ("还是不行，找人工客服", "还是不行找人工" ask), nor a question why not ("为什么不转人工", "怎么还不转人工" ask), nor
# 要不, "how about" ("要不转人工吧" asks: found in review, it got the next guide).
NOT_ASKED_BEFORE = re.compile(r"(?<![么啥咋还要])(?:不|别|无需|无须|没必要)(?:想|必|用|需要|需|要|再|给我|帮我|去)*$")


def said_not_denied(text: str, word: str, denied: re.Pattern[str] = NOT_DONE_BEFORE) -> bool:
    """Whether ``word`` is in ``text`` at least once where the text before it does not end in a denial
    (``denied``, anchored at the end)."""
    at = text.find(word)
    while at >= 0:
        if not denied.search(text[:at]):
            return True
        at = text.find(word, at + 1)
    return False
