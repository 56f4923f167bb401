"""A contact scheduled from the customer's record goes to their number as it is when it is made.

Found in review: a follow-up is scheduled when the repair is resolved and made a day later; the contact
kept the number of the moment it was scheduled, so a number the nightly import changed meanwhile (a
customer who moved to a new SIM, the old one given to someone else later) still got the call about
their repair. A callback the customer booked keeps the number they gave for it."""
from __future__ import annotations

import sqlalchemy as sa

from bot.contacts.planner import Planner
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.db.schema import customers
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls, resolved_repair

NEW_PHONE = "13900000123"


async def test_a_follow_up_goes_to_the_number_the_customer_has_now(kefu_env, repository, make_worker, telephony,
                                                                   clock):
    resolved_repair(repository)
    planner = Planner(repository, load_rules(kefu_env.content_dir / "contacts.yml"),
                      load_ledger_rules(kefu_env.content_dir / "ledger.yml"))
    schedule = Schedule(repository)
    (contact_id,) = [c for c in planner.plan(clock.now) if schedule.get(c)["purpose"] == "followup"]
    assert schedule.get(contact_id)["phone"] == CUSTOMER_PHONE  # scheduled when the repair was resolved
    with repository.engine.begin() as conn:  # tonight's import: the customer has a new number
        conn.execute(customers.update().where(customers.c.phone == CUSTOMER_PHONE).values(phone=NEW_PHONE))

    await make_worker().run_pass()

    assert followup_calls(telephony, CUSTOMER_PHONE) == [], "nobody calls the number they gave up"
    assert len(followup_calls(telephony, NEW_PHONE)) == 1
    assert schedule.get(contact_id)["phone"] == NEW_PHONE
