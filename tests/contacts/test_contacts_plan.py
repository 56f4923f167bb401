"""`kefu contacts plan` shows what the worker will really do (operator's finding before go-live).

The dry run listed every contact a pass would schedule as if it would be made: a customer who had
replied 退订, a withheld demo number, a reminder due at 22:00 that in fact goes out at 08:00. It now
asks the worker's own checks (bot/contacts/decision.py) and says, line by line, when each contact is
made or why it is not; and it still writes nothing.
"""
from __future__ import annotations

import datetime as dt
import shutil

import pytest
import redis as sync_redis
import sqlalchemy as sa

from bot import settings as settings_module
from bot.analytics.config import centre_zone, local_time
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.db.schema import contact_attempts, contacts, customers
from tests.contacts.conftest import CUSTOMER_PHONE, resolved_repair

OWING_PHONE = "13800000002"  # 李娜, the demo customer in arrears (owes 318.00)


def run_plan(capsys) -> tuple[dict[tuple[str, int], str], str]:
    """(rule, customer id) -> that contact's line, and the whole output."""
    from bot.cli import main

    assert main(["contacts", "plan"]) == 0
    out = capsys.readouterr().out
    lines = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) > 2 and words[2].isdigit():
            lines[(words[0], int(words[2]))] = line
    return lines, out


def customer_id(repository, phone: str) -> int:
    return repository.find_customer(phone=phone).id


def add_owing_customer(repository, phone: str, balance_cents: int) -> int:
    with repository.engine.begin() as conn:
        return conn.execute(customers.insert().values(
            phone=phone, account_number=f"9{phone[-9:]}", name="导入客户", vip_tier=0, address="",
            balance_cents=balance_cents)).inserted_primary_key[0]


@pytest.fixture
def contact_rules(kefu_env, tmp_path, monkeypatch):
    """Edit a copy of the content's contacts.yml (``{old: new}`` replacements); returns the rules read back."""
    content = tmp_path / "content"
    shutil.copytree(kefu_env.content_dir, content)
    monkeypatch.setenv("KEFU_CONTENT_DIR", str(content))
    settings_module.get_settings.cache_clear()

    def edit(**replacements: str):
        path = content / "contacts.yml"
        text = path.read_text(encoding="utf-8")
        for old, new in replacements.items():
            assert old in text
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
        return load_rules(path)
    return edit


def local_clock(rules, moment: dt.datetime) -> str:
    return rules.local(moment).strftime("%H:%M")


def quiet_hours_around(moment: dt.datetime, rules, start: dt.timedelta, end: dt.timedelta) -> dict:
    return {"quiet_hours: {start: \"21:00\", end: \"08:00\"}":
            f"quiet_hours: {{start: \"{local_clock(rules, moment + start)}\", end: \"{local_clock(rules, moment + end)}\"}}"}


def test_an_opted_out_customer_is_shown_skipped_with_the_reason(kefu_env, repository, capsys):
    from bot.cli import main

    other = add_owing_customer(repository, "13912340007", -2000)
    third = add_owing_customer(repository, "13912340008", -3000)
    Schedule(repository).block(f"phone:{OWING_PHONE}", "opt_out", via="sms_reply")  # she replied 退订
    assert main(["contacts", "dnd", "13912340008"]) == 0
    lines, out = run_plan(capsys)
    assert "skipped: opted out" in lines[("arrears_reminder", customer_id(repository, OWING_PHONE))]
    assert "skipped: do-not-disturb" in lines[("arrears_reminder", third)]
    assert "skipped" not in lines[("arrears_reminder", other)]
    assert "  1 skipped: opted out" in out.splitlines() and "  1 skipped: do-not-disturb" in out.splitlines()


def test_a_withheld_demo_number_shows_as_withheld(kefu_env, repository, monkeypatch, capsys):
    monkeypatch.setenv("KEFU_DEMO_DATA", "off")  # a production database an older Kefu seeded
    settings_module.get_settings.cache_clear()
    lines, out = run_plan(capsys)
    assert "skipped: withheld demo customer's number" in lines[("arrears_reminder",
                                                                customer_id(repository, OWING_PHONE))]
    assert "  1 skipped: withheld demo customer's number" in out.splitlines()


def test_a_contact_due_in_quiet_hours_shows_when_it_goes_out(kefu_env, repository, contact_rules, capsys):
    now = dt.datetime.utcnow()
    rules = contact_rules()
    rules = contact_rules(**quiet_hours_around(now, rules, -dt.timedelta(hours=1), dt.timedelta(hours=2)))
    goes_out = local_time(rules.quiet_hours_end(now), centre_zone())
    lines, out = run_plan(capsys)
    line = lines[("arrears_reminder", customer_id(repository, OWING_PHONE))]
    assert line.endswith(f" at {goes_out}, after the quiet hours")
    assert "  1 made, after the quiet hours" in out.splitlines()


def test_past_the_daily_limit_a_contact_shows_the_next_day(kefu_env, repository, contact_rules, capsys):
    """Twice today already (the limit): tomorrow when the quiet hours end; and the list's own contacts
    count too (a follow-up and a reminder due at once, with a limit of one a day)."""
    now = dt.datetime.utcnow()
    rules = contact_rules()
    away = quiet_hours_around(now, rules, dt.timedelta(hours=3), dt.timedelta(hours=4))  # not quiet now
    rules = contact_rules(**away)
    earlier = Schedule(repository).add(dedupe_key="care_suspension:T-earlier:1", purpose="care", rule="care_suspension",
                                       due_at=now, channels=["sms"], phone=OWING_PHONE)
    with repository.engine.begin() as conn:
        for _ in range(rules.daily_attempt_limit):
            conn.execute(contact_attempts.insert().values(contact_id=earlier, address=f"phone:{OWING_PHONE}",
                                                          channel="sms", result="placed", at=now))
    tomorrow = local_time(rules.next_day_open(now), centre_zone())
    lines, out = run_plan(capsys)
    assert lines[("arrears_reminder", customer_id(repository, OWING_PHONE))].endswith(
        f" at {tomorrow}, a later day: daily limit reached")

    rules = contact_rules(**{"daily_attempt_limit: 2": "daily_attempt_limit: 1",
                             "    delay_hours: 24\n    channels: [phone, sms]": "    delay_hours: 0\n    channels: [phone, sms]"})
    owing = add_owing_customer(repository, "13912340009", -3000)
    ticket = resolved_repair(repository, phone="13912340009")
    lines, out = run_plan(capsys)
    first, second = lines[("arrears_reminder", owing)], lines[("repair_followup", owing)]
    assert ticket in second
    assert [first.endswith(", a later day: daily limit reached"),
            second.endswith(", a later day: daily limit reached")].count(True) == 1


def line_of(out: str, rule: str, ticket_id: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{rule} ") and f" {ticket_id} " in line)


def worker_with(kefu_env, repository, rules, telephony, **extra):
    """A worker with the edited rules, placing calls on the loopback, at the wall clock (as the plan)."""
    from bot.contacts.dialer import Dialer
    from bot.contacts.worker import ContactWorker
    from bot.ledger.rules import load_rules as load_ledger_rules

    dialer = Dialer(telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000",
                    "ws://127.0.0.1:9/webhooks/ivr/media")
    return ContactWorker(repository, rules=lambda: rules,
                         ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                         dialer=dialer, **extra)


def postponed_for_the_limit(repository) -> set:
    """(rule, ticket) of the contacts the worker put off to a later day for the daily limit."""
    return {(row["rule"], row["ticket_id"]) for row in Schedule(repository).listing(limit=1000)
            if row["result"] == "daily_limit"}


async def test_contacts_already_scheduled_today_count_against_the_daily_limit(kefu_env, repository, contact_rules,
                                                                               telephony, capsys):
    """A retry after no answer is already in the schedule, after one attempt this morning: with a limit
    of 4, two of the customer's four new contacts are made today and two the next day — what the
    worker then does. (The plan counted the attempt made but not the retry: three today.)"""
    now = dt.datetime.utcnow()
    rules = contact_rules()
    rules = contact_rules(**quiet_hours_around(now, rules, dt.timedelta(hours=3), dt.timedelta(hours=4)),
                          **{"daily_attempt_limit: 2": "daily_attempt_limit: 4",
                             "    delay_hours: 24\n    channels: [phone, sms]":
                             "    delay_hours: 0\n    channels: [phone, sms]"})
    owing = customer_id(repository, OWING_PHONE)
    schedule = Schedule(repository)
    retry = schedule.add(dedupe_key="repair_followup:T-morning:1", purpose="followup", rule="repair_followup",
                         due_at=now - dt.timedelta(minutes=10), channels=["phone"], customer_id=owing,
                         phone=OWING_PHONE, ticket_id="T-morning")
    with repository.engine.begin() as conn:
        conn.execute(contact_attempts.insert().values(contact_id=retry, address=f"phone:{OWING_PHONE}", channel="phone",
                                                      result="placed", at=max(now - dt.timedelta(minutes=40),
                                                                              rules.day_start(now))))
        conn.execute(contacts.update().where(contacts.c.id == retry).values(attempts=1, result="no_answer"))
    tickets = [resolved_repair(repository, phone=OWING_PHONE) for _ in range(3)]
    lines, out = run_plan(capsys)
    later = ", a later day: daily limit reached"
    shown = {("repair_followup", ticket): line_of(out, "repair_followup", ticket) for ticket in tickets}
    shown[("arrears_reminder", None)] = lines[("arrears_reminder", owing)]
    assert [line.endswith(later) for line in shown.values()] == [False, False, True, True]
    assert ("Daily attempt limit 4 a customer: 1 attempt(s) already made today to these customers, "
            "1 more today by contacts already scheduled (retries included).") in out.splitlines()

    await worker_with(kefu_env, repository, rules, telephony).run_pass()
    assert postponed_for_the_limit(repository) == {key for key, line in shown.items() if line.endswith(later)}
    assert schedule.get(retry)["status"] == "calling"


async def test_a_callback_offered_to_agents_does_not_count_against_the_daily_limit(kefu_env, repository,
                                                                                  contact_rules, telephony, redis,
                                                                                  capsys):
    """The worker records no attempt when it offers a booked callback to the agents: the customer's
    arrears reminder goes out too, with a limit of one a day."""
    from bot.handoff.queue import HandoffQueue

    now = dt.datetime.utcnow()
    rules = contact_rules()
    rules = contact_rules(**quiet_hours_around(now, rules, dt.timedelta(hours=3), dt.timedelta(hours=4)),
                          **{"daily_attempt_limit: 2": "daily_attempt_limit: 1"})
    owing = customer_id(repository, OWING_PHONE)
    callback = repository.create_ticket(kind="callback", customer_id=owing, summary="call me back",
                                        details={"callback_phone": OWING_PHONE}, channel="webchat")
    lines, out = run_plan(capsys)
    assert "offer to agents at" in line_of(out, "waiting_callback", callback)
    reminder = lines[("arrears_reminder", owing)]
    assert " call at " in reminder and not reminder.endswith(", a later day: daily limit reached")

    await worker_with(kefu_env, repository, rules, telephony, queue=HandoffQueue(redis)).run_pass()
    assert postponed_for_the_limit(repository) == set()
    assert Schedule(repository).listing(status="offered")[0]["ticket_id"] == callback


def test_a_followup_during_an_open_complaint_shows_as_held(kefu_env, repository, capsys):
    resolved_repair(repository)
    customer = customer_id(repository, CUSTOMER_PHONE)
    complaint = repository.create_ticket(kind="complaint", customer_id=customer, summary="engineer was late",
                                         details={}, channel="webchat")
    lines, out = run_plan(capsys)
    assert f"held: open complaint {complaint}, left to its handler" in lines[("repair_followup", customer)]


def test_a_followup_of_a_repair_weeks_old_shows_as_not_made(kefu_env, repository, capsys):
    from bot.db.schema import ticket_history

    old = resolved_repair(repository)  # resolved three weeks ago: its follow-up was due 20 days ago
    with repository.engine.begin() as conn:
        conn.execute(ticket_history.update().where(ticket_history.c.ticket_id == old)
                     .values(at=dt.datetime.utcnow() - dt.timedelta(days=21)))
    lines, out = run_plan(capsys)
    assert "failed: not made within late_limit_hours of being due" in lines[("repair_followup",
                                                                            customer_id(repository, CUSTOMER_PHONE))]


def database_rows(repository) -> dict[str, list]:
    metadata = sa.MetaData()
    metadata.reflect(repository.engine)
    with repository.engine.connect() as conn:
        return {name: sorted(map(repr, conn.execute(sa.select(table)))) for name, table in metadata.tables.items()}


def redis_contents(client) -> dict:
    return {key: (client.type(key), client.dump(key)) for key in client.scan_iter()}


def data_files(settings) -> list:
    """The data folder but for the CLI's own log."""
    return sorted(p for p in settings.data_dir.rglob("*") if "logs" not in p.relative_to(settings.data_dir).parts)


def test_the_dry_run_writes_nothing(kefu_env, repository, redis_url, monkeypatch, capsys):
    """Not in the database (no contact, no planner mark, no shared secret the dialer would read), nor in
    Redis, nor in the data folder (but the CLI's log), whatever it finds: opted out, withheld, due."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KEFU_DEMO_DATA", "off")
    settings_module.get_settings.cache_clear()
    client = sync_redis.Redis.from_url(redis_url)
    client.flushdb()
    client.set("kefu:unrelated", "kept")
    add_owing_customer(repository, "13912340010", -1000)
    Schedule(repository).block("phone:13912340010", "opt_out", via="sms_reply")
    resolved_repair(repository)
    before = database_rows(repository), redis_contents(client), data_files(kefu_env)
    lines, out = run_plan(capsys)
    assert len(lines) >= 3 and "nothing was written" in out
    assert (database_rows(repository), redis_contents(client), data_files(kefu_env)) == before
    client.flushdb()
    client.close()


async def test_the_dry_run_knows_the_channels_the_worker_would_have(kefu_env, repository, redis, redis_url,
                                                                    monkeypatch):
    """The channels come from the settings without building them; the same as the worker's."""
    from bot.contacts.commands import gate_from_settings, worker_from_settings

    for environment in ({}, {"KEFU_SMS_GATEWAY_URL": "http://127.0.0.1:9", "KEFU_SMS_GATEWAY_KEY": "k",
                             "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "WECHAT_TEMPLATE_ID": "t",
                             "KEFU_DEMO_CARRIER": "off"}):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        settings_module.get_settings.cache_clear()
        settings = settings_module.get_settings()
        worker = worker_from_settings(settings, redis, redis_url)
        assert gate_from_settings(settings, repository).channels == worker.gate.channels
    assert worker.gate.channels == {"sms", "wechat", "agent"}
