"""A service change asked about rather than asked for: answered first, then offered.

"停机保号怎么弄" and "过户需要什么材料" were asked for the number registered with us at once, and what the
customer asked was never said (found trying the chat). A question about a change (one of ``how_words`` in
content/labels.yml) that a knowledge article answers (``answers: [manage_service]``, and one of its tags
in the customer's words, so "办理" alone never picks an unrelated article) gets the article's summary and
the offer to file the change now; "好的" to the offer files it (``awaiting`` ``service_offer``), "不用了"
leaves it. A change asked for, or one no article answers, is filed as before.
"""
from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import labels, latest_text, record
from bot.knowledge.index import index_for
from bot.labels import asks_how
from bot.settings import get_settings

SERVICE_OFFER = "service_offer"  # awaiting: "现在登记吗？"
# The offer. Only a yes right after it files the change: one after another answer in between (a plan list, an
# article) is no yes to a change asked about turns ago.
OFFER = "utter_offer_service_change"


async def answer_service_question(dispatcher: CollectingDispatcher, tracker: Tracker,
                                  change: str | None) -> list[dict[str, Any]] | None:
    """The answer and the offer to a question about ``change``; None when it is no question an article answers."""
    text = latest_text(tracker)
    if not asks_how(text):
        return None
    hit = await asyncio.to_thread(index_for(get_settings()).answer, text, "manage_service",
                                  labels().get("question_filler_words") or ())
    if hit is None or not any(tag and tag.lower() in text.lower() for tag in hit.tags):
        return None
    dispatcher.utter_message(response="utter_knowledge_answer", answer=hit.summary)
    await record(tracker, "knowledge_answered", article_id=hit.id, intent="manage_service")
    names = labels()["service_action"]
    if change not in names:  # answered; what to file is not known: nothing offered
        return [SlotSet("service_action", None)]
    dispatcher.utter_message(response=OFFER, service=names[change], service_action=change)
    return [SlotSet("awaiting", SERVICE_OFFER), SlotSet("service_action", change)]
