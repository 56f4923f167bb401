"""Answer "how do I ...?" questions from the knowledge base.

Intents with no action of their own (``ask_how_to``) are answered with the summary of the article
whose front matter lists the intent under ``answers`` and whose title, tags or summary match the
customer's words best (``bot.knowledge.index.KnowledgeIndex.answer``). The words said are the
editors' article text, on chat and on the phone alike; with no article, the customer is told so
and offered a person (a fallback-like reply, see ``actions.misunderstanding``).
"""
from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import labels, record
from actions.identity import the_message_if_asked
from bot.knowledge.index import index_for
from bot.settings import get_settings


class ActionAnswerFromKnowledge(Action):
    def name(self) -> str:
        return "action_answer_from_knowledge"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        left = await the_message_if_asked(dispatcher, tracker, domain)  # read as a question, it is the message asked for
        if left is not None:
            return left
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name") or ""
        hit = await asyncio.to_thread(index_for(get_settings()).answer, message.get("text") or "", intent,
                                      labels().get("question_filler_words") or ())
        if hit is None:
            dispatcher.utter_message(response="utter_knowledge_no_answer")
            return []
        dispatcher.utter_message(response="utter_knowledge_answer", answer=hit.summary)
        await record(tracker, "knowledge_answered", article_id=hit.id, intent=intent)
        return []


async def say_article(dispatcher: CollectingDispatcher, key: str) -> bool:
    """The summary of the editors' knowledge article that ``key`` in content/labels.yml names (how to renew, how a
    plan's allowance works), said as a knowledge answer. False when none is named or no article has that id."""
    article_id = labels().get(key)
    hit = await asyncio.to_thread(index_for(get_settings()).article, article_id) if article_id else None
    if hit is None:
        return False
    dispatcher.utter_message(response="utter_knowledge_answer", answer=hit.summary)
    return True
