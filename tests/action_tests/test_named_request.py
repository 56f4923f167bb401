"""A request named beside a number ("查话费 13800000001") is that request, for that number (actions/named_request.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.named_request import REQUEST_STARTS
from tests.action_tests.trackers import Chat, entity


def ranked(*pairs) -> list[dict]:
    return [{"name": name, "confidence": confidence} for name, confidence in pairs]


# As the model reads them (kefu-3de474709b0d9475): the number first (or nothing sure), the request second.
NAMED = [
    ("查话费 13800000001", "inform", 0.57, "action_identify_customer",
     ranked(("inform", 0.57), ("query_bill", 0.35), ("query_plan", 0.02)), ["utter_verification_code_sent"]),
    ("查流量 13800000001", "nlu_fallback", 0.45, "action_fallback",
     ranked(("nlu_fallback", 0.45), ("query_bill", 0.41), ("inform", 0.39)), ["utter_verification_code_sent"]),
    ("报修 13800000001", "inform", 0.70, "action_identify_customer",
     ranked(("inform", 0.70), ("report_fault", 0.08), ("manage_service", 0.04)), ["utter_ask_which_fault"]),
    ("查工单 13800000001", "inform", 0.75, "action_identify_customer",
     ranked(("inform", 0.75), ("query_ticket", 0.16), ("thanks", 0.02)),
     ["utter_ack_ticket", "utter_verification_code_sent"]),
]


@pytest.mark.parametrize("text, intent, confidence, action, ranking, expected", NAMED)
async def test_a_request_named_beside_the_number_is_kept_and_asked_for_that_number(
        run_action, with_redis, text, intent, confidence, action, ranking, expected):
    """Found in a live trial: "查话费 13800000001" got "好的，已记下您的号码。请问您要办理什么业务？", the bill lost."""
    chat = Chat(run_action)
    turn = await chat.says(text, intent, action, ranking=ranking, confidence=confidence,
                           entities=[entity("phone_number", "13800000001")])
    assert turn.responses == expected
    if "utter_verification_code_sent" in expected:
        assert turn.message("utter_verification_code_sent")["phone_masked"] == "138****0001"


@pytest.mark.parametrize("text, number_entity, ranking", [
    ("13800000001", entity("phone_number", "13800000001"), ranked(("inform", 0.83), ("goodbye", 0.05))),
    ("我的手机号是13800000001", entity("phone_number", "13800000001"),
     ranked(("inform", 0.91), ("affirm", 0.03), ("query_bill", 0.01))),
    ("我的宽带账号是8800000003", entity("account_number", "8800000003"),
     ranked(("inform", 0.61), ("fault_broadband", 0.15), ("manage_service", 0.11), ("query_bill", 0.06))),
    ("不对 是13800000002", entity("phone_number", "13800000002"),
     ranked(("inform", 0.64), ("deny", 0.27), ("complaint", 0.01), ("query_bill", 0.01))),
])
async def test_a_number_with_no_request_beside_it_is_only_noted(run_action, with_redis, text, number_entity, ranking):
    turn = await Chat(run_action).says(text, "inform", "action_identify_customer", ranking=ranking,
                                       confidence=ranking[0]["confidence"], entities=[number_entity])
    assert turn.responses == ["utter_identity_noted"]


def test_the_requests_start_as_the_rules_start_them():
    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "nlu_data" / "rules.yml").read_text(encoding="utf-8"))
    started = {rule["steps"][0]["intent"]: rule["steps"][1]["action"] for rule in rules["rules"]
               if len(rule["steps"]) == 2 and "intent" in rule["steps"][0]}
    assert {intent: started[intent] for intent in REQUEST_STARTS} == REQUEST_STARTS
