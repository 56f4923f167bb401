"""Demo data stays out of production (deployer's finding 3): the 4 demo customers of
content/demo/seed.yml, whose service passwords are published, were loaded into an external
PostgreSQL by every `kefu run`, and the contacts worker then placed an automated arrears call to
the demo number 13800000002, a real-format mobile number."""
from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from bot.contacts.commands import contact_withheld_phones
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository
from bot.db.schema import customers
from bot.settings import from_environment

OWING_PHONE = "13800000002"  # the demo customer with arrears (content/demo/seed.yml)


def test_an_external_database_gets_no_demo_customers_unless_asked(tmp_path):
    from bot.stack import KefuStack

    # An external database (any URL that is not the embedded SQLite counts; SQLite stands in for
    # PostgreSQL here, so the setting is forced the way an external URL decides it).
    external = from_environment({"KEFU_DATA_DIR": str(tmp_path / "var"),
                                 "KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}"})
    assert from_environment({"KEFU_DATABASE_URL": "postgresql://kefu@db/kefu"}).demo_data_wanted is False
    assert from_environment({"KEFU_DATA_DIR": str(tmp_path / "var")}).demo_data_wanted is True  # embedded
    production = dataclasses.replace(external, demo_data="off")
    stack = KefuStack(production, model=tmp_path / "unused.tar.gz")
    stack.prepare()
    with Repository(production.database_url).engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one() == 0
    asked = dataclasses.replace(production, demo_data="on")
    KefuStack(asked, model=tmp_path / "unused.tar.gz").prepare()
    assert Repository(asked.database_url).find_customer(phone=OWING_PHONE) is not None


async def test_no_automated_contact_reaches_a_demo_customer_without_demo_data(kefu_env, repository, make_worker,
                                                                              telephony, monkeypatch):
    """A database an older Kefu seeded: with demo data not asked for, nobody is dialled."""
    monkeypatch.setenv("KEFU_DEMO_DATA", "off")
    settings = from_environment()
    worker = make_worker(withheld_phones=contact_withheld_phones(settings))
    counts = await worker.run_pass()
    assert counts.get("scheduled")  # the arrears reminder is planned as before ...
    assert not [c for c in telephony.calls if c.to == OWING_PHONE]  # ... but never placed
    arrears = Schedule(repository).listing(purpose="arrears")
    assert arrears and {(c["status"], c["result"]) for c in arrears} == {("blocked", "demo_customer")}


def test_a_deployment_with_demo_data_still_calls_its_demo_customers(kefu_env):
    assert kefu_env.demo_data_wanted and contact_withheld_phones(kefu_env) == frozenset()
    off = dataclasses.replace(kefu_env, demo_data="off")
    assert OWING_PHONE in contact_withheld_phones(off)
