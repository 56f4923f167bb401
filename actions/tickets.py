"""Requests that become tickets: repairs, service changes, complaints, callbacks (visits: actions/visits.py).

Every one is written to the ticket ledger and told to the customer by its id. A repair, a complaint or
a callback the database cannot take is kept and filed once it is back (``actions.kept_requests``).
"""
from __future__ import annotations

import datetime as dt
import time

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.acknowledge import AcknowledgeFirst, acknowledged_already
from actions.handoff import asks_whether_queued, leaves_a_queue, tell_not_waiting
from actions.accounts import money
from actions.chain import apply_slots, continue_with
from actions.change_withdrawn import change_taken_back, note_taken_back
from actions.clarify import take_typed_option
from actions.cheaper_plans import (CHANGE_PLAN, asks_cheaper, offer_cheaper_plans, picked_plan, plan_change_said,
                                   plan_named_in_request)
from actions.backend import (catalogue, channel_of, db, labels, last_said, latest_entity, latest_text, names_any,
                             parts_named, record, repository, says_any)
from actions.identity import (IdentifiedAction, Identity, customer_words, establish, local_phone, message_awaited,
                              no_message_given, request_event, request_text, without_secrets)
from actions.kept_requests import KeptWhenDown
from actions.message_asked import (ask_for_the_message, leaves_a_message, message_answer, message_text,
                                   number_given_for_it, number_given_with_it, number_in_the_message,
                                   says_nothing_but_the_request)
from actions.misunderstanding import intent_of, turns
from actions.new_install import NEW_INSTALL, ActionNewInstall, requested_change
from actions.repairs import chase_repair, join_open_repairs, join_ticket, tell_unproven
from actions.service_questions import SERVICE_OFFER, answer_service_question
from actions.ticket_records import (FILED_REPLIES, FiledToCallBack, filed_already, newest, open_ticket, progress_note,
                                    recorded, status_label)
from actions.visits import asks_to_cancel, cancelled_if_asked, progress_of_no_visit
from bot.arrears import owed_cents, owed_yuan
from bot.db.repository import Customer, more_urgent
from bot.handoff.masking import AWAITING_PROOF, mask_phone
from bot.handoff.rules import load_rules
from bot.handoff.tickets import callback_number
from bot.handoff.waiting_tickets import promised_time
from bot.denial import said_not_denied
from bot.ivr.matching import without
from bot.labels import ticket_summary
from bot.repair_faults import fault_names, selfhelp_by_fault
from bot.selfhelp import SelfHelpEntry
from bot.ticket_notes import history_note


def repair_faults(tracker: Tracker) -> list[str]:
    """The faults the repair about to be filed is for: the one in hand and those named with it that self-help
    did not fix either (``faults_unfixed``)."""
    return [*(tracker.get_slot("faults_unfixed") or []), tracker.get_slot("fault_type")]


def files_a_repeat(tracker: Tracker) -> bool:
    """Whether the repair about to be filed is a repeat: a fault it files was said to keep coming back, the one in
    hand (``fault_repeat``) or one named with it (``faults_repeat``). Found in review: "电视又没信号了，宽带也上不了网"
    was told the TV would be treated as a repeat, and the repair filed for it with the broadband was an ordinary one."""
    said = set(tracker.get_slot("faults_repeat") or [])
    return bool(tracker.get_slot("fault_repeat")) or any(fault in said for fault in repair_faults(tracker))


def repair_selfhelp(tracker: Tracker) -> list[SelfHelpEntry]:
    """The self-help tried for the repair about to be filed, fault by fault: that sent in the conversation for its
    faults (``repair_faults``) and for those it was helped with before they turned out not to be the matter
    (``faults_retriaged``: 宽带, then it was the Wi-Fi). The ticket's summary and its details both read it, so
    they name the same. Found in review: with two faults named, one joining its open repair and the other filed
    anew, the new repair listed the first fault's self-help too (``selfhelp_sent`` holds every fault's)."""
    faults = dict.fromkeys([*(tracker.get_slot("faults_retriaged") or []), *repair_faults(tracker)])
    found = catalogue()
    sent = [entry for entry in map(found.get, tracker.get_slot("selfhelp_sent") or []) if entry is not None]
    return [entry for fault in faults for entry in sent if entry.fault_type == fault]


def said_done_here(tracker: Tracker) -> set[str]:
    """The self-help entries the customer said they had done themselves, never sent (``selfhelp_said_done``)."""
    return set(tracker.get_slot("selfhelp_said_done") or [])


def fault_summary(tracker: Tracker) -> str:
    """The repair ticket's line: the fault (with those named with it that self-help did not fix either,
    ``faults_unfixed``), its code and the self-help already tried (``repair_selfhelp``), by name: under each
    fault's name when there are several, as the agent's summary lists it. What the assistant sent is the line's
    ``{selfhelp}``; steps the customer said they had done themselves are the editors' ``said_done`` words, in
    ``{said_done}`` (added at the end when the line has none, so the technician always reads them): found in a
    live trial, "光猫路由器都重启过了" filed a ticket saying the restart guide had been sent. A fault the customer
    says keeps coming back (``files_a_repeat``) has the editors' ``fault_repeat`` line, so the desk and the ledger
    show it."""
    words = load_rules().summary_words
    none = words.get("none", "")
    separator = words.get("list_separator", ", ")
    faults = repair_faults(tracker)
    done = said_done_here(tracker)
    tried = repair_selfhelp(tracker)
    sent = [(entry.fault_type, entry.title) for entry in tried if entry.id not in done]
    by_customer = [(entry.fault_type, entry.title) for entry in tried if entry.id in done]
    said = ticket_summary("said_done", selfhelp=selfhelp_by_fault(by_customer, faults, words, separator)) \
        if by_customer else ""
    line = "fault_repeat" if files_a_repeat(tracker) else "fault"
    summary = ticket_summary(line, fault=fault_names(faults, words, separator) or none,
                             code=tracker.get_slot("fault_code") or none,
                             selfhelp=selfhelp_by_fault(sent, faults, words, separator) or none, said_done=said)
    return summary if not said or said in summary else summary + said


class ActionCreateFaultTicket(AcknowledgeFirst, KeptWhenDown, IdentifiedAction):
    request = "fault_ticket"
    acknowledgement = "utter_ack_repair"
    kept_response = "utter_fault_ticket_kept"

    def name(self) -> str:
        return "action_create_fault_ticket"

    def acknowledged_otherwise(self, tracker: Tracker) -> bool:
        # utter_fault_keeps_happening said it (found trying the chat: "很抱歉问题还没有解决，我来为您登记报修" came
        # right after it, to a first message)
        return bool(tracker.get_slot("fault_repeat"))

    async def serve(self, dispatcher, tracker, customer, verified):
        # The faults named with this one, or left for it, go on this repair, once (faults_unfixed, faults_retriaged),
        # as does a repeat (fault_repeat, faults_repeat): a later repair in the conversation is not one.
        repeat = [*([SlotSet("fault_repeat", None)] if tracker.get_slot("fault_repeat") else []),
                  *([SlotSet("faults_repeat", None)] if tracker.get_slot("faults_repeat") else [])]
        return await self.repair(dispatcher, tracker, customer, verified) + [SlotSet("faults_unfixed", None),
                                                                            SlotSet("faults_retriaged", None), *repeat]

    async def repair(self, dispatcher, tracker, customer, verified):
        if tracker.get_slot("faults_unfixed"):
            return await self.repair_several(dispatcher, tracker, customer, verified)
        chased = await chase_repair(dispatcher, tracker, customer, tracker.get_slot("fault_type"), verified)
        if chased is not None:
            return chased
        return await self.file_repair(dispatcher, tracker, customer, verified)

    async def repair_several(self, dispatcher, tracker, customer, verified):
        """Faults named together that self-help did not fix: those with a repair open join it, the rest get one
        new repair. Found by the maintainers: someone who had only typed a number (so triage, to tell them
        nothing, did not skip the self-help for a fault under repair) got a second repair for the TV, or, with
        the broadband's open, none for the TV. Someone unproven hears what they would with no repair open."""
        fault_type = tracker.get_slot("fault_type")
        joined, left = await join_open_repairs(tracker, customer, [*tracker.get_slot("faults_unfixed"), fault_type])
        if not joined:
            return await self.file_repair(dispatcher, tracker, customer, verified)
        events = []
        if left:  # the new repair is the faults left's (the code, and the repeat mark, only if it was theirs)
            code = [] if left[-1] == fault_type else [SlotSet("fault_code", None), SlotSet("fault_repeat", None)]
            events = apply_slots(tracker, [SlotSet("fault_type", left[-1]), SlotSet("faults_unfixed", left[:-1]), *code])
        new = await self.new_repair(tracker, customer, verified) if left else None
        if not verified:
            filed = [("repair_chased", ticket_id) for ticket_id in dict.fromkeys(t for _, t in joined)]
            return events + await tell_unproven(dispatcher, tracker, customer,
                                                filed + ([("repair_registered", new)] if new else []))
        words = load_rules().summary_words
        done = fault_names([fault for fault, _ in joined], words)
        ids = words.get("list_separator", ", ").join(dict.fromkeys(t for _, t in joined))
        if new is None:
            dispatcher.utter_message(response="utter_fault_ticket_chased", ticket_id=ids)
            return events + [SlotSet("last_ticket_id", joined[-1][1]), SlotSet("awaiting", None)]
        dispatcher.utter_message(response="utter_repair_open_then_repair", done=done, ticket_id=ids,
                                 left=fault_names(left, words))
        dispatcher.utter_message(response="utter_fault_ticket_created", ticket_id=new)
        return events + [SlotSet("last_ticket_id", new), SlotSet("awaiting", None)]

    async def file_repair(self, dispatcher, tracker, customer, verified):
        """A new repair for the fault in hand and those named with it (``faults_unfixed``)."""
        ticket_id = await self.new_repair(tracker, customer, verified)
        if not verified:
            return await tell_unproven(dispatcher, tracker, customer, [("repair_registered", ticket_id)])
        dispatcher.utter_message(response="utter_fault_ticket_created", ticket_id=ticket_id)
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("awaiting", None)]

    @staticmethod
    async def new_repair(tracker, customer, verified) -> str:
        """The repair ticket. A fault the customer says keeps coming back (``files_a_repeat``, set by triage) is one
        step more urgent and says so in its details: it was filed as an ordinary repair, and the agent could not
        tell it from a first report."""
        priority = 1 if customer.vip_tier >= 2 else 0
        also = {"also_fault_types": tracker.get_slot("faults_unfixed")} if tracker.get_slot("faults_unfixed") else {}
        if files_a_repeat(tracker):
            priority, also = more_urgent(priority), {**also, "repeat": True}
        # selfhelp_sent: every entry tried, as before; selfhelp_said_done: those of them the customer did themselves.
        tried = [entry.id for entry in repair_selfhelp(tracker)]
        done = [entry_id for entry_id in tried if entry_id in said_done_here(tracker)]
        return await open_ticket(tracker, customer, "fault", fault_summary(tracker), verified=verified,
                                 priority=priority, details={"selfhelp_sent": tried, "selfhelp_said_done": done, **also})


OPEN = "open"
RESUME = "resume"


def may_be_no_customer_yet(tracker: Tracker) -> bool:
    """Whether opening a service (办理, 开通) may be someone's first: nobody is identified in the conversation,
    and the words said it, not the choice of "开通新业务" among the services."""
    return not tracker.get_slot("customer_id") and not request_text(tracker).startswith("/")


async def change_asked(tracker: Tracker) -> str | None:
    """The service change asked for (``requested_change``). One naming no service but one plan on sale
    (``plan_named_in_request``: "我想把套餐改成便宜点的300M宽带", "那换成300M宽带那个吧") is a change to that plan: found
    in a trial, it was asked "which service?", and the change was filed without the plan."""
    change = requested_change(tracker)
    if change is None and await plan_named_in_request(tracker) is not None:
        return CHANGE_PLAN
    return change


async def plan_to_change_to(tracker: Tracker, customer: Customer) -> tuple[dict | None, str]:
    """The plan a plan change is for, and the customer's words to file with it: a plan's button tapped (no
    words), or the one plan their request names that is not their own ("我现在是千兆宽带 想换个便宜的" names the
    plan they leave). A plan named is filed as asked even when it is not cheaper than theirs though they asked
    for a cheaper one: they chose it by name, and the reply tells its monthly fee, so a mistaken price is seen
    before the salesperson calls; the cheaper plans are shown only when no plan is named."""
    plan = await picked_plan(tracker)
    if plan is not None:
        return plan, ""
    named = await plan_named_in_request(tracker)
    if named is None or named["code"] == customer.plan_code:
        return None, ""
    return named, request_text(tracker)


class ActionManageService(AcknowledgeFirst, IdentifiedAction):
    request = "manage_service"
    acknowledgement = "utter_ack_service_change"
    acknowledgement_otherwise = "utter_ack_visit_cancel"  # "帮我把上门取消掉"

    def name(self) -> str:
        return "action_manage_service"

    async def run(self, dispatcher, tracker, domain):
        chosen = await take_typed_option(tracker)
        if chosen is not None:  # "我选4K超清电视包" to the cheaper plans: that plan, as if tapped
            return chosen
        withdrawn = await change_taken_back(tracker)
        if withdrawn is not None:  # "刚才那个换套餐的单子帮我撤销": taken back, not a second change
            return await note_taken_back(dispatcher, tracker, withdrawn)
        if leaves_a_queue(tracker):  # "取消排队" with no queue to leave filed a cancellation (the verification trial)
            return tell_not_waiting(dispatcher)
        change = await change_asked(tracker)
        if change == NEW_INSTALL:  # no account to prove yet: ActionNewInstall
            return await ActionNewInstall().run(dispatcher, tracker, domain)
        offered = tracker.get_slot("awaiting") == SERVICE_OFFER  # taken: "好的" to the offer after the answer
        if not tracker.get_slot("pending_request") and not offered:
            answered = await answer_service_question(dispatcher, tracker, change)  # "停机保号怎么弄"
            if answered is not None:
                return answered
        if not tracker.get_slot("pending_request") and (change not in labels()["service_action"]
                                                        or change == OPEN and may_be_no_customer_yet(tracker)):
            # Which service first (found trying the chat: "我想办宽带" and "宽带怎么办理" were asked for the
            # number registered with us, and a prospective customer never reached the new install among the
            # choices).
            dispatcher.utter_message(response="utter_ask_service_action")
            return []
        events = await super().run(dispatcher, tracker, domain)
        return [SlotSet("awaiting", None), *events] if offered else events

    def asks_otherwise(self, tracker: Tracker) -> bool:
        return asks_to_cancel(request_text(tracker), tracker)

    async def serve(self, dispatcher, tracker, customer, verified):
        cancelled = await cancelled_if_asked(dispatcher, tracker, customer, service_change=True)
        if cancelled is not None:  # "我想取消明天的上门": the visit booked, not a service to cancel
            return cancelled
        change = await change_asked(tracker)
        names = labels()["service_action"]
        if change not in names:
            dispatcher.utter_message(response="utter_ask_service_action")
            return []
        if change == RESUME and owed_cents(customer.balance_cents):
            # Cut off for arrears: the payment restores it (bot/arrears.py); a request would wait a working day
            # for nothing (found trying the chat: 欠费停机了, then 怎么恢复, was filed as a ticket).
            dispatcher.utter_message(response="utter_resume_after_payment", amount_owed=owed_yuan(customer.balance_cents))
            await record(tracker, "answer_given", topic="resume_after_payment")
            return [SlotSet("service_action", None)]
        plan, words = await plan_to_change_to(tracker, customer) if change == CHANGE_PLAN else (None, "")
        if plan is not None:  # a cheaper plan picked among those shown, or a plan named
            return await self.file_plan_change(dispatcher, tracker, customer, verified, plan, words)
        offered = await offer_cheaper_plans(dispatcher, tracker, customer) \
            if change == CHANGE_PLAN and asks_cheaper(tracker) else None  # "我想换个便宜点的套餐": which ones, first
        if offered is not None:
            return offered + [SlotSet("service_action", None)]
        said = request_text(tracker)
        # A button, or a yes to the offer after a question about it: its choice is the whole request.
        offer_taken = (request_event(tracker).get("parse_data") or {}).get("intent", {}).get("name") == "affirm"
        said = "" if said.startswith("/") or offer_taken else said
        filed = await filed_already(tracker, customer, change, said[:500])
        ticket_id = filed or await open_ticket(tracker, customer, "service_change",
                                               ticket_summary("service_change", service=names[change], said=said[:200]),
                                               verified=verified,
                                               details={"service_action": change, "customer_said": said[:500]})
        # What the customer said goes back with the ticket: "退掉那个4K包" is not "close my account".
        dispatcher.utter_message(
            response="utter_service_change_recorded_as_said" if said else "utter_service_change_recorded",
            ticket_id=ticket_id, service_action_label=names[change], request=said[:60])
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("service_action", None)]

    @staticmethod
    async def file_plan_change(dispatcher, tracker, customer, verified, plan: dict, words: str = ""):
        """The change to the plan picked, said on the ticket and in the reply by its name and fee; the customer's
        ``words`` naming it, if any, kept on the ticket as they said them."""
        said = plan_change_said(plan)
        kept = words[:500] or said
        filed = await filed_already(tracker, customer, CHANGE_PLAN, kept)
        ticket_id = filed or await open_ticket(
            tracker, customer, "service_change",
            ticket_summary("service_change", service=labels()["service_action"][CHANGE_PLAN], said=said),
            verified=verified, details={"service_action": CHANGE_PLAN, "customer_said": kept, "plan_code": plan["code"]})
        dispatcher.utter_message(response="utter_plan_change_recorded", ticket_id=ticket_id, plan_name=plan["name"],
                                 monthly_fee=money(plan["monthly_fee_cents"]))
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("service_action", None)]


class ActionQueryTicket(AcknowledgeFirst, IdentifiedAction):
    """Ticket progress, only for the identified customer's own tickets."""

    request = "query_ticket"
    acknowledgement = "utter_ack_ticket"  # often a repair that is late: not a bare "your number?"

    def name(self) -> str:
        return "action_query_ticket"

    async def serve(self, dispatcher, tracker, customer, verified):
        words = labels()
        wanted = latest_entity(tracker, "ticket_id") or tracker.get_slot("ticket_id")
        if wanted:
            ticket = await db(repository().get_ticket, wanted)
            if ticket is None or not is_theirs(ticket, customer, verified, tracker.sender_id):
                dispatcher.utter_message(response="utter_ticket_not_found", ticket_id=wanted.upper())
                return [SlotSet("ticket_id", None)]
            found = [ticket]
        else:
            about_no_visit = await progress_of_no_visit(dispatcher, tracker, customer)
            if about_no_visit is not None:  # "师傅什么时候上门" with none booked: not a list of other tickets
                return about_no_visit
            found = progress_order(await db(repository().tickets_for, customer.id, open_only=True))
        found, others = of_kinds_named(found, request_text(tracker), words.get("ticket_question") or {})
        if not found:
            dispatcher.utter_message(response="utter_no_open_tickets")
        for ticket in found:
            dispatcher.utter_message(
                response="utter_ticket_status",
                ticket_id=ticket["ticket_id"],
                kind_label=words["ticket_kind"].get(ticket["kind"], ticket["kind"]),
                status_label=words["ticket_status"].get(ticket["status"], ticket["status"]),
                summary=progress_note(ticket, words),
            )
        if others:
            dispatcher.utter_message(response="utter_ticket_others_open", count=len(others))
        await record(tracker, "answer_given", topic="ticket_status")  # "none open" is an answer too
        # The ticket told first is the one "能不能快点" next hurries (``hurry_ticket``).
        return [SlotSet("ticket_id", None)] + ([SlotSet("last_ticket_id", found[0]["ticket_id"])] if found else [])


def of_kinds_named(tickets: list[dict], question: str, kinds: dict[str, list[str]]) -> tuple[list[dict], list[dict]]:
    """The tickets of the kinds the question names (``ticket_question``), and the rest: found by a tester,
    "我上周报修的宽带怎么还没人来" was told every complaint and service change too. All of them when it names
    none, or none of those is open."""
    named = parts_named(question, kinds)
    asked = [ticket for ticket in tickets if ticket["kind"] in named]
    if not asked:
        return tickets, []
    return asked, [ticket for ticket in tickets if ticket["kind"] not in named]


# The replies that tell a ticket's progress (the last of them when others are open too).
PROGRESS_TOLD = frozenset({"utter_ticket_status", "utter_ticket_others_open"})


async def hurry_ticket(dispatcher, tracker: Tracker) -> bool:
    """"能不能快点" (``hurry_words``), said right after a ticket's progress and not understood by the NLU, hurries
    the ticket told first: one step more urgent and the words on it (``join_ticket``), as a fault reported
    again is. Found trying the chat: it got "抱歉，我没太明白". False when that is not what was said."""
    ticket_id = tracker.get_slot("last_ticket_id")
    if last_said(tracker) not in PROGRESS_TOLD or not ticket_id or not says_any(tracker, labels().get("hurry_words")):
        return False
    ticket = await db(repository().get_ticket, ticket_id)
    if ticket is None:
        return False
    await join_ticket(tracker, ticket, history_note("hurried", channel=channel_of(tracker),
                                                    said=customer_words(tracker)[:200]))
    dispatcher.utter_message(response="utter_ticket_hurried", ticket_id=ticket_id)
    return True


# The open tickets a customer asking "what about my ticket?" means first: the repair and its visit, a
# callback last. Every open one is told, on every channel, in this order (newest first within a kind).
# Found by a journey tester: only the three newest were told, so each channel showed different tickets
# and the repair itself dropped out of view.
PROGRESS_ORDER = ("fault", "visit", "complaint", "service_change", "voice_message", "handoff", "callback")


def progress_order(tickets: list[dict]) -> list[dict]:
    rank = {kind: index for index, kind in enumerate(PROGRESS_ORDER)}
    return sorted(tickets, key=lambda t: rank.get(t["kind"], len(rank)))


def is_theirs(ticket: dict, customer: Customer, verified: bool, conversation_id: str) -> bool:
    """Whether the customer may follow ``ticket``: it is on their account, or (proven customers only)
    it is on nobody's and was opened in this very conversation or to their own number, as an agent's
    转工单跟进 for a customer who had not said who they were (found by a tester: "没有查到工单")."""
    if ticket["customer_id"] is not None:
        return ticket["customer_id"] == customer.id
    number = local_phone(callback_number(ticket.get("details")))
    return verified and (ticket["conversation_id"] == conversation_id
                         or (number is not None and number == local_phone(customer.phone)))


def withdrawn(tracker: Tracker) -> bool:
    """Whether the customer takes back the complaint still waiting for their number or their code ("算了 不投诉了"):
    nothing is filed, and neither is asked for again. Found in review: while the code was awaited (editors may make
    complaints need proof, content/verification.yml), it was asked for again."""
    waiting = (tracker.get_slot("pending_request") == "action_complaint"
               and tracker.get_slot("awaiting") in ("identity", AWAITING_PROOF))
    return waiting and says_any(tracker, labels().get("complaint_withdrawn_words"))


def takes_the_complaint_back(tracker: Tracker) -> bool:
    """Whether the latest message takes the complaint back ("把那个投诉撤了吧"), not asking whether it was
    ("我的投诉取消了吗？") nor denying it ("我不是要撤销投诉，是要补充一下"): found in review, both were noted as
    withdrawals for staff to close."""
    text = latest_text(tracker)
    asked = any(end in text for end in ("吗", "么", "?", "？", "了没"))
    return not asked and any(word and said_not_denied(text, word)
                             for word in labels().get("complaint_withdrawn_words") or ())


def asks_for_no_complaint(tracker: Tracker) -> bool:
    """Whether a message read as a complaint says it is none ("我不是要投诉 138…", ``complaint_denied_words``) and
    complains of nothing all the same: no 投诉 outside those words, no word of ``complaint_words`` (退款) and none of
    ``complaint_despite_words`` anywhere ("我本来没想投诉的，可你们三天都没来修": found in review, it was dropped;
    "我不是投诉过了吗" chases one)."""
    words = labels()
    text = latest_text(tracker)
    denied = [word for word in words.get("complaint_denied_words") or () if word and word in text]
    if not denied:
        return False
    rest = without(text, denied)
    return ("投诉" not in rest and not names_any(rest, words.get("complaint_words"))
            and not names_any(text, words.get("complaint_despite_words")))


# Replies that took the customer's words as their complaint before it could be filed (actions/acknowledge.py).
COMPLAINT_HEARD = frozenset({"utter_ack_complaint", "utter_complaint_detail_noted"})


def complaint_heard(tracker: Tracker) -> list[str]:
    """What the customer described of their complaint before the request in hand, while their number or code was
    asked, each acknowledged as heard (``COMPLAINT_HEARD``): told "记下了", "我要投诉你们的装机师傅" then
    "迟到了三个小时" must not be filed as the last words only. Only since the last ticket filed (``FILED_REPLIES``; found
    in review: the first complaint's words, heard before its number, were written into the second one's note too)."""
    request = request_event(tracker)
    said: list[str] = []
    before_request = False
    for user, answered in reversed(list(turns(tracker.events))):
        if user is request:
            before_request = True
        elif before_request and any(reply in FILED_REPLIES for reply in answered):  # heard for that ticket
            break
        elif before_request and intent_of(user)[0] != "inform":
            if not answered & COMPLAINT_HEARD:
                break
            said.insert(0, without_secrets(user.get("text") or ""))
    return said


def complaint_said(tracker: Tracker) -> str:
    """The complaint in the customer's words: what they said of it before (``complaint_heard``), then the request."""
    return "；".join(dict.fromkeys(text for text in [*complaint_heard(tracker), request_text(tracker)] if text))


class ActionComplaint(AcknowledgeFirst, KeptWhenDown, IdentifiedAction):
    """A complaint is always written down and flagged for a person (kept and filed later when the
    database is down)."""

    request = "complaint"
    acknowledgement = "utter_ack_complaint"
    acknowledgement_more = "utter_complaint_detail_noted"
    kept_response = "utter_complaint_kept"
    kept_awaiting = "offer_human"
    files_for_any_number = True

    def name(self) -> str:
        return "action_complaint"

    async def run(self, dispatcher, tracker, domain):
        if asks_whether_queued(tracker):
            # "还在排队吗" / "我在排队吗" from a customer who is not queued, read by the NLU as a complaint (about
            # 0.51), started one (found by the maintainers): they are told they are not waiting, a person offered.
            return tell_not_waiting(dispatcher)
        if withdrawn(tracker):
            dispatcher.utter_message(response="utter_ok")
            return [SlotSet("pending_request", None), SlotSet("awaiting", None)]
        if asks_for_no_complaint(tracker):
            # "我不是要投诉 138…" (complaint 0.94) started a complaint (found in a live trial): the number is noted, as any
            # number is (nothing names a complaint there: named_request.WITHDRAWN), and without one nothing is started.
            if latest_entity(tracker, "phone_number") or latest_entity(tracker, "account_number"):
                return await continue_with("action_identify_customer", dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_ok")
            return []
        return await super().run(dispatcher, tracker, domain)

    async def serve(self, dispatcher, tracker, customer, verified):
        return await self.file(dispatcher, tracker, customer, {}, verified)

    async def serve_number(self, dispatcher, tracker, phone):
        return await self.file(dispatcher, tracker, None, {"callback_phone": phone}, False)

    async def file(self, dispatcher, tracker, customer: Customer | None, details: dict, verified: bool):
        text = complaint_said(tracker)
        # Found trying the chat: 装机师傅迟到了三个小时, said right after the complaint was filed, became a second
        # ticket. This conversation's own complaint tells whoever is typing nothing new, proven or not.
        own = newest(await db(repository().tickets_for, None, open_only=True, conversation_id=tracker.sender_id),
                     "complaint")
        if own is not None and takes_the_complaint_back(tracker):
            # "把那个投诉撤了吧": taken back, noted for staff to close (found in a live trial: noted as more of it)
            await db(repository().note_ticket, own["ticket_id"],
                     history_note("complaint_withdraw", channel=channel_of(tracker), said=text[:500]))
            dispatcher.utter_message(response="utter_complaint_withdraw_noted", ticket_id=own["ticket_id"])
            return [SlotSet("last_ticket_id", own["ticket_id"]), SlotSet("awaiting", None)]
        if own is not None:
            await db(repository().note_ticket, own["ticket_id"],
                     history_note("complaint_more", channel=channel_of(tracker), said=text[:500]))
            # Only noted: filing it asked whether to reach a person (found in a review: asked after every detail).
            # That question is behind the customer now: a 好的 to this note is no yes to it (it queued them).
            dispatcher.utter_message(response="utter_complaint_detail_added", ticket_id=own["ticket_id"])
            return [SlotSet("last_ticket_id", own["ticket_id"]), SlotSet("awaiting", None)]
        filed = await open_of(customer, "complaint")
        if filed is not None and verified:  # found by a tester: the same complaint again became a second one
            await join_ticket(tracker, filed, history_note("complaint_again", channel=channel_of(tracker), said=text[:500]))
            dispatcher.utter_message(response="utter_complaint_chased", ticket_id=filed["ticket_id"],
                                     status_label=status_label(filed))
            return [SlotSet("last_ticket_id", filed["ticket_id"]), SlotSet("awaiting", "offer_human")]
        ticket_id = await open_ticket(tracker, customer, "complaint", ticket_summary("complaint", said=text[:500]),
                                      verified=verified, priority=2, needs_human=True,
                                      details={**details, **related_to(filed)})
        # Apologised already: before the number was asked, or before the complaint was described (complaint_heard).
        apologised = acknowledged_already(tracker, self.acknowledgement) or bool(complaint_heard(tracker))
        dispatcher.utter_message(response="utter_complaint_recorded_after_ack" if apologised else "utter_complaint_recorded",
                                 ticket_id=ticket_id)
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("awaiting", "offer_human")]


async def open_of(customer: Customer | None, kind: str) -> dict | None:
    """The customer's newest open ticket of ``kind`` (None for a request filed on a bare number)."""
    if customer is None:
        return None
    return newest(await db(repository().tickets_for, customer.id, open_only=True), kind)


def related_to(open_ticket: dict | None) -> dict:
    """Details naming the customer's open ticket of the same kind, for a request from someone who only
    named the customer. Such a request gets a ticket of its own instead of joining that one: joined, the
    reply named the open ticket's id, which told whoever holds a customer's number that the customer had
    complained or asked for a callback earlier, and under which number (found in review). The agent who
    works either sees the other among the customer's open tickets."""
    return {"related_ticket_id": open_ticket["ticket_id"]} if open_ticket is not None else {}


def asks_after_a_message_left(tracker: Tracker) -> bool:
    """Whether a message request says a message was left before (``message_left_before_words``) and asks for no new
    one: with those words taken out, no ``message_request_words`` are left ("帮我留个言：上次留言说的地址写错了" is a
    new message, found in review)."""
    words = labels()
    text = latest_text(tracker)
    left = [word for word in words.get("message_left_before_words") or () if word and word in text]
    return bool(left) and not names_any(without(text, left), words.get("message_request_words"))


class ActionLeaveMessage(AcknowledgeFirst, KeptWhenDown, FiledToCallBack, IdentifiedAction):
    """A callback request or a message left: a ticket that a person works, to the customer's phone (kept and
    filed later when the database is down). A message asked for without saying it is asked for first
    (actions/message_asked.py)."""

    request = "leave_message"
    acknowledgement = "utter_ack_callback"
    # The message asked for, said by someone not known yet: it is noted, then the number asked.
    acknowledgement_otherwise = "utter_ack_message_noted"
    kept_response = "utter_message_kept"

    def name(self) -> str:
        return "action_leave_message"

    def asks_otherwise(self, tracker: Tracker) -> bool:
        return message_answer(tracker) is not None

    async def whom(self, tracker: Tracker) -> Identity:
        """A message never changes whom the conversation knows (a session's proof, a channel's): someone known
        leaves it on their account, whatever numbers it names or was given with (found in review: a number in the
        message, or given with the request, moved a proven customer's message, and their next requests, to whoever
        had that number). For someone not known yet a number given with the request, alone, or in the message
        says who they are."""
        known = await establish(tracker, this_turn=False)
        return known if known.customer is not None else await establish(tracker, number_given_for_it(tracker))

    async def run(self, dispatcher, tracker, domain):
        if not message_awaited(tracker) and asks_after_a_message_left(tracker):
            # "我上次留言了还没人回 138…": the message left before, asked after (its progress), not a second one
            return await continue_with("action_query_ticket", dispatcher, tracker, domain)
        not_the_message = no_message_given(dispatcher, tracker)  # "算了 不留言了", "好的"
        if not_the_message is not None:
            return not_the_message
        if says_nothing_but_the_request(message_text(tracker)):  # "帮我留个言" (138…): what is the message?
            return await number_given_with_it(tracker) + ask_for_the_message(dispatcher, tracker, self.name())
        answered = [SlotSet("pending_request", None), SlotSet("awaiting", None)] if message_awaited(tracker) else []
        answered += number_in_the_message(tracker)  # "我的电话是138 0013 8000，…": not asked for again
        return apply_slots(tracker, answered) + await super().run(dispatcher, tracker, domain)

    async def serve(self, dispatcher, tracker, customer, verified):
        """Called back on the number given for the message ("帮我留个言 139…"), when it is not their phone (found
        trying the chat: filed on no account, whoever called back could not see whose TV it was)."""
        callback = number_given_for_it(tracker)
        if callback and callback != customer.phone:
            return await self.file(dispatcher, tracker, customer, callback, {"callback_phone": callback}, verified)
        return await super().serve(dispatcher, tracker, customer, verified)

    async def file(self, dispatcher, tracker, customer: Customer | None, phone: str, details: dict, verified: bool):
        text = message_text(tracker)
        promised = await open_of(customer, "callback")
        # Found by a tester: "你们说的回电什么时候打给我" filed a second callback. One to a new number is a new one
        # (found in review: joined to the promised one, the number given was dropped).
        if promised is not None and verified and not details.get("callback_phone"):
            return await self.chase(dispatcher, tracker, promised, phone, text)
        ticket_id = await open_ticket(tracker, customer, "callback", ticket_summary("callback", said=text[:200]),
                                      verified=verified, priority=1, needs_human=True,
                                      details={**details, **related_to(promised)})
        recorded(dispatcher, tracker, ticket_id, phone, verified,
                 response="utter_message_left" if leaves_a_message(tracker) else "utter_message_recorded",
                 registered=customer is not None and phone == customer.phone)
        return [SlotSet("last_ticket_id", ticket_id)]

    async def chase(self, dispatcher, tracker, promised: dict, phone: str, text: str):
        """A callback a proven customer asks for again joins the one promised, and they hear by when and
        where (someone who only named the customer gets a request of their own: ``related_to``)."""
        ticket_id, details = promised["ticket_id"], promised.get("details") or {}
        await join_ticket(tracker, promised, history_note("callback_again", channel=channel_of(tracker), said=text[:200]))
        number = callback_number(details) or phone
        by = promised_by(details)
        dispatcher.utter_message(response="utter_callback_chased_by" if by else "utter_callback_chased",
                                 ticket_id=ticket_id, status_label=status_label(promised),
                                 phone_masked=mask_phone(number), **({"callback_by": by} if by else {}))
        return [SlotSet("last_ticket_id", ticket_id)]


def promised_by(details: dict) -> str:
    """The time a callback was promised for, as the customer was told it (``callback_by``), or ""."""
    try:
        return promised_time(dt.datetime.fromisoformat(details["callback_by"]), time.time())
    except (KeyError, TypeError, ValueError):
        return ""
