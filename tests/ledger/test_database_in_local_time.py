"""A PostgreSQL server set to China's time (``timezone = 'Asia/Shanghai'``, what initdb takes from
the operating system of a server in China) still gets UTC: the ticket's registration time, which the
ledger's due times and the follow-up contacts count from, is written by the server's ``now()`` and
compared with Kefu's UTC clock. In the server's local time every due time came eight hours late."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.db.repository import Repository
from bot.ledger.ledger import Ledger
from bot.ledger.rules import load_rules
from tests.postgres import fresh_database_url, postgres_server_url


@pytest.mark.skipif(not postgres_server_url(), reason="needs a PostgreSQL server (KEFU_TEST_POSTGRES_URL)")
def test_a_ticket_registered_on_a_server_in_china_is_due_by_utc(kefu_env):
    url = fresh_database_url(postgres_server_url())
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Shanghai'"))
    admin.dispose()

    repository = Repository(url)
    repository.create_schema()
    before = dt.datetime.utcnow().replace(microsecond=0)
    ticket_id = repository.create_ticket(kind="fault", customer_id=None, summary="no signal",
                                         details={"fault_type": "tv"})
    after = dt.datetime.utcnow() + dt.timedelta(seconds=1)
    rules = load_rules(kefu_env.content_dir / "ledger.yml")
    item = next(i for i in Ledger(repository, rules).items() if i.ticket_id == ticket_id)
    assert before <= item.registered_at <= after
    assert item.due_at == rules.due("fault", "acted_on", item.registered_at)  # 4 hours from now, in UTC
    assert before <= repository.ticket_history(ticket_id)[0]["at"] <= after
