"""Arrears mean the same in the chat and in the reminders (bot/arrears.py: a balance below zero).

Found by an integrator: a customer with a balance of -50.00 whose bills were not marked exactly
"unpaid" heard "您目前没有未缴的账单" in chat while an arrears reminder for 50.00 was scheduled; the
chat counted bills whose status was exactly "unpaid", the planner the negative balance.
"""
from __future__ import annotations

import datetime as dt

from bot.contacts.planner import Planner
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.db.schema import bills, customers
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.action_tests.conftest import run_action  # noqa: F401  runs an action on a JSON tracker
from tests.action_tests.test_account_actions import proven
from tests.action_tests.trackers import load_tracker


def add_customer(repository, phone: str, balance_cents: int, bill_statuses: list[str]) -> int:
    with repository.engine.begin() as conn:
        customer_id = conn.execute(customers.insert().values(
            phone=phone, account_number=f"9{phone[-9:]}", name="导入客户", vip_tier=0, address="",
            balance_cents=balance_cents)).inserted_primary_key[0]
        for month, status in enumerate(bill_statuses, start=10):
            conn.execute(bills.insert().values(customer_id=customer_id, period=f"2026-{month}", amount_cents=5800,
                                               status=status, due_date=f"2026-{month + 1}-15"))
    return customer_id


def planner(kefu_env, repository) -> Planner:
    return Planner(repository, load_rules(kefu_env.content_dir / "contacts.yml"),
                   load_ledger_rules(kefu_env.content_dir / "ledger.yml"))


async def test_chat_and_reminders_agree_on_who_owes_what(kefu_env, run_action):  # noqa: F811
    from bot.db.repository import Repository

    repository = Repository(kefu_env.database_url)
    owing = add_customer(repository, "13912340003", -5000, ["paid", "overdue"])  # the balance says: owes 50.00
    settled = add_customer(repository, "13912340004", 0, ["unpaid", " UNPAID "])  # billed, balance covers it
    added = planner(kefu_env, repository).plan(dt.datetime.utcnow())
    reminders = {c["customer_id"]: c for c in Schedule(repository).listing(purpose="arrears") if c["id"] in added}
    assert reminders[owing]["details"]["amount"] == "50.00" and settled not in reminders

    asked = await run_action("action_query_bill", load_tracker("query_bill", text="我欠费了吗", **proven(owing)))
    assert asked.responses == ["utter_bill_arrears"]
    assert asked.message("utter_bill_arrears")["amount_owed"] == "50.00"
    asked = await run_action("action_query_bill", load_tracker("query_bill", text="我欠费了吗", **proven(settled)))
    assert asked.responses == ["utter_bill_no_arrears"]


async def test_a_bill_status_spelt_by_another_billing_system_reads_as_the_label(kefu_env, run_action):  # noqa: F811
    from bot.db.repository import Repository

    settled = add_customer(Repository(kefu_env.database_url), "13912340005", 0, ["unpaid", " UNPAID "])
    turn = await run_action("action_query_bill", load_tracker("query_bill", **proven(settled)))
    lines = turn.message("utter_bill_summary")["bill_lines"]
    assert lines.count("未缴") == 2 and "UNPAID" not in lines


def test_contacts_plan_shows_who_would_be_reminded_and_schedules_nothing(kefu_env, capsys):
    """Going live: the first pass on an imported customer base reminds everyone in arrears at once;
    `kefu contacts plan` shows whom beforehand (the demo's 李娜 owes 318.00) and writes nothing."""
    from bot.cli import main
    from bot.db.repository import Repository

    repository = Repository(kefu_env.database_url)
    owing = add_customer(repository, "13912340006", -12300, ["paid"])
    assert main(["contacts", "plan"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    arrears = {int(row[2]): row[6] for row in lines if row and row[0] == "arrears_reminder"}  # 6: details
    lina = repository.find_customer(phone="13800000002").id
    assert arrears == {lina: "amount=318.00", owing: "amount=123.00"}
    assert "nothing was written" in out
    assert Schedule(repository).listing() == []
