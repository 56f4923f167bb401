"""When the customer's plan ends ("我的宽带什么时候到期"), for the proven account holder only.

The NLU has no intent for it: it read such questions as query_plan, query_bill or ask_how_to, or let them
fall back, and each of those got a bill, the plans on sale or how to pay. The editors' words
(``plan_end_words`` in content/labels.yml) now make it a bill question (bot/asked_outright.py), and the bill
action sends it here. The date is the customer's
``plan_end_date`` (``kefu customer import``); a plan without one renews monthly and is said so. How to
renew is the editors' knowledge article named by ``plan_end_renewal_article``, said after the date.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import db, labels, record, repository
from actions.identity import IdentifiedAction
from actions.knowledge_answers import say_article
from bot.analytics.config import centre_zone
from bot.db.repository import Customer

ACTION = "action_tell_plan_end"


def centre_today() -> dt.date:
    """Today where the customers are (the contact centre's time zone): a plan ends on their calendar."""
    return dt.datetime.now(centre_zone()).date()


def date_words(day: dt.date) -> str:
    """A date as the editors write dates (``date`` in content/labels.yml), not 2026-12-31."""
    return labels()["date"].format(year=day.year, month=day.month, day=day.day)


class ActionTellPlanEnd(IdentifiedAction):
    request = "plan_end"

    def name(self) -> str:
        return ACTION

    async def serve(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer, verified: bool
    ) -> list[dict[str, Any]]:
        plan = await db(repository().plan, customer.plan_code) if customer.plan_code else None
        said = {"customer_name": customer.name, "plan_name": plan["name"] if plan else ""}
        if plan is None:
            dispatcher.utter_message(response="utter_plan_end_no_plan", customer_name=customer.name)
        elif not customer.plan_end_date:
            dispatcher.utter_message(response="utter_plan_end_monthly", **said)
        else:
            end = dt.date.fromisoformat(customer.plan_end_date)
            days_left = (end - centre_today()).days
            reply = ("utter_plan_end_date" if days_left > 0 else "utter_plan_end_today" if days_left == 0
                     else "utter_plan_end_passed")
            dispatcher.utter_message(response=reply, **said, end_date=date_words(end), days_left=days_left)
            await say_article(dispatcher, "plan_end_renewal_article")  # how to renew
        await record(tracker, "answer_given", topic="plan_end")
        return []
