"""An erased customer's open callback is not booked again: the erasure deletes the scheduled contact
(and with it the key that kept the planner from adding it twice), so the planner must not read the
anonymised ticket as a callback still to offer to the agents, with nobody's number."""
from __future__ import annotations

from bot.contacts.planner import Planner
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores


def test_an_erased_customers_callback_is_not_scheduled_again(env):  # noqa: F811
    import datetime as dt

    settings, _client, _seeded = env
    repository = Repository(settings.database_url)
    planner = Planner(repository, load_rules(settings.content_dir / "contacts.yml"),
                      load_ledger_rules(settings.content_dir / "ledger.yml"))
    callback = repository.create_ticket(kind="callback", customer_id=1, summary="请回电",
                                        details={"callback_phone": "13800000001", "skill": "tv"},
                                        channel="ivr", conversation_id="ivr:f1")
    now = dt.datetime.utcnow()
    planner.plan(now)
    assert [c["ticket_id"] for c in Schedule(repository).listing(purpose="callback")] == [callback]

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert Schedule(repository).listing(purpose="callback") == []
    # Any later ticket change makes the next pass read the recent history again, the callback's too.
    repository.create_ticket(kind="fault", customer_id=2, summary="宽带断了", details={"fault_type": "broadband"})
    planner.plan(now)
    planner.plan(now + dt.timedelta(minutes=1))
    assert Schedule(repository).listing(purpose="callback") == []
