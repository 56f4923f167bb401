"""``kefu compare``: two periods of the record side by side, and whether the wait really changed."""
from __future__ import annotations

import datetime as dt

from bot.db.repository import engine_for
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events

LAST_MONDAY = dt.datetime(2026, 3, 2, 11, 0)  # 19:00 in Beijing
THIS_MONDAY = LAST_MONDAY + dt.timedelta(days=7)


def answered_chats(prefix: str, start: dt.datetime, waits: list[float]) -> list[dict]:
    """One web-chat contact per wait: asked for a person, answered after that wait, resolved."""
    events = []
    for n, wait in enumerate(waits):
        at = start + dt.timedelta(minutes=n)
        conversation = f"{prefix}{n}"
        events += [
            outcome_event(conversation, "contact_started", channel="webchat", at=at),
            outcome_event(conversation, "handoff_requested", channel="webchat", skill="general", priority=0,
                          reason="request_human", at=at),
            outcome_event(conversation, "handoff_queued", channel="webchat", skill="general", priority=0, at=at),
            outcome_event(conversation, "handoff_claimed", channel="webchat", skill="general", wait_s=wait,
                          at=at + dt.timedelta(seconds=wait)),
            outcome_event(conversation, "handoff_closed", channel="webchat", skill="general", wait_s=wait,
                          handle_s=100, disposition="resolved", at=at + dt.timedelta(seconds=wait + 100)),
        ]
    return events


def compare(*args: str) -> int:
    from bot.cli import main

    return main(["compare", *args])


def test_waits_halved_between_two_peaks_are_shown_as_shorter_with_their_interval(kefu_env, capsys):
    before = [100 + (n % 7) * 10 for n in range(40)]  # 100-160 s, mean 130
    after = [50 + (n % 5) * 5 for n in range(40)]  # 50-70 s, mean 60
    write_events(engine_for(kefu_env.database_url),
                 answered_chats("b", LAST_MONDAY, before) + answered_chats("a", THIS_MONDAY, after))
    assert compare("--before", "2026-03-02", "--after", "2026-03-09", "--hours", "19-21") == 0
    out = capsys.readouterr().out
    lines = {line[:28].strip(): line[28:].split() for line in out.splitlines() if line[:28].strip()}
    assert lines["answered by an agent"] == ["40", "40", "1.00x"]
    before_mean, after_mean = sum(before) / 40, sum(after) / 40
    assert lines["mean answered wait (ASA)"] == [f"{before_mean:.1f}", "s", f"{after_mean:.1f}", "s",
                                                 f"{after_mean / before_mean:.2f}x"]
    assert lines["longest answered wait"] == ["160.0", "s", "70.0", "s", "0.44x"]
    assert f"after - before: {after_mean - before_mean:+.1f} s" in out
    assert ": shorter" in out
    assert "caution: after holds 40 contacts (fewer than 100): read the shares' differences as noise" in out
    assert "answered waits (fewer than" not in out  # 40 waits a side are enough for the wait


def test_five_waits_a_few_seconds_shorter_are_not_called_shorter(kefu_env, capsys):
    waits = [30, 90, 60, 120, 45]
    write_events(engine_for(kefu_env.database_url),
                 answered_chats("b", LAST_MONDAY, waits) + answered_chats("a", THIS_MONDAY, [w - 5 for w in waits]))
    assert compare("--before", "2026-03-02", "--after", "2026-03-09") == 0
    out = capsys.readouterr().out
    assert "after - before: -5.0 s" in out
    assert "no clear change" in out and ": shorter" not in out
    assert "caution: before holds 5 answered waits (fewer than 30): read the waits' differences as noise" in out


def test_the_hours_keep_other_hours_of_the_day_out(kefu_env, capsys):
    write_events(engine_for(kefu_env.database_url),
                 answered_chats("b", LAST_MONDAY, [60, 60]) + answered_chats("x", LAST_MONDAY + dt.timedelta(hours=3),
                                                                             [600]))
    assert compare("--before", "2026-03-02", "--after", "2026-03-09", "--hours", "19-20") == 0
    out = capsys.readouterr().out
    contacts = next(line for line in out.splitlines() if line.startswith("contacts"))
    assert contacts.split()[1:3] == ["2", "0"]
    asa = next(line for line in out.splitlines() if line.startswith("mean answered wait (ASA)"))
    assert asa.split()[4:6] == ["60.0", "s"]  # the 600 s wait at 22:00 is left out


def test_hours_that_run_backwards_are_refused_with_the_reason(kefu_env, capsys):
    assert compare("--before", "2026-03-02", "--after", "2026-03-09", "--hours", "21-19") == 2
    assert "--hours '21-19'" in capsys.readouterr().err
