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



async def test_a_caller_is_not_asked_for_a_score_by_the_assistant(run_action):
    # Found on a live call: 太好了，问题已解决！…还有其他需要帮忙的吗？ then 请为本次服务打分，5分非常满意，1分非常
    # 不满意。 with no key to give it (the phone's scores are the flow's csat_survey, asked when the caller goes quiet).
    tracker = load_tracker("selfhelp_denied", text="好了", intent="affirm")
    next(e for e in reversed(tracker.events) if e.get("event") == "user")["input_channel"] = "ivr"
    turn = await run_action("action_handle_affirm", tracker)
    assert "utter_ask_csat" not in turn.responses
    assert "csat_asked" not in kinds()


def typed(text: str, asked_last: bool = True):
    """``text`` typed (the NLU placing it nowhere) right after the score question, or after another reply."""
    tracker = load_tracker("selfhelp_denied", text=text, intent="nlu_fallback", csat_asked=True)
    tracker.events.insert(-2, {"event": "bot", "text": "请为本次服务打个分吧…",
                               "metadata": {"utter_action": "utter_ask_csat" if asked_last else "utter_anything_else"}})
    return tracker


async def test_a_score_typed_after_the_question_is_recorded(run_action):
    """Found trying the chat: "3分吧，等太久了" typed to the score question got "抱歉，我没太明白", and the page had
    spent the score buttons once anything was sent."""
    turn = await run_action("action_fallback", typed("3分吧，等太久了"))

    assert turn.responses == ["utter_csat_thanks"] and turn.slots["csat_done"] is True
    given = [e for e in repository().events_for("u1") if e["kind"] == "csat_given"]
    assert [e["data"]["score"] for e in given] == [3]


async def test_words_that_are_no_score_or_not_after_the_question_are_not_taken_for_one(run_action):
    for tracker in (typed("一分钟都等不了"), typed("5分", asked_last=False)):
        turn = await run_action("action_fallback", tracker)
        assert "utter_csat_thanks" not in turn.responses
    assert "csat_given" not in kinds()


async def test_a_typed_score_is_no_misunderstanding_before_the_next_message(run_action):
    """Found trying the chat after the fix: the next unclear message ("师傅不用来了") was the second misunderstanding in
    a row and offered a person at once."""
    tracker = load_tracker("selfhelp_denied", text="师傅不用来了", intent="nlu_fallback", csat_asked=True)
    tracker.events[-2:-2] = [
        {"event": "bot", "text": "请为本次服务打个分吧…", "metadata": {"utter_action": "utter_ask_csat"}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "3分吧，等太久了", "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}}},
        {"event": "action", "name": "action_fallback"},
        {"event": "bot", "text": "感谢您的评价", "metadata": {"utter_action": "utter_csat_thanks"}}]

    turn = await run_action("action_fallback", tracker)

    assert turn.responses == ["utter_default"]
