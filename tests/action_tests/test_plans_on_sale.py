"""A plan the operator no longer sells (``sellable: false`` in ``kefu customer import``) is not offered,
yet a customer who still has it hears it as their own (integrator's report, finding 9: the
discontinued plan was offered to everyone)."""
from __future__ import annotations

import json

import sqlalchemy as sa

from bot.cli import main
from bot.db.repository import Repository
from bot.db.schema import customers
from tests.action_tests.test_account_actions import proven
from tests.action_tests.trackers import load_tracker


async def test_a_plan_no_longer_sold_is_not_offered_but_shown_to_its_customer(run_action, kefu_env, tmp_path):
    extract = tmp_path / "crm.jsonl"
    extract.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"type": "plan", "code": "LEGACY_BB10", "name": "10M宽带老套餐", "category": "broadband",
         "monthly_fee_cents": 3000, "sellable": False},
        {"type": "customer", "external_id": "CRM-7", "phone": "13912340007", "account_number": "A0000007",
         "name": "老用户", "plan_code": "LEGACY_BB10"},
    ]) + "\n", encoding="utf-8")
    assert main(["customer", "import", str(extract)]) == 0
    with Repository(kefu_env.database_url).engine.connect() as conn:
        customer_id = conn.execute(sa.select(customers.c.id).where(customers.c.external_id == "CRM-7")).scalar_one()

    anyone = await run_action("action_query_plan", load_tracker("query_bill", text="有什么宽带套餐", intent="query_plan"))
    assert "10M宽带老套餐" not in anyone.message("utter_plan_list")["plan_lines"]
    assert "300M宽带" in anyone.message("utter_plan_list")["plan_lines"]  # the plans on sale still are

    holder = await run_action("action_query_plan", load_tracker("query_bill", text="有什么宽带套餐", intent="query_plan",
                                                              **proven(customer_id)))
    assert "10M宽带老套餐" not in holder.message("utter_plan_list")["plan_lines"]
    assert holder.message("utter_current_plan")["plan_name"] == "10M宽带老套餐"


async def test_asked_for_their_own_plan_a_customer_is_asked_who_they_are_first(run_action):
    """Found trying the chat: "我的套餐是什么" got every plan on sale and nothing about the customer's own. Their own
    plan is the account's: asked, the customer proves who they are, then hears it, and only it (found in a live trial:
    every plan on sale came first)."""
    asked = await run_action("action_query_plan", load_tracker("query_bill", text="我的套餐是什么", intent="query_plan"))
    assert asked.responses == ["utter_ask_identity"]
    assert asked.slots["pending_request"] == "action_query_plan"

    holder = await run_action("action_query_plan", load_tracker("query_bill", text="我的套餐是什么", intent="query_plan",
                                                              **proven(2)))
    assert holder.responses == ["utter_current_plan"]

    anyone = await run_action("action_query_plan", load_tracker("query_bill", text="你们有什么宽带套餐", intent="query_plan"))
    assert anyone.responses == ["utter_plan_list"], "the plans on sale are for anyone"


async def test_their_own_plan_asked_beside_others_is_told_first_then_the_others(run_action):
    """Found in review: "我的套餐太贵了，你们还有哪些宽带套餐" got the customer's plan only, no plan on sale."""
    holder = await run_action("action_query_plan", load_tracker(
        "query_bill", text="我的套餐太贵了，你们还有哪些宽带套餐", intent="query_plan", **proven(2)))
    assert holder.responses == ["utter_current_plan", "utter_plan_list"]
