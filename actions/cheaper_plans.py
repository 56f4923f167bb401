"""A plan change asking for a cheaper plan: the cheaper plans first, then the change for the one picked.

Found in a trial: "我想换个便宜点的套餐" was filed at once with the customer's words, and an agent had to call
back to say which plans were cheaper. Asked with ``cheaper_plan_words`` (content/labels.yml), the customer is
shown the plans on sale cheaper than their own (of its category or those ``cheaper_plan_categories`` gives it)
as buttons; a button names the plan (``plan_code``) and the change is filed for it (actions/tickets.py).
"""
from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import earlier_request_text, money, plans_asked_about
from actions.backend import channel_of, db, labels, latest_entity, names_any, record, repository
from actions.identity import request_text
from actions.plan_named import CHANGE_PLAN, PLAN_CODE, plan_in_words
from bot.db.repository import Customer, DatabaseError


def asks_cheaper(tracker: Tracker) -> bool:
    """Whether the plan change asks for a cheaper plan: in its words, or, when a button made it ("更换套餐" among
    the services), in the request just before. Not on the phone, which has no buttons to pick one with."""
    said = request_text(tracker)
    words = labels().get("cheaper_plan_words")
    if channel_of(tracker) == "ivr":
        return False
    return names_any(said, words) or (said.startswith("/") and names_any(earlier_request_text(tracker), words))


async def picked_plan(tracker: Tracker) -> dict | None:
    """The plan on sale the customer picked by its button (``plan_code``), or None."""
    code = latest_entity(tracker, PLAN_CODE)
    if not code:
        return None
    return next((plan for plan in await db(repository().all_plans) if plan["code"] == code), None)


async def plan_named_in_request(tracker: Tracker) -> dict | None:
    """The one plan on sale the customer's request names in its words ("我想把套餐改成便宜点的300M宽带", "那换成
    300M宽带那个吧"), by the rule a plan is picked by name with (actions/plan_named.py); None for a button, or when
    the catalogue cannot be read (the request is then answered as before)."""
    said = request_text(tracker)
    if not said or said.startswith("/"):
        return None
    try:
        on_sale = await db(repository().all_plans)
    except DatabaseError:
        return None
    return plan_in_words(said, on_sale, labels().get("plan_pick_generic_words"))


def cheaper_than(plans: list[dict], current: dict) -> list[dict]:
    """The plans cheaper than ``current``, of its category or those ``cheaper_plan_categories`` allows it."""
    allowed = (labels().get("cheaper_plan_categories") or {}).get(current.get("category")) or [current.get("category")]
    return [plan for plan in plans if plan["monthly_fee_cents"] < current["monthly_fee_cents"]
            and plan.get("category") in allowed]


async def offer_cheaper_plans(dispatcher: CollectingDispatcher, tracker: Tracker,
                              customer: Customer) -> list[dict[str, Any]] | None:
    """The plans cheaper than the customer's own as buttons (every plan on sale, cheapest first, when they have
    none on record); told so when none is cheaper. Nothing is filed until one is picked. None when there is
    nothing to show at all (no plan of theirs, none on sale): the change is filed as said."""
    repo = repository()
    on_sale = await db(repo.all_plans)  # cheapest first
    current = await db(repo.plan, customer.plan_code) if customer.plan_code else None
    cheaper = cheaper_than(on_sale, current) if current else on_sale
    said = request_text(tracker)
    shown = plans_asked_about(cheaper, "" if said.startswith("/") else said, labels().get("plan_question") or {},
                              earlier=earlier_request_text(tracker))
    if not shown and current is None:
        return None
    own = {"plan_name": current["name"], "monthly_fee": money(current["monthly_fee_cents"])} if current else {}
    await record(tracker, "answer_given", topic="cheaper_plans")
    if not shown:
        dispatcher.utter_message(response="utter_no_cheaper_plan", **own)
        return []
    dispatcher.utter_message(response="utter_cheaper_plans" if current else "utter_cheaper_plans_on_sale",
                             buttons=[plan_button(plan) for plan in shown], **own)
    return []


def plan_button(plan: dict) -> dict[str, str]:
    """A plan to pick: its name and monthly fee (``plan_choice``), the change for it as the payload."""
    title = labels()["plan_choice"].format(name=plan["name"], monthly_fee=money(plan["monthly_fee_cents"]))
    chosen = json.dumps({"service_action": CHANGE_PLAN, PLAN_CODE: plan["code"]})
    return {"title": title, "payload": f"/manage_service{chosen}"}


def plan_change_said(plan: dict) -> str:
    """The change picked, as the ticket and the reply say it (``plan_change_said``)."""
    return labels()["plan_change_said"].format(name=plan["name"], monthly_fee=money(plan["monthly_fee_cents"]))
