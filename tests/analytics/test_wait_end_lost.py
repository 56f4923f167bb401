"""A queue entry whose end was never recorded (a process killed between ending the wait and recording it) showed as
"waiting" (报表生成时仍在排队) in ``kefu report`` and on the wallboard, in every later report, for ever. Nobody waits
longer than the queue's ``max_wait_s`` (content/handoff.yml: the waiting room ends the wait then): an entry open for
longer than that and a margin has ended, how unknown: it counts in the handoff rate (the customer asked for a person)
and in no other rate's numerator. One queued just as long as
``max_wait_s`` may be in the waiting room's next round: still waiting."""
from __future__ import annotations

import datetime as dt

from bot.analytics.config import centre_zone, load_labels
from bot.analytics.contacts import WAIT_MARGIN
from bot.db.repository import engine_for
from bot.handoff.rules import load_rules
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)


def queued(conversation: str, at: dt.datetime) -> list:
    return [outcome_event(conversation, "contact_started", channel="webchat", at=at),
            outcome_event(conversation, "intent_seen", channel="webchat", intent="request_human", at=at),
            outcome_event(conversation, "handoff_requested", channel="webchat", skill="general", at=at),
            outcome_event(conversation, "handoff_queued", channel="webchat", skill="general", priority=0, at=at)]


def test_a_wait_whose_end_was_lost_is_no_longer_shown_waiting(kefu_env, report_of):  # noqa: F811
    max_wait = dt.timedelta(seconds=load_rules(kefu_env.content_dir / "handoff.yml").max_wait_s)
    assert max_wait > dt.timedelta(0), "the shipped queue ends a wait"
    now = dt.datetime.utcnow()
    answered_at = now - max_wait - WAIT_MARGIN - dt.timedelta(minutes=20)
    write_events(engine_for(kefu_env.database_url), [
        *queued("lost-end", now - max_wait - WAIT_MARGIN - dt.timedelta(minutes=5)),
        *queued("at-the-limit", now - max_wait),
        *queued("answered", answered_at),
        outcome_event("answered", "handoff_claimed", channel="webchat", skill="general", wait_s=8,
                      at=answered_at + dt.timedelta(seconds=8)),
        outcome_event("answered", "handoff_closed", channel="webchat", skill="general", handle_s=60,
                      disposition="resolved", agent_id="li", at=answered_at + dt.timedelta(seconds=68))])
    zone = centre_zone(kefu_env.content_dir)
    today = dt.datetime.now(zone).date()
    code, figures, html = report_of((today - dt.timedelta(days=1)).isoformat(), today.isoformat())
    assert code == 0
    assert figures[("overall", "", "how_waiting")] == "1", "only the one within the longest wait is waiting"
    assert figures[("overall", "", "how_unknown")] == "1"
    assert f"<tr><td>{load_labels(kefu_env.content_dir)['how_unknown']}</td><td>1</td></tr>" in html
    # In no numerator: not abandoned, not contained, not resolved; still a contact with a request.
    assert figures[("overall", "", "abandoned")] == "0" and float(figures[("overall", "", "abandonment")]) == 0
    assert float(figures[("overall", "", "containment")]) == 0
    assert figures[("overall", "", "fcr_24h")] == figures[("overall", "", "fcr_48h")] == "0.3333", "the agent's only"
    assert float(figures[("overall", "", "handoff_rate")]) == 1, "each of the three asked for a person"
