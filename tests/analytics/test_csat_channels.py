"""The CSAT question as each channel shows it: chat buttons, WeChat menu links, phone keys."""
from __future__ import annotations

import yaml

from bot.channels.wechat_replies import to_units
from tests.conftest import PROJECT_ROOT


def ask_csat() -> dict:
    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "csat.yml").read_text(encoding="utf-8"))
    return next(v for v in domain["responses"]["utter_ask_csat"] if "channel" not in v)


def test_chat_offers_five_scores_and_a_skip():
    payloads = [b["payload"] for b in ask_csat()["buttons"]]
    assert payloads[:5] == [f'/csat_score{{"csat_score": "{n}"}}' for n in (5, 4, 3, 2, 1)]
    assert payloads[5] == "/csat_skip"


def test_wechat_gets_tappable_menu_links_that_carry_the_score():
    units, menu = to_units([ask_csat()])
    assert len(units) == 1 and units[0].content.count("weixin://bizmsgmenu") == 6
    assert sorted(menu.payloads.values()) == sorted(b["payload"] for b in ask_csat()["buttons"])


def test_phone_survey_maps_each_key_to_its_score():
    flow = yaml.safe_load((PROJECT_ROOT / "ivr_flows" / "main.yml").read_text(encoding="utf-8"))
    survey = flow["nodes"]["csat_survey"]
    # 9 repeats the survey, as in every menu of the hotline
    assert {o["digits"]: o["target"] for o in survey["options"]} == {**{str(n): f"csat_{n}" for n in range(1, 6)},
                                                                    "9": "csat_survey"}
    assert survey["on_no_input"] == "goodbye"  # skipping is just staying quiet
