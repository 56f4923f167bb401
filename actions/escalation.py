"""Yes/no/thanks routing and fallbacks (requests for a human are in ``actions.handoff``).

Yes, no and thanks mean different things depending on the bot's last question, kept
in the ``awaiting`` slot; one routing action per answer keeps the rules flat.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import BILL_ANSWERS, bill_topics_named
from actions.backend import db, labels, last_said, latest_text, record, repository, says_any
from actions.chain import continue_with
from actions.change_withdrawn import change_taken_back, note_taken_back
from actions.clarify import ask_which_intent, take_typed_option
from actions.csat import record_score, typed_score
from actions.handoff import asks_about_the_queue, offer_human, tell_not_waiting
from actions.identity import (ask_proof_again, code_not_received, details_question, leave_the_message,
                              message_being_left, number_still_needed, proof_awaited, still_getting_the_proof,
                              tell_about_the_code, the_message_if_asked)
from actions.named_request import number_beside_no_request, request_named
from actions.number_asked_why import asks_why_the_number, declines_the_number, tell_why_the_number
from actions.new_install import ACTION as NEW_INSTALL_ACTION, asks_new_install
from actions.misunderstanding import (
    FALLBACK_ACTIONS, MISUNDERSTOOD_BEFORE_OFFER, current_is_repeated_guess, intent_of, is_low_guess,
    misunderstood_in_a_row, turns)
from actions.selfhelp import answer_naming_faults, faults_named, names_another_entry, selfhelp_feedback
from actions.service_questions import OFFER, SERVICE_OFFER
from actions.ticket_records import note_said_more
from actions.tickets import hurry_ticket
from actions.visits import (ASK_TIME_AGAIN, CONFIRM_CHANGE, CONFIRM_NEW, VISIT_AGAIN, VISIT_TIME,
                            asked_for_the_time_again, calls_the_visit_off)
from bot.db.repository import DatabaseError
from bot.labels import asks_for_a_person
from bot.handoff.masking import AWAITING_PROOF


def stray_guess(tracker: Tracker) -> bool:
    """A yes/no with nothing to answer that the NLU was unsure of (or guessed twice): not understood."""
    latest = tracker.latest_message or {}
    event = {"parse_data": {"intent": latest.get("intent") or {}}}
    return is_low_guess(event) or current_is_repeated_guess(tracker)


class ActionHandleAffirm(Action):
    def name(self) -> str:
        return "action_handle_affirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        message = await the_message_if_asked(dispatcher, tracker, domain)  # read as this, it is the message asked for
        if message is not None:
            return message
        chosen = await take_typed_option(tracker)
        if chosen is not None:  # "4K的" to the cheaper plans, read as a yes: that plan, as if tapped
            return chosen
        answered = await answer_naming_faults(dispatcher, tracker, domain)
        if answered is not None:  # "宽带好了 电视还是不行" while the TV is in hand: the TV not fixed
            return answered
        awaiting = tracker.get_slot("awaiting")
        if awaiting == "selfhelp_feedback" and stray_guess(tracker) and names_another_entry(tracker):
            # "灯是红的" to "did it fix it?", read as an unsure yes (0.59), was told the fault was fixed (found
            # trying the chat): a symptom of another guide for the fault is that guide, as triage sends it.
            return await continue_with("action_triage_fault", dispatcher, tracker, domain)
        if awaiting == "selfhelp_feedback":
            return await selfhelp_feedback(dispatcher, tracker, domain, worked=True)
        if awaiting == "offer_human":
            return await continue_with("action_request_human", dispatcher, tracker, domain, [SlotSet("awaiting", None)])
        if awaiting in (VISIT_AGAIN, VISIT_TIME):  # "book a visit?", or on the phone "is this the time?": yes
            return await continue_with("action_book_visit", dispatcher, tracker, domain)
        if awaiting == SERVICE_OFFER and last_said(tracker) == OFFER:  # "现在登记吗？" just asked: file it
            return await continue_with("action_manage_service", dispatcher, tracker, domain)
        if proof_awaited(tracker):  # "嗯" to "请回复验证码": not "anything else?", the code asked for still
            return await ask_proof_again(dispatcher, tracker, domain)
        if stray_guess(tracker):
            return await continue_with("action_fallback", dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_ok")
        return []


def just_asked_if_it_worked(tracker: Tracker) -> bool:
    """Whether the bot's answer to the customer's previous message asked "did it fix it?"."""
    history = list(turns(tracker.events))
    return len(history) > 1 and "utter_ask_selfhelp_worked" in history[-2][1]


class ActionHandleThanks(Action):
    """Thanks straight after "did it fix it?" is how many customers say yes ("谢谢 可以了" is often
    read as thanks), so the self-help is recorded as resolved instead of only being thanked. A
    thanks after anything else (a bill answered in between) is only thanked."""

    def name(self) -> str:
        return "action_handle_thanks"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        message = await the_message_if_asked(dispatcher, tracker, domain)  # read as this, it is the message asked for
        if message is not None:
            return message
        answered = await answer_naming_faults(dispatcher, tracker, domain)
        if answered is not None:  # "谢谢 宽带好了 电视还是不行": which fault is fixed, as said
            return answered
        if tracker.get_slot("awaiting") == "selfhelp_feedback" and just_asked_if_it_worked(tracker):
            return await selfhelp_feedback(dispatcher, tracker, domain, worked=True)
        # "谢谢 拜拜" is read as thanks: it got "还有其他问题吗？" after the customer said goodbye (found trying
        # the chat). Thanks with a goodbye in it (``goodbye_words`` in content/labels.yml) is one.
        goodbye = says_any(tracker, labels().get("goodbye_words"))
        dispatcher.utter_message(response="utter_goodbye" if goodbye else "utter_thanks")
        return []


def takes_the_person_offered(tracker: Tracker) -> bool:
    """Whether the latest message, said to "需要为您转接人工客服吗？", asks for the person (``person_asked_words``),
    whatever else it says and however the NLU read it ("还是不行，找人工客服": a no)."""
    return tracker.get_slot("awaiting") == "offer_human" and asks_for_a_person(latest_text(tracker))


# Either number question asked again after a no (``number_still_needed``): said once per request.
STILL_NEEDED = frozenset({"utter_identity_still_needed", "utter_contact_number_still_needed"})


def names_not_fixed(tracker: Tracker) -> bool:
    """Whether the latest message says the problem is not fixed (``selfhelp_not_fixed_words``)."""
    return says_any(tracker, labels().get("selfhelp_not_fixed_words"))


def says_not_fixed(tracker: Tracker) -> bool:
    """Words the NLU did not place, said to "did it fix it?", that say it did not. Found by a journey
    tester: "这个我在微信上已经试过了，没用" was answered "抱歉，我没太明白您的意思"."""
    return tracker.get_slot("awaiting") == "selfhelp_feedback" and names_not_fixed(tracker)


def follows_up_the_bill(tracker: Tracker) -> bool:
    """Words the NLU could not place, right after a bill answer or while a proof is asked for the bill,
    that name a part of the bill (``bill_question`` in content/labels.yml): "上个月呢" got "抱歉，我没太明白"
    (found trying the chat), and "上个月" while the phone asked for the password 抱歉，我没听清楚 (found on a
    live call). The bill action answers it, or asks for the proof again as it was asked."""
    text = latest_text(tracker)
    proof_for_the_bill = (tracker.get_slot("awaiting") == AWAITING_PROOF
                          and tracker.get_slot("pending_request") == "action_query_bill")
    return (last_said(tracker) in BILL_ANSWERS or proof_for_the_bill) \
        and bool(bill_topics_named(text, labels().get("bill_question") or {}))


def says_never_mind(tracker: Tracker) -> bool:
    """Whether the latest message declines the help offered ("不用了", ``never_mind_words``), rather than
    saying it cannot tell ("不知道", "没看到什么灯亮")."""
    return says_any(tracker, labels().get("never_mind_words"))


# The replies that file (or chase, or tell again) a repair and ask "预约上门时间或转人工客服吗？" (actions/repairs.py).
REPAIR_FILED = frozenset({"utter_fault_ticket_created", "utter_fault_ticket_chased", "utter_fault_report_taken",
                          "utter_fault_report_taken_registered_phone", "utter_repair_filed_already",
                          "utter_repair_filed_already_unproven"})


async def fault_filed(tracker: Tracker) -> bool:
    """Whether the fault talked about has its repair ticket already (``last_ticket_id``). Any ticket told
    of counted: a complaint filed earlier, or the TV's repair before the broadband failed too, left the
    broadband's failed self-help with no repair when the customer declined a human (found in review)."""
    last = tracker.get_slot("last_ticket_id")
    if not last:
        return False
    try:
        ticket = await db(repository().get_ticket, last)
    except DatabaseError:
        return False  # the repair action keeps the request until the database is back
    return ticket is not None and ticket["kind"] == "fault" and (
        (ticket.get("details") or {}).get("fault_type") == tracker.get_slot("fault_type"))


class ActionHandleDeny(Action):
    def name(self) -> str:
        return "action_handle_deny"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        message = await the_message_if_asked(dispatcher, tracker, domain)  # read as this, it is the message asked for
        if message is not None:
            return message
        if code_not_received(tracker):  # "我没收到验证码" (read as a no) while the code is asked: the request stays
            return tell_about_the_code(dispatcher, tracker)
        withdrawn = await change_taken_back(tracker)
        if withdrawn is not None:  # "等下 不换了" right after the plan change was filed
            return await note_taken_back(dispatcher, tracker, withdrawn)
        answered = await answer_naming_faults(dispatcher, tracker, domain)
        if answered is not None:  # "电视好了 宽带还是不行", read as a no, got the TV's next guide (a live trial)
            return answered
        awaiting = tracker.get_slot("awaiting")
        if awaiting == "selfhelp_feedback":
            return await selfhelp_feedback(dispatcher, tracker, domain, worked=False)
        if awaiting == VISIT_TIME and last_said(tracker) in (CONFIRM_NEW, CONFIRM_CHANGE):
            # The time read back on the phone was misheard: nothing changes, the caller says it again.
            dispatcher.utter_message(response=ASK_TIME_AGAIN)
            return []
        if takes_the_person_offered(tracker):  # "还是不行，找人工客服", read as a no, filed a repair instead
            return await continue_with("action_request_human", dispatcher, tracker, domain, [SlotSet("awaiting", None)])
        if awaiting == "offer_human" and tracker.get_slot("selfhelp_failures") and not await fault_filed(tracker):
            # Self-help failed and no human wanted: the fault still gets a repair ticket.
            return await continue_with(
                "action_create_fault_ticket", dispatcher, tracker, domain, [SlotSet("awaiting", None)]
            )
        if awaiting == "offer_human":
            dispatcher.utter_message(response="utter_misunderstood_rephrase")
            return [SlotSet("awaiting", None), SlotSet("pending_request", None)]
        if stray_guess(tracker) and says_any(tracker, labels().get("complaint_words")):
            # "排了半天队也没人理，太慢了" (an unsure no) while asked for a number was told only that the number
            # was still needed (found trying the chat): the complaint it says, acknowledged, as in the fallback.
            return await continue_with("action_complaint", dispatcher, tracker, domain)
        if still_getting_the_proof(tracker):
            # "我输错了 等下" after a wrong code got "还有其他需要帮忙的吗？", the bill asked for dropped, and the right
            # code next was refused as unasked (found in a trial). Only a no saying the code is still coming
            # (``proof_wait_words``): any other ("不查了", "算了") drops the request.
            return await ask_proof_again(dispatcher, tracker, domain)
        if asks_why_the_number(tracker):  # "为什么要手机号，不想给", read as a no: what the number is for
            return tell_why_the_number(dispatcher, tracker)
        pending = tracker.get_slot("pending_request")
        if awaiting == "identity" and pending and last_said(tracker) not in STILL_NEEDED:
            # "没解决" again, or "不用了", while asked for a number: the request stays, once, with the way
            # round it (found by a tester: a repair was dropped and the number typed next went nowhere).
            number_still_needed(dispatcher, pending)
            return []
        if details_question(tracker) and not says_never_mind(tracker):
            # "没看到什么灯亮" to "请问宽带具体是什么情况？" got "anything else?", the fault dropped (found trying
            # the chat): nothing more to go on, triage goes on with the fault's general self-help. "不用了"
            # there declines the help, and is let be.
            return await continue_with("action_triage_fault", dispatcher, tracker, domain)
        if last_said(tracker) in REPAIR_FILED and names_not_fixed(tracker):
            # "没解决" to "需要预约上门时间或转人工客服吗？" is no "no thanks": it got "还有其他需要帮忙的吗" (found
            # trying the chat). The repair stands; the quicker ways are offered again.
            dispatcher.utter_message(response="utter_repair_under_way")
            return []
        if asks_about_the_queue(tracker):
            # "我还在等吗" in a new chat, read as a no, got "还有其他需要帮忙的吗" (found in a review). Whoever
            # the assistant answers is not queued (queueing pauses it): they hear so, and can ask for a person.
            return tell_not_waiting(dispatcher)
        if not awaiting and stray_guess(tracker):
            return await continue_with("action_fallback", dispatcher, tracker, domain)
        if not awaiting and asked_anything_else(tracker) and says_any(tracker, labels().get("nothing_more_words")):
            dispatcher.utter_message(response="utter_goodbye")
            return [SlotSet("pending_request", None)]
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("awaiting", None), SlotSet("pending_request", None)]


# Replies that end by asking whether there is anything else ("还有其他需要帮忙的吗？"): a no to them saying there is
# nothing more (``nothing_more_words``) ends the conversation. Found trying the chat: "没有了 谢谢" after a fix got
# "好的，还有其他需要帮忙的吗？" again; found in review, any no did ("不是这个工单" after a hurried ticket).
ANYTHING_ELSE_ASKED = frozenset({
    "utter_anything_else", "utter_ok", "utter_thanks", "utter_selfhelp_resolved", "utter_noted_on_ticket",
    "utter_visit_cancel_none", "utter_ticket_hurried", "utter_agent_handback", "utter_queue_cancelled",
    "utter_queue_selfhelp_worked",
})


def asked_anything_else(tracker: Tracker) -> bool:
    """Whether the bot's reply to the customer's previous message asked if there was anything else."""
    before = list(turns(tracker.events))[-2:-1]
    return bool(before) and bool(before[0][1] & ANYTHING_ELSE_ASKED)


def answered_already(tracker: Tracker) -> bool:
    """Whether a fallback reply already answered the customer's latest message (run or chained)."""
    latest = list(turns(tracker.events))[-1:]
    return bool(latest) and bool(latest[0][1] & FALLBACK_ACTIONS)


class ActionFallback(Action):
    """Ask "A or B?" on a close call, else to rephrase; after two misunderstandings in a row
    (see actions.misunderstanding), offer a human."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if answered_already(tracker):
            # Predicted again for the same message (it is also Rasa's core fallback, which does not revert
            # the message as Rasa's own does): listen. Found by a tester: seven identical apologies, then
            # Rasa's circuit breaker, for one 解决了.
            return [FollowupAction("action_listen")]
        chosen = await take_typed_option(tracker)
        if chosen is not None:  # "第二个" to "A or B?": that option, as if tapped
            return chosen
        answered = await answer_naming_faults(dispatcher, tracker, domain)
        if answered is not None:  # "电视可以了，网还是上不去" to "did it fix it?": the TV fixed, on to the broadband
            return answered
        if says_not_fixed(tracker):
            return await selfhelp_feedback(dispatcher, tracker, domain, worked=False)
        if takes_the_person_offered(tracker):  # "还是没用，给我转人工吧", read as nothing in particular
            return await continue_with("action_request_human", dispatcher, tracker, domain, [SlotSet("awaiting", None)])
        score = typed_score(tracker)
        if score is not None:  # "3分吧，等太久了" right after the score question
            return await record_score(dispatcher, tracker, score)
        if message_being_left(tracker):  # CI: "宽带坏了三天了…138…，麻烦尽快回电" read as nothing in particular
            return await leave_the_message(dispatcher, tracker, domain)
        if code_not_received(tracker):  # "验证码没收到" while the code is asked
            return tell_about_the_code(dispatcher, tracker)
        if asks_why_the_number(tracker):  # "为什么要给你手机号？我不想给" while the number is asked
            return tell_why_the_number(dispatcher, tracker)
        withdrawn = await change_taken_back(tracker)
        if withdrawn is not None:  # "还是保留原来的吧" after the plan change was filed, read as nothing in particular
            return await note_taken_back(dispatcher, tracker, withdrawn)
        if declines_the_number(tracker):  # "不想给号码": a no to the number question
            return await continue_with("action_handle_deny", dispatcher, tracker, domain)
        if asks_new_install(tracker):  # "我家在天河区" before the number an install asked for: where, for the ticket
            return await continue_with(NEW_INSTALL_ACTION, dispatcher, tracker, domain)
        if asked_for_the_time_again(tracker):  # "周日上午", said again after a no, read as nothing in particular
            return await continue_with("action_book_visit", dispatcher, tracker, domain)
        if calls_the_visit_off(tracker):  # "算了 不用来了 网好了" to the time just told
            return await continue_with("action_book_visit", dispatcher, tracker, domain)
        if await note_said_more(dispatcher, tracker):
            return [SlotSet("awaiting", None)]
        if await hurry_ticket(dispatcher, tracker):
            return [SlotSet("awaiting", None)]
        if follows_up_the_bill(tracker):  # "上个月呢" right after the bill: the bill question it is
            return await continue_with("action_query_bill", dispatcher, tracker, domain)
        if len(faults_named(tracker)) > 1:  # "电视和宽带都不行了": both faults, one after the other
            return await continue_with("action_triage_fault", dispatcher, tracker, domain)
        if says_any(tracker, labels().get("complaint_words")):  # "能退钱吗": a refund demand, as "我要退款" is
            return await continue_with("action_complaint", dispatcher, tracker, domain)
        named = request_named(tracker)
        if named:  # "查流量 138…": the request its words name beside the number, for it (none while one is pending)
            return await continue_with(named, dispatcher, tracker, domain)
        if number_beside_no_request(tracker):  # "我不是要投诉 手机号是138…": the number, noted as any number is
            return await continue_with("action_identify_customer", dispatcher, tracker, domain)
        if still_getting_the_proof(tracker):  # "等下", "稍等我看看短信" while the code is asked for: the code, still
            return await ask_proof_again(dispatcher, tracker, domain)
        in_a_row = misunderstood_in_a_row(tracker)
        if current_is_repeated_guess(tracker):  # unsure twice about the same thing: no third try
            in_a_row = max(in_a_row, MISUNDERSTOOD_BEFORE_OFFER)
        intent, confidence = intent_of({"parse_data": {"intent": (tracker.latest_message or {}).get("intent") or {}}})
        await record(tracker, "nlu_fallback", misunderstood_in_a_row=in_a_row, intent=intent,
                     confidence=round(confidence, 3))
        if in_a_row >= MISUNDERSTOOD_BEFORE_OFFER:
            return await offer_human(dispatcher, tracker, domain, "utter_misunderstood_offer_human")
        if ask_which_intent(dispatcher, tracker):
            return []
        dispatcher.utter_message(response="utter_default")
        return []
