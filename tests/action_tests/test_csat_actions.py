"""CSAT: asked once when self-help resolved the fault, answered or skipped once."""
from __future__ import annotations

from actions.backend import repository
from tests.action_tests.trackers import load_tracker


def kinds(sender: str = "u1") -> list[str]:
    return [e["kind"] for e in repository().events_for(sender)]


async def test_resolved_self_help_asks_for_a_score_with_buttons_once(run_action):
    first = await run_action("action_handle_affirm", load_tracker("selfhelp_denied", text="好了", intent="affirm"))
    assert first.responses[-1] == "utter_ask_csat"
    assert first.slots["csat_asked"] is True
    again = await run_action("action_handle_affirm", load_tracker("selfhelp_denied", text="好了", intent="affirm",
                                                                  csat_asked=True))
    assert "utter_ask_csat" not in again.responses
    assert kinds().count("csat_asked") == 1


async def test_a_score_is_recorded_once(run_action):
    score = [{"entity": "csat_score", "value": "4"}]
    turn = await run_action("action_record_csat", load_tracker("selfhelp_denied", text='/csat_score{"csat_score": "4"}',
                                                               intent="csat_score", entities=score, csat_asked=True))
    assert turn.responses == ["utter_csat_thanks"]
    assert turn.slots["csat_done"] is True
    given = [e for e in repository().events_for("u1") if e["kind"] == "csat_given"]
    assert [e["data"]["score"] for e in given] == [4]
    twice = await run_action("action_record_csat", load_tracker("selfhelp_denied", text="5分", intent="csat_score",
                                                                entities=score, csat_done=True))
    assert twice.responses == ["utter_csat_already"]
    assert kinds().count("csat_given") == 1


async def test_skipping_is_recorded_and_thanked(run_action):
    turn = await run_action("action_record_csat", load_tracker("selfhelp_denied", text="跳过", intent="csat_skip",
                                                               csat_asked=True))
    assert turn.responses == ["utter_csat_skipped"]
    assert kinds() == ["csat_skipped"]

