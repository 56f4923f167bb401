"""The user-experience ledger on a seeded database: steps, owners, due times, overdue and repeat flags, the CLI."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.cli import main
from bot.db.repository import Repository, TicketTransitionError
from bot.ledger.ledger import Ledger
from bot.ledger.rules import LedgerRulesError, load_rules, parse_rules
from tests.ledger.seeding import backdate


@pytest.fixture
def repo(kefu_env):
    return Repository(kefu_env.database_url)


@pytest.fixture
def rules(kefu_env):
    return load_rules(kefu_env.content_dir / "ledger.yml")


@pytest.fixture
def ledger(repo, rules):
    return Ledger(repo, rules)


def fault(repo, customer_id: int, fault_type: str = "fault_broadband", channel: str = "webchat") -> str:
    return repo.create_ticket(kind="fault", customer_id=customer_id, summary=fault_type, channel=channel,
                              details={"fault_type": fault_type, "fault_code": None})


def test_a_ticket_moves_through_every_step_with_its_owner_and_history(ledger, repo, rules):
    ticket_id = fault(repo, 1)
    item = ledger.item(ticket_id)
    assert (item.step, item.next_step, item.owner) == ("registered", "acted_on", None)

    steps = []
    for who, note in [("wang", "remote reset of the ONT"), ("wang", "told by phone"), ("li", "called back: fixed")]:
        item = ledger.close_step(ticket_id, who, note)
        steps.append(item.step)
    assert steps == ["acted_on", "customer_told", "follow_up_done"]
    assert item.next_step is None and item.due_at is None and not item.overdue
    assert item.owner == "wang", "the first to act owns the item; later closers do not take it over"
    assert [s.step for s in item.steps] == ["registered", "acted_on", "customer_told", "follow_up_done"]
    history = repo.ticket_history(ticket_id)
    assert [h["to_status"] for h in history] == ["open", "assigned", "resolved", "customer_told", "follow_up_done"]
    assert "li" in history[-1]["note"] and "fixed" in history[-1]["note"]
    with pytest.raises(TicketTransitionError):
        ledger.close_step(ticket_id, "li")


def test_each_step_is_due_after_registration_by_the_hours_of_its_ticket_type(ledger, repo, rules):
    complaint = repo.create_ticket(kind="complaint", customer_id=2, summary="rude installer")
    item = ledger.item(complaint)
    hours = rules.due_hours["complaint"]["acted_on"]
    assert item.due_at == item.registered_at + dt.timedelta(hours=hours)
    assert not ledger.item(complaint, now=item.registered_at + dt.timedelta(hours=hours - 0.1)).overdue
    assert ledger.item(complaint, now=item.registered_at + dt.timedelta(hours=hours + 0.1)).overdue

    ledger.close_step(complaint, "zhao")
    later = ledger.item(complaint, now=item.registered_at + dt.timedelta(hours=hours + 0.1))
    assert later.next_step == "customer_told" and not later.overdue
    assert later.due_at == item.registered_at + dt.timedelta(hours=rules.due_hours["complaint"]["customer_told"])

    unknown_type = repo.create_ticket(kind="relocation", customer_id=2, summary="moving house")
    assert ledger.item(unknown_type).due_at == ledger.item(unknown_type).registered_at + dt.timedelta(
        hours=rules.due_hours["default"]["acted_on"])


def test_the_same_fault_again_within_the_window_on_any_channel_is_a_repeat(ledger, repo, rules):
    first = fault(repo, 1, channel="webchat")
    backdate(repo, first, rules.repeat_window / 2)
    again = fault(repo, 1, channel="ivr")
    other_fault = fault(repo, 1, fault_type="fault_tv")
    other_customer = fault(repo, 3)
    old = fault(repo, 4)
    backdate(repo, old, rules.repeat_window + dt.timedelta(days=1))
    old_again = fault(repo, 4)
    items = {i.ticket_id: i for i in ledger.items()}
    assert items[again].repeat_of == (first,)
    assert items[first].repeat_of == ()
    assert items[other_fault].repeat_of == () and items[other_customer].repeat_of == ()
    assert items[old_again].repeat_of == ()


def test_a_reopened_ticket_must_be_acted_on_again(ledger, repo):
    ticket_id = fault(repo, 2)
    ledger.close_step(ticket_id, "wang")
    ledger.close_step(ticket_id, "wang")
    repo.move_ticket(ticket_id, "open", note="customer: still broken")
    item = ledger.item(ticket_id)
    assert (item.step, item.next_step) == ("registered", "acted_on")
    assert ledger.close_step(ticket_id, "wang").step == "acted_on"


def test_the_cli_lists_overdue_and_repeat_items_and_closes_steps(kefu_env, ledger, repo, rules, capsys):
    from bot.handoff.accounts import AccountStore

    AccountStore(kefu_env.database_url).add("wang", "wang-password", ["tv"])
    late = repo.create_ticket(kind="callback", customer_id=1, summary="call me back")
    backdate(repo, late, dt.timedelta(hours=rules.due_hours["callback"]["acted_on"] + 1))
    fresh = repo.create_ticket(kind="service_change", customer_id=2, summary="upgrade")
    first = fault(repo, 3)
    repeat = fault(repo, 3, channel="wechat")

    assert main(["ledger", "list", "--overdue"]) == 0
    out = capsys.readouterr().out
    assert late in out and fresh not in out and rules.flag_labels["overdue"] in out

    assert main(["ledger", "list", "--repeat"]) == 0
    out = capsys.readouterr().out
    assert repeat in out and first in out.split(repeat, 1)[1] and fresh not in out

    assert main(["ledger", "done", late, "--by", "wang", "--note", "called"]) == 0
    assert rules.step_labels["acted_on"] in capsys.readouterr().out
    assert main(["ledger", "list", "--owner", "wang"]) == 0
    out = capsys.readouterr().out
    assert late in out and fresh not in out
    assert main(["ledger", "done", "TK999999", "--by", "wang"]) == 1


@pytest.mark.parametrize("raw, reason", [
    ({"due_hours": {"fault": {"acted_on": 1, "customer_told": 2, "follow_up_done": 3}}, "repeat_window_days": 7},
     "default"),
    ({"due_hours": {"default": {"acted_on": 5, "customer_told": 2, "follow_up_done": 9}}, "repeat_window_days": 7},
     "no earlier"),
    ({"due_hours": {"default": {"acted_on": 1, "customer_told": 2}}, "repeat_window_days": 7}, "follow_up_done"),
    ({"due_hours": {"default": {"acted_on": 1, "customer_told": 2, "follow_up_done": 3}}}, "repeat_window_days"),
])
def test_bad_ledger_rules_name_the_file_and_the_reason(raw, reason):
    with pytest.raises(LedgerRulesError, match=reason) as caught:
        parse_rules(raw, "content/ledger.yml")
    assert "content/ledger.yml" in str(caught.value)


def test_the_monthly_summary_counts_the_months_items_by_step_and_flag(ledger, repo, rules, capsys):
    from bot.ledger.ledger import monthly_summary

    done = fault(repo, 1)
    for _ in range(3):
        ledger.close_step(done, "wang")
    fault(repo, 1)  # a repeat of the first
    late = repo.create_ticket(kind="visit", customer_id=2, summary="visit")
    backdate(repo, late, dt.timedelta(hours=rules.due_hours["visit"]["acted_on"] + 1))
    last_month = repo.create_ticket(kind="visit", customer_id=2, summary="old")
    backdate(repo, last_month, dt.timedelta(days=40))
    from bot.analytics.config import centre_zone, local_time

    items, zone = ledger.items(), centre_zone()
    month = local_time(ledger.item(done).registered_at, zone)[:7]  # the centre's month
    expected = [i for i in items if local_time(i.registered_at, zone)[:7] == month]
    summary = monthly_summary(items, rules, month, zone)
    assert summary.registered == len(expected) and last_month not in {i.ticket_id for i in expected}
    assert summary.by_step["follow_up_done"] == 1 and summary.closed_in_time == 1
    assert summary.repeats == 1 and summary.overdue == sum(i.overdue for i in expected)
    assert summary.by_kind["fault"] == 2
    assert summary.by_kind_step["fault"] == {"registered": 1, "acted_on": 0, "customer_told": 0, "follow_up_done": 1}
    assert summary.median_hours_to["follow_up_done"] is not None and summary.median_hours_to["follow_up_done"] < 0.1

    assert main(["ledger", "summary", "--month", month]) == 0
    out = capsys.readouterr().out
    assert f"{summary.registered} registered" in out and rules.step_labels["follow_up_done"] in out
    assert f"median hours to {rules.step_labels['follow_up_done']}: {summary.median_hours_to['follow_up_done']:g}" in out


def test_the_cli_shows_due_times_in_the_centres_zone_and_says_which(ledger, repo, capsys):
    """Found by a tester: `kefu ledger list` printed UTC while the report and the desk's promises are in
    the centre's zone (content/kpi.yml), so a supervisor had to add 8 hours."""
    from zoneinfo import ZoneInfo

    ticket_id = repo.create_ticket(kind="complaint", customer_id=2, summary="rude installer")
    due = ledger.item(ticket_id).due_at.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo("Asia/Shanghai"))
    assert main(["ledger", "list", "--kind", "complaint"]) == 0
    out = capsys.readouterr().out
    assert "Asia/Shanghai" in out.splitlines()[0] and "UTC" not in out
    line = next(row for row in out.splitlines() if row.startswith(ticket_id))
    assert due.strftime("%Y-%m-%d %H:%M") in line


def test_assigning_a_ticket_to_an_unknown_agent_is_refused(kefu_env, ledger, repo, capsys):
    """Found by a tester: `kefu ledger assign TK000001 nobody_such_agent` made the typo the owner."""
    from bot.handoff.accounts import AccountStore

    ticket_id = repo.create_ticket(kind="visit", customer_id=2, summary="install")
    assert main(["ledger", "assign", ticket_id, "nobody_such_agent"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kefu: error:") and "nobody_such_agent" in err
    assert ledger.item(ticket_id).owner is None
    AccountStore(kefu_env.database_url).add("wang", "wang-password", ["tv"])
    assert main(["ledger", "assign", ticket_id, "wang"]) == 0
    assert ledger.item(ticket_id).owner == "wang"
    assert main(["ledger", "assign", "TK999999", "wang"]) == 1
    assert capsys.readouterr().err.startswith("kefu: error: no ticket")


def test_closing_a_step_by_an_unknown_agent_is_refused(kefu_env, ledger, repo, capsys):
    """Found by a tester: `kefu ledger done TK… --by wnag` made the typo the one who closed the step (and its owner)."""
    from bot.handoff.accounts import AccountStore

    ticket_id = repo.create_ticket(kind="visit", customer_id=2, summary="install")
    assert main(["ledger", "done", ticket_id, "--by", "nobody_such_agent"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kefu: error:") and "nobody_such_agent" in err
    item = ledger.item(ticket_id)
    assert (item.step, item.owner) == ("registered", None)
    assert all("nobody_such_agent" not in (h["note"] or "") for h in repo.ticket_history(ticket_id))
    AccountStore(kefu_env.database_url).add("wang", "wang-password", ["tv"])
    assert main(["ledger", "done", ticket_id, "--by", "wang"]) == 0
    assert (ledger.item(ticket_id).step, ledger.item(ticket_id).owner) == ("acted_on", "wang")


async def test_the_agent_who_closes_a_handoff_owns_its_ledger_item(ledger, repo):
    """Found by a tester: the ledger's owner stayed '-' after agents resolved or created tickets at the desk."""
    from bot.handoff.queue import HandoffRequest
    from bot.handoff.tickets import disposition_ticket

    def request(conversation_id: str, **context) -> HandoffRequest:
        return HandoffRequest(conversation_id=conversation_id, channel="rest", skill="billing", priority=0,
                              customer_id="2", context=context)

    resolved = await disposition_ticket(request("own-1"), "resolved", "", "ops_bill")
    follow_up = await disposition_ticket(request("own-2"), "ticket", "登记账单核查", "ops_bill")
    callback = repo.create_ticket(kind="callback", customer_id=2, summary="call me", needs_human=True)
    assert await disposition_ticket(request("own-3", callback={"ticket_id": callback}), "resolved", "called",
                                    "ops_tv") == callback
    assert [ledger.item(t).owner for t in (resolved, follow_up, callback)] == ["ops_bill", "ops_bill", "ops_tv"]
    ledger.assign(follow_up, "demo")
    await disposition_ticket(request("own-4", callback={"ticket_id": follow_up}), "resolved", "", "ops_tv")
    assert ledger.item(follow_up).owner == "demo", "an owner a supervisor chose is kept"


def test_a_visit_callback_or_complaint_about_a_fault_is_not_the_fault_again(ledger, repo):
    """Found by a tester: the visit booked to fix TK000001 was flagged 重复报障(TK000001,…), and one
    outage counted five repeat problems in the month."""
    repair = fault(repo, 1)
    about_it = [repo.create_ticket(kind=kind, customer_id=1, summary=kind,
                                   details={"fault_type": "fault_broadband", "related_ticket": repair})
                for kind in ("visit", "callback", "complaint")]
    reported_again = fault(repo, 1, channel="phone")

    items = {i.ticket_id: i for i in ledger.items()}
    assert [items[t].repeat_of for t in about_it] == [(), (), ()]
    assert items[reported_again].repeat_of == (repair,), "a fault reported again still is a repeat, of the fault only"


def test_the_cli_shows_the_dispatch_systems_job_number(ledger, repo, capsys):
    """Found by the operator's integration developer: the ledger page showed the job number the dispatch
    system gave a ticket (details.external_ref), `kefu ledger list` did not."""
    from bot.dispatch.status import StatusRequest, apply_status

    numbered = fault(repo, 1)
    apply_status(repo, numbered, StatusRequest(status="assigned", external_ref="FSM-7781"))
    plain = fault(repo, 2)
    assert main(["ledger", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "job" in lines[0]
    assert next(row for row in lines if row.startswith(numbered)).split()[1] == "FSM-7781"
    assert next(row for row in lines if row.startswith(plain)).split()[1] == "-"
