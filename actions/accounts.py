"""Bill and plan questions, answered from the customer database."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import db, labels, repository
from actions.identity import IdentifiedAction, db_error, verified_customer
from bot.db.repository import Customer, DatabaseError


def money(cents: int) -> str:
    """Cents as the yuan amount customers read, e.g. -4500 -> "-45.00"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def gigabytes(mb: int) -> str:
    return f"{mb / 1024:.1f}"


def tell_usage(dispatcher: CollectingDispatcher, month: dict | None) -> None:
    """This month's data (and minutes, where the plan has them) against the allowance."""
    if not month:
        return
    period = month["period"]
    if month["data_quota_mb"] is None:
        dispatcher.utter_message(response="utter_bill_usage_data_unlimited", period=period,
                                 data_used=gigabytes(month["data_used_mb"]))
    else:
        left = max(month["data_quota_mb"] - month["data_used_mb"], 0)
        dispatcher.utter_message(response="utter_bill_usage_data", period=period,
                                 data_used=gigabytes(month["data_used_mb"]),
                                 data_quota=gigabytes(month["data_quota_mb"]), data_left=gigabytes(left))
    if month["minutes_quota"] is not None:
        dispatcher.utter_message(response="utter_bill_usage_minutes", period=period,
                                 minutes_used=month["minutes_used"] or 0, minutes_quota=month["minutes_quota"],
                                 minutes_left=max(month["minutes_quota"] - (month["minutes_used"] or 0), 0))


class ActionQueryBill(IdentifiedAction):
    request = "query_bill"

    def name(self) -> str:
        return "action_query_bill"

    async def serve(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer, verified: bool
    ) -> list[dict[str, Any]]:
        bills = await db(repository().bills_for, customer.id)
        month = await db(repository().usage_for, customer.id)
        words = labels()
        if not bills:
            dispatcher.utter_message(
                response="utter_bill_none", customer_name=customer.name, balance=money(customer.balance_cents)
            )
            tell_usage(dispatcher, month)
            return []
        lines = "\n".join(
            words["bill_line"].format(
                period=b["period"], amount=money(b["amount_cents"]), status=words["bill_status"].get(b["status"], b["status"])
            )
            for b in bills
        )
        dispatcher.utter_message(
            response="utter_bill_summary", customer_name=customer.name, balance=money(customer.balance_cents), bill_lines=lines
        )
        unpaid = sum(b["amount_cents"] for b in bills if b["status"] == "unpaid")
        if unpaid:
            dispatcher.utter_message(response="utter_bill_arrears", unpaid_total=money(unpaid))
        tell_usage(dispatcher, month)
        return []


class ActionQueryPlan(Action):
    """Plans are public: list them, and name the customer's own plan once they proved who they are."""

    def name(self) -> str:
        return "action_query_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        repo = repository()
        try:
            plans = await db(repo.all_plans)
            customer = await verified_customer(tracker)
            current = await db(repo.plan, customer.plan_code) if customer and customer.plan_code else None
        except DatabaseError:
            return db_error(dispatcher)
        template = labels()["plan_line"]
        lines = "\n".join(
            template.format(name=p["name"], monthly_fee=money(p["monthly_fee_cents"]), description=p["description"])
            for p in plans
        )
        dispatcher.utter_message(response="utter_plan_list", plan_lines=lines)
        if current:
            dispatcher.utter_message(
                response="utter_current_plan", plan_name=current["name"], monthly_fee=money(current["monthly_fee_cents"])
            )
        return []
