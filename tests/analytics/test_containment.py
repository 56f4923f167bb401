"""Containment and FCR on the contacts of a real peak night (events as Kefu recorded them, found by a
tester): only a served request is the assistant's, a greeting is no request, and a ticket still to be
worked is not resolved at first contact."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.db.repository import engine_for
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)

T0 = dt.datetime(2026, 12, 2, 16, 36)  # 2026-12-03 00:36 in the centre's zone


def night() -> list[tuple]:
    """(conversation, seconds after T0, kind, data), each contact as the peak night recorded it."""
    return [
        # fixed by self-help
        ("fixed", 0, "contact_started", {}), ("fixed", 0.1, "intent_seen", {"intent": "fault_tv"}),
        ("fixed", 0.2, "selfhelp_sent", {"selfhelp_id": "tv_no_signal"}),
        ("fixed", 3, "selfhelp_resolved", {"selfhelp_id": "tv_no_signal"}),
        # bill shown after the identity check
        ("bill", 10, "contact_started", {}), ("bill", 10.1, "intent_seen", {"intent": "query_bill"}),
        ("bill", 12, "verification_code_sent", {}), ("bill", 15, "verification_passed", {"method": "sms_code"}),
        ("bill", 15.2, "answer_given", {"topic": "bill"}),
        # complaints: the customer left at the identity question, nothing registered
        ("complaint1", 20, "contact_started", {}), ("complaint1", 20.1, "intent_seen", {"intent": "complaint"}),
        ("complaint2", 21, "contact_started", {}), ("complaint2", 21.1, "intent_seen", {"intent": "complaint"}),
        # only said hello
        ("hello", 30, "contact_started", {}), ("hello", 30.1, "intent_seen", {"intent": "greet"}),
        # self-help failed twice, declined a person, a repair ticket
        ("repair", 40, "contact_started", {}), ("repair", 40.1, "intent_seen", {"intent": "fault_tv"}),
        ("repair", 41, "selfhelp_sent", {"selfhelp_id": "tv_no_signal"}),
        ("repair", 43, "selfhelp_failed", {"selfhelp_id": "tv_no_signal"}),
        ("repair", 46, "ticket_created", {"ticket_id": "TK000001", "kind": "fault"}),
        # an agent answered and resolved it
        ("agent", 50, "contact_started", {}), ("agent", 50.1, "intent_seen", {"intent": "request_human"}),
        ("agent", 50.1, "handoff_requested", {"skill": "general", "reason": "request_human"}),
        ("agent", 50.1, "handoff_queued", {"skill": "general"}),
        ("agent", 110, "handoff_claimed", {"skill": "general", "wait_s": 59.9, "agent_id": "liu"}),
        ("agent", 140, "handoff_closed", {"skill": "general", "disposition": "resolved", "handle_s": 30}),
        # an agent answered and passed it on as a ticket
        ("passed", 60, "contact_started", {}), ("passed", 60.1, "intent_seen", {"intent": "request_human"}),
        ("passed", 60.1, "handoff_requested", {"skill": "general", "reason": "request_human"}),
        ("passed", 60.1, "handoff_queued", {"skill": "general"}),
        ("passed", 150, "handoff_claimed", {"skill": "general", "wait_s": 89.9, "agent_id": "demo"}),
        ("passed", 360, "handoff_closed", {"skill": "general", "disposition": "ticket", "handle_s": 210}),
    ]


def store(database_url: str) -> None:
    write_events(engine_for(database_url), [
        outcome_event(conversation, kind, channel="webchat", at=T0 + dt.timedelta(seconds=seconds), **data)
        for conversation, seconds, kind, data in night()])


def test_only_served_requests_count_as_contained_and_a_greeting_is_no_request(kefu_env, report_of):  # noqa: F811
    store(kefu_env.database_url)
    code, figures, _ = report_of("2026-12-03", "2026-12-03")
    assert code == 0
    assert figures[("overall", "", "contacts")] == "8"
    # 7 made a request (the greeting did not); the assistant served 2 of them: the fix and the bill.
    assert figures[("overall", "", "contained")] == "2"
    assert float(figures[("overall", "", "containment")]) == pytest.approx(2 / 7, abs=1e-4)
    assert figures[("overall", "", "how_unserved")] == "2"  # the two complaints
    assert figures[("overall", "", "how_no_request")] == "1"
    # Resolved at first contact: the fix, the bill and the agent's "resolved"; not the open repair
    # ticket, the complaints left unregistered, or the chat passed on as a ticket.
    assert float(figures[("overall", "", "fcr_24h")]) == pytest.approx(3 / 7, abs=1e-4)


def test_kefu_peak_models_the_reports_containment_and_warns_on_a_small_sample(kefu_env, tmp_path, capsys):
    """Found by a tester: `kefu peak` said "containment 43 %" from 21 contacts of one burst, with no warning."""
    from bot.cli import main

    store(kefu_env.database_url)
    profile = kefu_env.root / "docs" / "peak" / "monday-evening.csv"
    assert main(["peak", "--profile", str(profile), "--chart", str(tmp_path / "peak.png")]) == 0
    out = capsys.readouterr().out
    assert "7 contacts with a request): containment 29%" in out
    assert "warning: only 7 contacts with a request" in out
    assert "Kefu effect: containment 29%" in out
