"""What a waiting customer asked for a number (预约回电, 留言: ``ask_number:`` modes) says instead of one.

Found in a live trial: "为什么要我手机号", "算了不想给", "不要回电了" were each refused as a wrong number, again and
again. The editors' words for the assistant's own number question (content/labels.yml: ``number_why_question``,
``number_declined_words``, and ``message_withdrawn_words`` for a message taken back) are read here as there, beside
the waiting room's ``back_to_waiting_words`` (content/waiting_room.yml).
"""
from __future__ import annotations

from bot.labels import labels, names_any, parts_named


def asks_why(text: str) -> bool:
    """A question about what the number is for: a word of each part of ``number_why_question``."""
    parts = labels().get("number_why_question") or {}
    return bool(parts) and parts_named(text.casefold(), parts) == set(parts)


def declines(text: str, back_to_waiting_words: tuple[str, ...]) -> bool:
    """The number declined, or the customer back to waiting instead: the step ends, nothing is booked."""
    said = text.casefold()
    words = labels()
    return any(names_any(said, [word.casefold() for word in group or ()])
               for group in (words.get("number_declined_words"), words.get("message_withdrawn_words"),
                             back_to_waiting_words))
