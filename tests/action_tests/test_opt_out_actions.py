"""A customer who asks us to stop calling and texting is opted out, and only their own number is.

Found by a data-protection audit: "不要再给我打电话发短信了，退订回访" booked a callback, and no chat,
REST or inbound-phone customer could opt out at all.
"""
from __future__ import annotations

from actions.backend import repository
from bot.contacts.schedule import Schedule
from bot.security.claims import CALLER_ID, WECHAT_OPENID, channel_claim
from tests.action_tests.test_verification_actions import sent_code, with_metadata
from tests.action_tests.trackers import entity, load_tracker

SAID = "不要再给我打电话发短信了，退订回访"


def blocked(address: str) -> str | None:
    return Schedule(repository()).blocked(address)


def opt_out_tracker(sender: str, text: str = SAID, **kwargs):
    return load_tracker("query_bill", text=text, intent="opt_out", sender=sender, **kwargs)


async def test_a_chat_customer_is_asked_to_verify_then_their_number_is_opted_out(run_action, with_redis):
    first = await run_action("action_opt_out", opt_out_tracker("optout-chat-1"))
    assert first.responses == ["utter_ack_opt_out", "utter_ask_identity"]
    assert first.slots["pending_request"] == "action_opt_out"
    number = await run_action("action_identify_customer", load_tracker(
        "query_bill", text="13800000002", intent="inform", entities=[entity("phone_number", "13800000002")],
        sender="optout-chat-1", pending_request="action_opt_out"))
    assert number.responses[-1] == "utter_verification_code_sent"
    assert blocked("phone:13800000002") is None, "a typed number proves nothing"
    code = load_tracker("query_bill", text=sent_code("13800000002"), intent="inform", sender="optout-chat-1",
                        awaiting="verification_code", pending_request="action_opt_out", customer_id="2")
    done = await run_action("action_identify_customer", code)
    assert done.responses == ["utter_opted_out_phone"]
    assert done.message("utter_opted_out_phone")["phone_masked"].endswith("0002")
    assert blocked("phone:13800000002") == "opt_out"


async def test_a_number_typed_with_the_request_is_not_opted_out_unverified(run_action, with_redis):
    turn = await run_action("action_opt_out", opt_out_tracker(
        "optout-chat-2", text="别再给13800000004打电话了", entities=[entity("phone_number", "13800000004")]))
    assert "utter_opted_out_phone" not in turn.responses
    assert turn.responses[0] == "utter_ack_opt_out"
    assert blocked("phone:13800000004") is None


async def test_a_verified_customer_is_opted_out_at_once(run_action, with_redis):
    signed = channel_claim(CALLER_ID, "13800000003", "ivr:OPT1")
    turn = await run_action("action_opt_out", with_metadata(opt_out_tracker("ivr:OPT1"), signed, channel="ivr"))
    assert turn.responses == ["utter_opted_out_phone"]
    assert blocked("phone:13800000003") == "opt_out"


async def test_a_vouched_caller_who_is_no_customer_opts_out_their_own_line(run_action, with_redis):
    signed = channel_claim(CALLER_ID, "13912340000", "ivr:OPT2")
    turn = await run_action("action_opt_out", with_metadata(opt_out_tracker("ivr:OPT2", text="以后别给我打回访电话了"),
                                                            signed, channel="ivr"))
    assert turn.responses == ["utter_opted_out_phone"]
    assert blocked("phone:13912340000") == "opt_out"


async def test_an_unvouched_caller_id_opts_out_nobody(run_action, with_redis):
    turn = await run_action("action_opt_out", with_metadata(opt_out_tracker("ivr:OPT3"), {"phone": "13800000001"},
                                                            channel="ivr"))
    assert turn.responses == ["utter_ack_opt_out", "utter_ask_identity"]
    assert blocked("phone:13800000001") is None


async def test_an_unbound_wechat_account_opts_out_itself_only(run_action, with_redis):
    openid = "o6_bm_optout_test_openid_01"
    claim = channel_claim(WECHAT_OPENID, openid, openid)
    turn = await run_action("action_opt_out", with_metadata(opt_out_tracker(
        openid, text="退订 13800000005", entities=[entity("phone_number", "13800000005")]), claim, channel="wechat"))
    assert turn.responses == ["utter_opted_out"]
    assert blocked(f"wechat:{openid}") == "opt_out"
    assert blocked("phone:13800000005") is None
    assert [e["kind"] for e in repository().events_for(openid)] == ["contact_opted_out"]


async def test_unsubscribe_said_to_which_service_cancels_a_service_and_opts_nobody_out(run_action, with_redis):
    """Found on a live call: "退订" to "请问您要办理哪项业务？" was taken as "stop sending me messages"; on WeChat,
    whose follower needs no proof, it opted them out at once."""
    openid = "o6_bm_optout_test_openid_02"
    claim = channel_claim(WECHAT_OPENID, openid, openid)
    tracker = with_metadata(opt_out_tracker(openid, text="退订", entities=[entity("service_action", "cancel")]),
                            claim, channel="wechat")
    tracker.events.insert(-1, {"event": "bot", "text": "请问您要办理哪项业务？",
                               "metadata": {"utter_action": "utter_ask_service_action"}})
    turn = await run_action("action_opt_out", tracker)
    assert "utter_opted_out" not in turn.responses and blocked(f"wechat:{openid}") is None
    assert turn.responses == ["utter_ack_service_change", "utter_ask_identity"] and turn.slots["pending_request"] == "action_manage_service"
