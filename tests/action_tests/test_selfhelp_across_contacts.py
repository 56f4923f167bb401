"""Self-help a proven customer said did not help is not sent again on their next contact, on any channel.

Found by a cross-channel journey tester: a customer told the web chat that the "no signal" video did not
fix it, wrote again on WeChat about the same fault and was sent the same video. The answer is read
from the outcome record (the database), so it holds across channels, processes and days.
"""
from __future__ import annotations

from actions.backend import repository
from bot.security.claims import WECHAT_OPENID, channel_claim
from bot.security.credentials import CredentialStore
from tests.action_tests.test_verification_actions import claim_number, code_answer, sent_code
from tests.action_tests.trackers import Chat, entity, load_tracker

PROVEN_IN_WEB_CHAT = {"customer_id": "1", "verified_customer_id": "1", "verified_by": "sms_code",
                      "verified_channel": "rest"}
OPENID = "o6_bm_selfhelp_tried_openid01"


async def no_signal_video_did_not_help(run_action, sender: str, **slots) -> None:
    """A web-chat contact: "电视没信号" gets the no-signal video, and the customer answers 没解决."""
    sent = await run_action("action_triage_fault", load_tracker("fault_tv_no_signal", sender=sender, **slots))
    assert sent.slots["selfhelp_current"] == "tv_no_signal"
    answer = load_tracker("selfhelp_denied", sender=sender, fault_type="fault_tv", fault_code=None,
                          selfhelp_sent=["tv_no_signal"], selfhelp_current="tv_no_signal", **slots)
    await run_action("action_handle_deny", answer)


def on_wechat(tracker, openid: str = OPENID):
    """The tracker as a message from a WeChat follower whose account is bound to a customer."""
    tracker.latest_message["metadata"] = channel_claim(WECHAT_OPENID, openid, openid)
    tracker.events[-1]["input_channel"] = "wechat"
    return tracker


def fault_tickets(customer_id: int) -> list[dict]:
    return [t for t in repository().tickets_for(customer_id) if t["kind"] == "fault"]


async def test_the_video_that_did_not_help_on_web_chat_is_not_sent_again_on_wechat(run_action):
    await no_signal_video_did_not_help(run_action, "web-1", **PROVEN_IN_WEB_CHAT)
    CredentialStore(repository().url).bind("wechat", OPENID, 1)  # the customer's WeChat, verified once

    again = await run_action("action_triage_fault", on_wechat(load_tracker(  # its code said: no details question
        "fault_tv_no_signal", text="电视还是没信号 显示E102", intent="fault_tv", entities=[entity("fault_code", "E102")],
        sender=OPENID)))

    assert "utter_selfhelp_entry" not in again.responses, "the same video again"
    assert again.responses[0] == "utter_selfhelp_tried_before", "said why there is no video this time"
    repairs = fault_tickets(1)
    assert len(repairs) == 1 and repairs[0]["conversation_id"] == OPENID, "straight on to a repair"
    assert repairs[0]["details"]["selfhelp_sent"] == ["tv_no_signal"], "the ticket says what was tried"


async def test_a_proof_given_after_the_answer_counts_for_that_contact(run_action, with_redis):
    """The customer said 没解决 before proving who they are (then asked for their bill, with a code)."""
    await no_signal_video_did_not_help(run_action, "web-2")
    await claim_number(run_action, "web-2")
    await run_action("action_identify_customer", code_answer("web-2", sent_code("13800000002")))

    again = await run_action("action_triage_fault", load_tracker(
        "fault_tv_no_signal", sender="web-3", customer_id="2", verified_customer_id="2", verified_by="sms_code",
        verified_channel="rest"))

    assert "utter_selfhelp_entry" not in again.responses
    assert again.responses == ["utter_ask_fault_detail_fault_tv"], "the details first, then the repair"


async def test_someone_who_only_named_the_account_is_sent_the_video(run_action):
    """Nothing about an account's history shows to whoever types its number: no proof, the usual help."""
    await no_signal_video_did_not_help(run_action, "web-4", **PROVEN_IN_WEB_CHAT)

    named = await run_action("action_triage_fault", load_tracker("fault_tv_no_signal", sender="web-5",
                                                                 customer_id="1"))

    assert named.slots["selfhelp_current"] == "tv_no_signal"
    assert "utter_selfhelp_tried_before" not in named.responses


async def test_another_symptom_of_the_fault_still_gets_its_own_help(run_action):
    await no_signal_video_did_not_help(run_action, "web-6", **PROVEN_IN_WEB_CHAT)

    other = await run_action("action_triage_fault", load_tracker(
        "fault_tv_no_signal", text="电视画面有马赛克", sender="web-7", **PROVEN_IN_WEB_CHAT))

    assert other.slots["selfhelp_current"] == "tv_mosaic"
    assert fault_tickets(1) == []


async def test_self_help_tried_in_an_earlier_contact_gets_the_details_question_before_the_repair(run_action):
    """Found in review: the video that failed in an earlier contact sent "电视还是没信号" straight to the repair,
    without the details question (an error code such as E102) that "重起了也不行" said just now gets first
    (``test_the_restart_said_done_at_once_gets_the_details_question_before_the_repair``): the ticket had no code.
    The question comes first, once; the repair filed after the answer carries its code and names the video tried."""
    await no_signal_video_did_not_help(run_action, "web-8", **PROVEN_IN_WEB_CHAT)
    chat = Chat(run_action, **PROVEN_IN_WEB_CHAT)

    asked = await chat.says("电视还是没信号", "fault_tv", "action_triage_fault")
    assert asked.responses == ["utter_ask_fault_detail_fault_tv"], "the details first"
    assert fault_tickets(1) == []
    answer = await chat.says("屏幕上显示E102", "fault_tv", "action_triage_fault", entities=[entity("fault_code", "E102")])
    assert "utter_selfhelp_entry" not in answer.responses, "the same video again"
    assert "utter_ask_fault_detail_fault_tv" not in answer.responses, "asked once"
    assert answer.responses[0] == "utter_selfhelp_tried_before"
    repairs = fault_tickets(1)
    assert len(repairs) == 1 and "E102" in repairs[0]["summary"], "the ticket has the details"
    assert repairs[0]["details"]["selfhelp_sent"] == ["tv_no_signal"], "and says what was tried"


async def test_self_help_tried_in_an_earlier_contact_with_the_code_said_goes_on_to_the_repair(run_action):
    """The details already said (an error code with the fault): no question, the repair at once, with the code."""
    await no_signal_video_did_not_help(run_action, "web-9", **PROVEN_IN_WEB_CHAT)
    chat = Chat(run_action, **PROVEN_IN_WEB_CHAT)

    filed = await chat.says("电视还是没信号 显示E102", "fault_tv", "action_triage_fault",
                            entities=[entity("fault_code", "E102")])
    assert filed.responses[0] == "utter_selfhelp_tried_before"
    repairs = fault_tickets(1)
    assert len(repairs) == 1 and "E102" in repairs[0]["summary"]
