"""The ledger at a centre's scale (review: every page load and every click read every ticket ever filed and
its whole history: 18 s a page load at 100,000 tickets on SQLite, 17 s each ``item()``, three per click).

The page, ``item()`` and the month's figures are checked against the ledger built from every ticket (what
the ledger used to compute), and their database work is recorded with an SQLAlchemy listener: the same
statements and the same rows read, through indexes, whether the database holds few old finished tickets
or thousands.
"""
from __future__ import annotations

import datetime as dt
import json
import types

import pytest
import sqlalchemy as sa

from bot.analytics.config import centre_zone, local_time
from bot.channels import ledger_desk
from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.sessions import COOKIE
from bot.ledger.ledger import FINISHED_SHOWN, Ledger, build_items, month_span, monthly_summary
from bot.ledger.rules import load_rules
from tests.handoff.conftest import clock, events, queue, redis, redis_url, rules  # noqa: F401 - a real Redis
from tests.ledger.seeding import backdate, old_finished_tickets

DAY = dt.timedelta(days=1)


async def ledger_page_data(desk: Desk, token: str, args: dict) -> types.SimpleNamespace:
    """The ledger page's API answer (``/agent/api/ledger?...``), as the page's 5-second refresh asks for it."""
    app = types.SimpleNamespace(ctx=types.SimpleNamespace(kefu_desk=desk))
    request = types.SimpleNamespace(app=app, cookies={COOKIE: token}, method="GET", path="/agent/api/ledger",
                                    headers={}, args=args)
    return await ledger_desk.ledger_items(request)


@pytest.fixture
def ledger_rules(kefu_env):
    return load_rules(kefu_env.content_dir / "ledger.yml")


@pytest.fixture
def repo(kefu_env):
    return Repository(kefu_env.database_url)


def fault(repo, customer_id, fault_type="fault_broadband", channel="webchat") -> str:
    return repo.create_ticket(kind="fault", customer_id=customer_id, summary=fault_type, channel=channel,
                              details={"fault_type": fault_type, "fault_code": None})


def finish(repo, ticket_id, *moves) -> str:
    for move in moves or ("assigned", "resolved", "customer_told", "follow_up_done"):
        repo.move_ticket(ticket_id, move, note=f"-> {move}")
    return ticket_id


def seed_mix(repo, rules) -> dict[str, str]:
    """Tickets as a centre's ledger holds them: repeats in and out of the window, finished and not, old and
    new, reopened, owned, overdue, other kinds, one without a customer."""
    window = rules.repeat_window
    made = {
        # customer 1: a fault reported three times; the first is past the window of the third
        "c1_first": finish(repo, fault(repo, 1)), "c1_second": finish(repo, fault(repo, 1, channel="ivr")),
        "c1_third": fault(repo, 1), "c1_tv": fault(repo, 1, "fault_tv"),
        # customer 2: a repair left open two months, a visit about it (no repeat), a reopened complaint
        "c2_old_open": finish(repo, fault(repo, 2), "assigned"),
        "c2_visit": repo.create_ticket(kind="visit", customer_id=2, summary="visit",
                                       details={"fault_type": "fault_broadband", "visit_time": "明天上午"}),
        "c2_repeat": fault(repo, 2),
        "c2_complaint": finish(repo, repo.create_ticket(kind="complaint", customer_id=2, summary="complaint"),
                               "assigned", "resolved", "open"),
        # customer 3: two reports the same day, one finished
        "c3_a": finish(repo, fault(repo, 3)), "c3_b": fault(repo, 3, channel="wechat"),
        # customer 4: an overdue callback with an owner, an old finished report
        "c4_callback": repo.create_ticket(kind="callback", customer_id=4, summary="call me"),
        "c4_old_done": finish(repo, fault(repo, 4)),
        "nobody": repo.create_ticket(kind="voice_message", customer_id=None, summary="voicemail"),
    }
    backdate(repo, made["c1_first"], window + FINISHED_SHOWN / 2)   # finished, not shown; repeat context only
    backdate(repo, made["c1_second"], FINISHED_SHOWN - DAY)          # finished, shown with --all
    backdate(repo, made["c2_old_open"], 2 * window)                 # unfinished: shown however old
    backdate(repo, made["c2_repeat"], window + DAY)                 # a repeat of that repair, 29 days after it
    backdate(repo, made["c4_callback"], dt.timedelta(hours=rules.due_hours["callback"]["acted_on"] + 1))
    backdate(repo, made["c4_old_done"], 3 * window)
    repo.set_ticket_owner(made["c4_callback"], "wang")
    return made


def every_ticket(repo, rules, now):
    """The ledger as it used to be computed: every ticket and every history."""
    tickets = repo.tickets_since()
    return build_items(tickets, repo.ticket_histories([t["ticket_id"] for t in tickets]), rules, now)


def test_the_page_each_item_and_a_months_figures_are_as_when_every_ticket_was_read(repo, ledger_rules):
    rules = ledger_rules
    made = seed_mix(repo, rules)
    old_finished_tickets(repo, 300, [1, 2, 3, 4], dt.datetime.utcnow() - 4 * rules.repeat_window)
    now = dt.datetime.utcnow() + dt.timedelta(hours=1)
    ledger, reference = Ledger(repo, rules), every_ticket(repo, rules, now)
    by_id = {i.ticket_id: i for i in reference}
    assert by_id[made["c1_third"]].repeat_of == (made["c1_second"],)  # the mix has what it is for
    assert by_id[made["c1_second"]].repeat_of == (made["c1_first"],)
    assert by_id[made["c3_b"]].repeat_of == (made["c3_a"],) and by_id[made["c4_callback"]].overdue

    assert ledger.current_items(now=now) == [i for i in reference if i.next_step]  # the page as agents see it
    shown = ledger.current_items(now=now, finished=True)  # with 已完成 ticked
    assert shown == [i for i in reference if i.next_step or i.registered_at >= now - FINISHED_SHOWN]
    assert made["c2_old_open"] in {i.ticket_id for i in shown} and made["c1_first"] not in {i.ticket_id for i in shown}
    assert made["c1_second"] in {i.ticket_id for i in shown}
    for item in reference:
        assert ledger.item(item.ticket_id.lower(), now=now) == item

    since, until = now - rules.repeat_window - 10 * DAY, now - 5 * DAY  # c2_repeat's repair is before it
    assert ledger.items(now=now, since=since, until=until) == [i for i in reference if since <= i.registered_at < until]
    zone = centre_zone()
    for ticket in ("c1_second", "c1_first", "c4_old_done"):
        month = local_time(by_id[made[ticket]].registered_at, zone)[:7]
        start, end = month_span(month, zone)
        assert (monthly_summary(ledger.items(now=now, since=start, until=end), rules, month, zone)
                == monthly_summary(reference, rules, month, zone))


class Statements:
    """Every statement the ledger sends (with its parameters), to count them and the rows they read."""

    def __init__(self, engine) -> None:
        self.engine, self.sent, self.recording = engine, [], False
        sa.event.listen(engine, "before_cursor_execute", self.record)

    def record(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        if self.recording:
            self.sent.append((statement, parameters))

    def rows_read(self) -> int:
        """Rows the recorded SELECTs return when run again."""
        with self.engine.connect() as conn:
            return sum(len(conn.exec_driver_sql(s, p).all()) for s, p in self.sent if s.lstrip().startswith("SELECT"))

    def full_scans(self) -> list[str]:
        """SQLite's plan lines reading a ledger table through (PostgreSQL's planner is left to itself)."""
        if self.engine.dialect.name != "sqlite":
            return []
        with self.engine.connect() as conn:
            return [f"{line[-1]}: {s} {p}" for s, p in self.sent if s.lstrip().startswith("SELECT")
                    for line in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p).all()
                    if line[-1].split(" ")[:2] in (["SCAN", "tickets"], ["SCAN", "ticket_history"],
                                                    ["SCAN", "contacts"])]

    def __enter__(self):
        self.sent, self.recording = [], True
        return self

    def __exit__(self, *_):
        self.recording = False
        return False


async def test_a_page_load_and_a_click_read_as_much_with_thousands_of_old_finished_tickets_as_with_none(
        kefu_env, repo, ledger_rules, queue):  # noqa: F811
    rules = ledger_rules
    AccountStore(kefu_env.database_url).add("lin", "lin-pass-1", ["tv"], role="supervisor")
    desk = Desk(queue, None, AccountStore(kefu_env.database_url), repo)
    token, _ = await desk.login("lin", "lin-pass-1")
    made = seed_mix(repo, rules)
    ledger, statements = Ledger(repo, rules), Statements(repo.engine)

    async def load(args) -> tuple[dict, int, int, list[str]]:
        with statements:
            page = json.loads((await ledger_page_data(desk, token, args)).body)
        return page, len(statements.sent), statements.rows_read(), statements.full_scans()

    def click(ticket_id) -> tuple[object, int, int, list[str]]:
        with statements:
            item = ledger.item(ticket_id)
        return item, len(statements.sent), statements.rows_read(), statements.full_scans()

    page_before, clicks_before = [await load(args) for args in ({}, {"all": "1"})], [click(t) for t in made.values()]
    # The same customers' tickets of months before: older than any listed item's repeat window.
    old_finished_tickets(repo, 3000, [1, 2, 3, 4], dt.datetime.utcnow() - 4 * rules.repeat_window - DAY)
    page_after, clicks_after = [await load(args) for args in ({}, {"all": "1"})], [click(t) for t in made.values()]

    assert [p[0] for p in page_after] == [p[0] for p in page_before]
    assert [c[0] for c in clicks_after] == [c[0] for c in clicks_before]
    assert [p[1:3] for p in page_after] == [p[1:3] for p in page_before], "a page load reads more"
    assert [c[1:3] for c in clicks_after] == [c[1:3] for c in clicks_before], "a click reads more"
    assert all(p[3] == [] for p in page_after) and all(c[3] == [] for c in clicks_after), "a table read through"
