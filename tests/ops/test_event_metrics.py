"""Metrics from Rasa's events: a turn's latency, NLU confidence and fallbacks per channel."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from bot.observability.event_metrics import MetricsEventBroker
from bot.observability.metrics import count_outcome


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def user_event(sender: str, channel: str, intent: str, confidence: float, sent_at: float) -> dict:
    return {"sender_id": sender, "event": "user", "timestamp": sent_at, "text": "x", "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}}}


def test_a_turn_is_timed_and_its_confidence_kept_per_channel():
    broker = MetricsEventBroker(clock=lambda: 1000.8)
    turns, fallbacks = sample("kefu_turn_seconds_count", channel="fuzzchan"), sample("kefu_fallbacks_total",
                                                                                     channel="fuzzchan")
    low = sample("kefu_nlu_confidence_bucket", channel="fuzzchan", le="0.5")
    broker.publish(user_event("s1", "fuzzchan", "query_bill", 0.42, 1000.0))
    assert sample("kefu_turn_seconds_count", channel="fuzzchan") == turns + 1
    assert sample("kefu_turn_seconds_bucket", channel="fuzzchan", le="1.0") >= 1
    assert sample("kefu_nlu_confidence_bucket", channel="fuzzchan", le="0.5") == low + 1
    assert sample("kefu_fallbacks_total", channel="fuzzchan") == fallbacks


def test_a_message_not_understood_is_one_fallback_though_the_rule_answers_it_with_the_fallback_action():
    """``kefu_fallbacks_total`` counts turns not understood, and the dashboard divides it by the messages.
    Every ``nlu_fallback`` is answered by ``action_fallback`` (nlu_data/rules.yml), and both were counted:
    a message the NLU did not understand was two fallbacks, and the fallback rate up to 200%."""
    broker = MetricsEventBroker(clock=lambda: 10.0)
    before = sample("kefu_fallbacks_total", channel="fbchan")
    messages = sample("kefu_messages_total", channel="fbchan")
    broker.publish(user_event("s2", "fbchan", "nlu_fallback", 0.1, 9.0))
    broker.publish({"sender_id": "s2", "event": "action", "name": "action_fallback"})
    assert sample("kefu_messages_total", channel="fbchan") == messages + 1
    assert sample("kefu_fallbacks_total", channel="fbchan") == before + 1


def test_a_fallback_of_the_dialogue_after_an_understood_message_is_counted_once_per_turn():
    """The policies' own fallback (RulePolicy's core fallback) follows a message the NLU understood."""
    broker = MetricsEventBroker(clock=lambda: 10.0)
    before = sample("kefu_fallbacks_total", channel="corechan")
    broker.publish(user_event("s3", "corechan", "query_bill", 0.9, 9.0))
    broker.publish({"sender_id": "s3", "event": "action", "name": "action_fallback"})
    assert sample("kefu_fallbacks_total", channel="corechan") == before + 1
    broker.publish(user_event("s3", "corechan", "query_bill", 0.9, 9.5))  # the next turn, again not followed
    broker.publish({"sender_id": "s3", "event": "action", "name": "action_default_fallback"})
    assert sample("kefu_fallbacks_total", channel="corechan") == before + 2


def test_containment_counts_come_from_outcome_events():
    queued = sample("kefu_handoffs_total", channel="octest")
    count_outcome("handoff_queued", "octest")
    count_outcome("selfhelp_resolved", "octest")
    assert sample("kefu_handoffs_total", channel="octest") == queued + 1
    assert sample("kefu_outcomes_total", kind="selfhelp_resolved", channel="octest") >= 1


def parsed(text: str) -> dict:
    """The parse data Rasa stores for ``text`` on a model whose DIET read it as query_bill at 0.62: the
    pipeline ends with Kefu's NoContentClassifier, then Rasa's RegexMessageHandler (which Rasa adds last),
    merged into the processor's defaults."""
    from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
    from rasa.shared.core.domain import Domain
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.no_content import NoContentClassifier

    read = {"name": "query_bill", "confidence": 0.62}
    message = Message({"text": text, "intent": read, "intent_ranking": [read]}, output_properties={"intent"})
    [message] = NoContentClassifier().process([message])
    [message] = RegexMessageHandler().process([message], Domain.from_dict({"intents": ["query_bill", "fault_tv"]}))
    return {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": [],
            **message.as_dict(only_output_properties=True)}


@pytest.mark.parametrize("text", ["", "  ", "/fault_tv", "asdf qwer"],
                         ids=["empty (an attachment, a WeChat event)", "blank", "a button or menu payload",
                              "Latin gibberish"])
def test_a_message_with_no_text_for_the_nlu_is_not_a_confidence(text):
    """The dashboard's NLU confidence is the NLU's reading of what customers wrote. A message with no text,
    or only keyboard mashing, gets ``nlu_fallback`` at 1.0 (NoContentClassifier), a payload its intent at
    1.0 (Rasa): both made the NLU look surer than it is. Still a message on the channel."""
    broker = MetricsEventBroker(clock=lambda: 10.0)
    observed, messages = sample("kefu_nlu_confidence_count", channel="emptychan"), sample("kefu_messages_total",
                                                                                          channel="emptychan")
    assert parsed(text)["intent"]["confidence"] == 1.0  # what Rasa stores: the test's premise
    broker.publish({"sender_id": "s4", "event": "user", "timestamp": 9.0, "text": text, "input_channel": "emptychan",
                    "parse_data": parsed(text)})
    assert sample("kefu_nlu_confidence_count", channel="emptychan") == observed
    assert sample("kefu_messages_total", channel="emptychan") == messages + 1
    below = sample("kefu_nlu_confidence_bucket", channel="emptychan", le="0.7")
    broker.publish({"sender_id": "s4", "event": "user", "timestamp": 9.0, "text": "我家电视没信号了",
                    "input_channel": "emptychan", "parse_data": parsed("我家电视没信号了")})
    assert sample("kefu_nlu_confidence_count", channel="emptychan") == observed + 1  # what was written is read
    assert sample("kefu_nlu_confidence_bucket", channel="emptychan", le="0.7") == below + 1


def test_text_shaped_like_a_payload_of_no_intent_is_read_by_the_nlu_and_counted():
    """Rasa takes ``/name`` as a payload only when ``name`` is an intent; ``/转人工`` the NLU reads as text."""
    broker = MetricsEventBroker(clock=lambda: 10.0)
    observed = sample("kefu_nlu_confidence_count", channel="slashchan")
    assert parsed("/转人工")["intent"] == {"name": "query_bill", "confidence": 0.62}  # the NLU's reading
    broker.publish({"sender_id": "s5", "event": "user", "timestamp": 9.0, "text": "/转人工", "input_channel": "slashchan",
                    "parse_data": parsed("/转人工")})
    assert sample("kefu_nlu_confidence_count", channel="slashchan") == observed + 1


def test_a_phone_turn_not_heard_is_not_a_confidence():
    """An IVR turn nothing was heard in is logged with its own parse data (bot/ivr/bot_turns.py): not an
    NLU reading at 0.0 either."""
    broker = MetricsEventBroker(clock=lambda: 10.0)
    observed = sample("kefu_nlu_confidence_count", channel="ivrchan")
    broker.publish({"sender_id": "ivr:c1", "event": "user", "timestamp": 9.0, "text": "", "input_channel": "ivrchan",
                    "parse_data": {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []}})
    assert sample("kefu_nlu_confidence_count", channel="ivrchan") == observed
