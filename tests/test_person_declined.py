"""A message declining a person is never read as asking for one (bot/nlu/person_declined.py).

The readings below are the served model's (the model of 2026-12-07, before this step): the customer was queued
for the agent they had just declined.
"""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.person_declined import PersonDeclinedClassifier

READINGS = [
    ("不用转人工，帮我看看网络的问题",
     [("request_human", 0.71), ("fault_broadband", 0.08), ("deny", 0.05), ("fault_wifi", 0.03)]),
    ("不用人工了", [("request_human", 0.89), ("deny", 0.08), ("complaint", 0.01), ("opt_out", 0.01)]),
    ("人工就不用了，我宽带密码忘了",
     [("request_human", 0.3), ("fault_broadband", 0.15), ("ask_how_to", 0.11), ("query_bill", 0.05)]),
]


def read(text: str, ranking: list[tuple[str, float]]) -> Message:
    intents = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    message = Message({"text": text, "intent": intents[0], "intent_ranking": intents})
    PersonDeclinedClassifier().process([message])
    return message


@pytest.mark.parametrize("text, ranking", READINGS, ids=[r[0] for r in READINGS])
def test_a_message_declining_a_person_is_not_read_as_asking_for_one(text, ranking):
    message = read(text, ranking)
    names = [i["name"] for i in message.get("intent_ranking")]
    assert "request_human" not in names
    assert names == [name for name, _ in ranking if name != "request_human"]  # the rest in the order read
    assert message.get("intent")["name"] == names[0]


def test_the_rest_keeps_its_proportions_and_the_total_so_the_fallback_judges_what_is_left():
    message = read(*READINGS[0])
    confidences = [i["confidence"] for i in message.get("intent_ranking")]
    assert sum(confidences) == pytest.approx(0.71 + 0.08 + 0.05 + 0.03)
    assert confidences[0] == pytest.approx(0.08 * 0.87 / 0.16)  # 0.435: below the fallback's 0.45, asked again
    assert confidences[0] / confidences[1] == pytest.approx(0.08 / 0.05)


@pytest.mark.parametrize("text", ["我不要机器人 转人工", "为什么不转人工", "转人工", "能不能转人工", "我要人工客服"])
def test_asking_for_a_person_stays_so(text):
    ranking = [("request_human", 0.95), ("complaint", 0.03)]
    message = read(text, ranking)
    assert message.get("intent") == {"name": "request_human", "confidence": 0.95}
    assert [i["name"] for i in message.get("intent_ranking")] == ["request_human", "complaint"]


def test_a_message_not_read_as_asking_for_a_person_is_left_as_read():
    ranking = [("ask_how_to", 0.79), ("query_bill", 0.05)]  # 不要人工 我就问下怎么交费: no request_human to take out
    message = read("不要人工 我就问下怎么交费", ranking)
    assert message.get("intent") == {"name": "ask_how_to", "confidence": 0.79}
    assert [i["name"] for i in message.get("intent_ranking")] == ["ask_how_to", "query_bill"]
