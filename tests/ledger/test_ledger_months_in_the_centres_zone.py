"""The ledger's month is the centre's month (``timezone`` in content/kpi.yml, Asia/Shanghai), as every
time the ledger shows is: a ticket registered at 01:00 on 1 December in Beijing (17:00 on 30 November
UTC) was counted in November's summary for the monthly review, and ``kefu ledger list --month``
left it out of December. A month that is no month was a traceback."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.db.repository import Repository
from bot.db.schema import tickets

# 01:00 on 1 December 2026 in Beijing.
REGISTERED_UTC = dt.datetime(2026, 11, 30, 17, 0)


@pytest.fixture
def early_ticket(kefu_env) -> str:
    repo = Repository(kefu_env.database_url)
    ticket_id = repo.create_ticket(kind="fault", customer_id=1, summary="no signal",
                                   details={"fault_type": "fault_tv"})
    with repo.engine.begin() as conn:
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(created_at=REGISTERED_UTC))
    return ticket_id


def registered(out: str) -> int:
    first = out.splitlines()[0]  # "ledger 2026-12: N registered, ..."
    return int(first.split(": ", 1)[1].split(" registered")[0])


def test_the_monthly_summary_counts_a_ticket_in_the_centres_month(early_ticket, capsys):
    assert main(["ledger", "summary", "--month", "2026-12"]) == 0
    assert registered(capsys.readouterr().out) == 1
    assert main(["ledger", "summary", "--month", "2026-11"]) == 0
    assert registered(capsys.readouterr().out) == 0


def test_the_list_of_a_month_holds_the_tickets_registered_in_the_centres_month(early_ticket, capsys):
    assert main(["ledger", "list", "--month", "2026-12"]) == 0
    assert early_ticket in capsys.readouterr().out
    assert main(["ledger", "list", "--month", "2026-11"]) == 0
    assert early_ticket not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["list", "summary"])
def test_a_month_that_is_no_month_is_refused_with_its_form(kefu_env, capsys, command):
    with pytest.raises(SystemExit) as stopped:
        main(["ledger", command, "--month", "2026-13"])
    assert stopped.value.code == 2
    assert "YYYY-MM" in capsys.readouterr().err
