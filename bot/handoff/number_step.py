"""What a waiting customer asked for a number (预约回电, 留言: ``ask_number:`` modes) says instead of one.

Found in a live trial: "为什么要我手机号", "算了不想给", "不要回电了" were each refused as a wrong number, again and
again. The editors' words for the assistant's own number question (content/labels.yml: ``number_why_question``,
``number_declined_words``, and ``message_withdrawn_words`` for a message taken back) are read here as there, beside
the waiting room's ``back_to_waiting_words`` (content/waiting_room.yml).
"""
from __future__ import annotations

import re

from bot.denial import said_not_denied
from bot.labels import labels, names_any, parts_named


def asks_why(text: str) -> bool:
    """A question about what the number is for: a word of each part of ``number_why_question``."""
    parts = labels().get("number_why_question") or {}
    return bool(parts) and parts_named(text.casefold(), parts) == set(parts)


# Longest message (letters and digits, punctuation aside) read as going back to waiting while a message may come: a
# longer one is the message ("宽带断了三天了，不要回电话，发短信就行", found in review: it ended the step and was dropped).
SHORT_REPLY = 8


def declines(text: str, back_to_waiting_words: tuple[str, ...], message_may_come: bool = False) -> bool:
    """The number declined, or the customer back to waiting instead: the step ends, nothing is booked. A back-to-waiting
    word right after a denial does not count ("不想继续等了 你们直接给我回电话吧": found in review, it was declined), nor,
    where a message may come, one inside a message longer than a short reply."""
    said = text.casefold()
    words = labels()
    if names_any(said, [word.casefold() for group in (words.get("number_declined_words"),
                                                      words.get("message_withdrawn_words")) for word in group or ()]):
        return True
    if message_may_come and len(re.sub(r"\W", "", said)) > SHORT_REPLY:
        return False
    return any(word and said_not_denied(said, word.casefold()) for word in back_to_waiting_words)
