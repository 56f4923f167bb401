"""Two faults in one message ("电视和宽带都不行了"): self-help for each in turn, one repair naming both.

Found by a review: the message was handled as the TV alone (the fallback asked "电视 or 宽带?"), the broadband
came up only if the customer said it again, and the repair ticket named only the TV.
"""
from __future__ import annotations

import pytest

from actions.backend import catalogue, repository
from tests.action_tests.trackers import Chat, Turn, load_tracker

VERIFIED = {"customer_id": "1", "verified_customer_id": "1", "verified_by": "sms_code", "verified_channel": "rest"}
BOTH = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "fault_tv", "confidence": 0.357},
        {"name": "fault_broadband", "confidence": 0.301}, {"name": "manage_service", "confidence": 0.104}]




async def tv_not_fixed(chat: Chat) -> tuple[Turn, Turn]:
    """Both faults said, the TV's self-help tried twice in vain: on to the broadband, its self-help sent.
    The replies to the message naming both, and to the TV's last "no"."""
    first = await chat.says("电视和宽带都不行了", "nlu_fallback", "action_fallback", BOTH, confidence=0.45)
    await chat.says("没信号", "fault_tv", "action_triage_fault")
    await chat.says("没用", "deny", "action_handle_deny")  # the TV's next step
    spent = await chat.says("还是不行", "deny", "action_handle_deny")
    if chat.tracker.get_slot("awaiting") != "selfhelp_feedback":  # the broadband's details asked first
        await chat.says("上不了网", "fault_broadband", "action_triage_fault")
    return first, spent


async def broadband_not_fixed(chat: Chat) -> Turn:
    """No, until the broadband's self-help is spent: the repair, or a person offered first and declined."""
    return await chat.not_fixed_until_spent(3)


def repairs_of(customer_id: int = 1) -> list[dict]:
    return [t for t in repository().tickets_for(customer_id) if t["kind"] == "fault"]


async def test_tv_and_broadband_both_down_get_self_help_in_turn_and_one_repair_naming_both(run_action):
    before = len(repairs_of())
    chat = Chat(run_action, **VERIFIED)

    first, spent = await tv_not_fixed(chat)
    assert first.responses == ["utter_faults_one_by_one", "utter_ask_fault_detail_fault_tv"], "not 电视 or 宽带?"
    assert first.message("utter_faults_one_by_one")["first"] == "电视故障"
    assert first.message("utter_faults_one_by_one")["then"] == "宽带故障"
    assert spent.responses[0] == "utter_next_fault", "on to the broadband, not a person offered for the TV"
    assert spent.message("utter_next_fault")["fault"] == "宽带故障"
    assert chat.tracker.get_slot("fault_type") == "fault_broadband"
    assert chat.tracker.get_slot("awaiting") == "selfhelp_feedback", "the broadband's own self-help"
    filed = await broadband_not_fixed(chat)

    assert "utter_fault_ticket_created" in filed.responses
    repairs = repairs_of()
    assert len(repairs) == before + 1, "one repair for both"
    summary = next(t for t in repairs if t["ticket_id"] == filed.slots["last_ticket_id"])["summary"]
    assert "电视故障" in summary and "宽带故障" in summary, summary


async def test_the_first_fault_fixed_the_second_still_gets_its_self_help_and_only_it_a_repair(run_action):
    chat = Chat(run_action, **VERIFIED)
    await chat.says("电视和宽带都不行了", "nlu_fallback", "action_fallback", BOTH, confidence=0.45)
    await chat.says("没信号", "fault_tv", "action_triage_fault")
    fixed = await chat.says("好了", "affirm", "action_handle_affirm")
    assert fixed.responses[0] == "utter_next_fault_fixed"
    assert chat.tracker.get_slot("fault_type") == "fault_broadband"
    assert not chat.tracker.get_slot("faults_unfixed")


async def test_one_fault_named_is_triaged_as_before(run_action):
    chat = Chat(run_action)
    turn = await chat.says("我家电视没信号了", "fault_tv", "action_triage_fault",
                           [{"name": "fault_tv", "confidence": 0.9}, {"name": "fault_broadband", "confidence": 0.05}])
    assert turn.responses == ["utter_selfhelp_entry", "utter_ask_selfhelp_worked"]
    assert not turn.slots.get("faults_next")


async def test_the_second_fault_fixed_the_first_still_gets_its_repair(run_action):
    chat = Chat(run_action, **VERIFIED)
    await tv_not_fixed(chat)
    fixed = await chat.says("好了", "affirm", "action_handle_affirm")
    assert fixed.responses[0] == "utter_selfhelp_resolved_then_repair"
    assert "utter_fault_ticket_created" in fixed.responses
    summary = repository().get_ticket(fixed.slots["last_ticket_id"])["summary"]
    assert "电视故障" in summary and "宽带故障" not in summary, summary


async def test_both_named_in_a_message_read_as_one_fault_are_taken_in_the_order_said(run_action):
    chat = Chat(run_action)
    turn = await chat.says("宽带和电视都坏了", "fault_broadband", "action_triage_fault",
                           [{"name": "fault_broadband", "confidence": 0.451}, {"name": "fault_tv", "confidence": 0.362}],
                           confidence=0.451)
    assert turn.responses == ["utter_faults_one_by_one", "utter_ask_fault_detail_fault_broadband"]
    assert turn.slots["faults_next"] == ["fault_tv"]


async def test_either_fault_reported_again_joins_the_repair_filed_for_both(run_action):
    chat = Chat(run_action, **VERIFIED)
    await tv_not_fixed(chat)
    await broadband_not_fixed(chat)
    repair = chat.tracker.get_slot("last_ticket_id")

    again = Chat(run_action, **VERIFIED)  # the next day: the TV still dark
    turn = await again.says("电视还是没信号", "fault_tv", "action_triage_fault")
    assert turn.responses == ["utter_fault_ticket_chased"], "no second repair for the TV"
    assert turn.message("utter_fault_ticket_chased")["ticket_id"] == repair


def open_repair_of(fault_type: str, customer_id: int = 1) -> str:
    return repository().create_ticket(kind="fault", customer_id=customer_id, summary="报修",
                                      details={"fault_type": fault_type})


async def test_the_first_faults_repair_open_the_second_still_gets_its_own_self_help_and_repair(run_action):
    """Found by the maintainers: with the TV's repair open, "电视和宽带都不行了" was told of that repair only and
    the broadband was never looked at. The TV's repair is chased; the broadband gets its self-help, then a
    repair of its own, which does not name the TV again."""
    tv_repair = open_repair_of("fault_tv")
    chat = Chat(run_action, **VERIFIED)
    first = await chat.says("电视和宽带都不行了", "nlu_fallback", "action_fallback", BOTH, confidence=0.45)
    assert first.responses == ["utter_faults_one_by_one", "utter_next_fault_repair_open",
                               "utter_ask_fault_detail_fault_broadband"], "the broadband looked at on its own"
    assert first.message("utter_next_fault_repair_open")["ticket_id"] == tv_repair
    assert chat.tracker.get_slot("fault_type") == "fault_broadband" and not chat.tracker.get_slot("faults_unfixed")
    await chat.says("上不了网", "fault_broadband", "action_triage_fault")
    assert chat.tracker.get_slot("awaiting") == "selfhelp_feedback", "the broadband's own self-help"

    filed = await broadband_not_fixed(chat)
    assert "utter_fault_ticket_created" in filed.responses
    ticket = repository().get_ticket(filed.slots["last_ticket_id"])
    assert ticket["ticket_id"] != tv_repair and "宽带故障" in ticket["summary"]
    assert "电视故障" not in ticket["summary"], "the TV has its repair"


async def test_the_second_faults_repair_open_the_first_not_fixed_still_gets_its_repair(run_action):
    """The mirror case: the TV's self-help did not help and the broadband's repair is open: the broadband's
    repair is chased, and the TV gets a repair (it was kept for a repair that was never filed)."""
    broadband_repair = open_repair_of("fault_broadband")
    chat = Chat(run_action, **VERIFIED)
    await chat.says("电视和宽带都不行了", "nlu_fallback", "action_fallback", BOTH, confidence=0.45)
    await chat.says("没信号", "fault_tv", "action_triage_fault")
    await chat.says("没用", "deny", "action_handle_deny")
    spent = await chat.says("还是不行", "deny", "action_handle_deny")
    assert spent.responses[:2] == ["utter_next_fault", "utter_repair_open_then_repair"], spent.responses
    assert spent.message("utter_repair_open_then_repair")["ticket_id"] == broadband_repair
    assert "utter_fault_ticket_created" in spent.responses
    ticket = repository().get_ticket(spent.slots["last_ticket_id"])
    assert ticket["ticket_id"] != broadband_repair and "电视故障" in ticket["summary"], ticket["summary"]
    assert "宽带故障" not in ticket["summary"], "the broadband has its repair"


async def person_taken(chat: Chat) -> Turn:
    """The customer asks for a person (the rule request_human -> action_request_human)."""
    return await chat.says("转人工", "request_human", "action_request_human")


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_a_person_taken_about_two_faults_of_two_groups_is_queued_for_the_general_group(run_action, with_redis):
    """Found by the maintainers: the TV not fixed, the broadband's self-help failed, and the person taken was
    queued for the broadband's agents only (the fault in hand). Faults of two groups go to the default group
    (content/handoff.yml ``default_skill``): no one specialist group serves both; the packet names both."""
    from bot.handoff.queue import HandoffQueue

    chat = Chat(run_action, **VERIFIED)
    chat.tracker.sender_id = "two-faults-person"
    await tv_not_fixed(chat)
    queued = await person_taken(chat)
    assert "utter_queued" in queued.responses or "utter_queue_nobody_available" in queued.responses
    entry = await HandoffQueue(with_redis).entry("two-faults-person")
    assert entry["skill"] == "general", "not the broadband's agents alone"
    slots = entry["request"].context["slots"]
    assert slots["faults_unfixed"] == ["fault_tv"] and slots["fault_type"] == "fault_broadband"

    early = Chat(run_action, **VERIFIED)  # taken during the TV's self-help, the broadband still to come
    early.tracker.sender_id = "two-faults-person-early"
    await early.says("电视和宽带都不行了", "nlu_fallback", "action_fallback", BOTH, confidence=0.45)
    await early.says("没信号", "fault_tv", "action_triage_fault")
    await person_taken(early)
    assert (await HandoffQueue(with_redis).entry("two-faults-person-early"))["skill"] == "general"


class SentChat(Chat):
    """A conversation whose bot turns keep what was sent (the self-help's link and video), as Rasa's tracker
    keeps them: the agent's packet reads the self-help tried from them."""

    async def says(self, *args, **kwargs) -> Turn:
        turn = await super().says(*args, **kwargs)
        bots = [event for event in self.tracker.events if event.get("event") == "bot"]
        sent = bots[len(bots) - len(turn.messages):]
        for event, message in zip(sent, turn.messages):
            event.update(text=message.get("text"), data={key: message[key] for key in ("buttons", "attachment")
                                                         if message.get(key)})
        return turn


def fault_named_before(summary: str, title: str, names: list[str]) -> str | None:
    """The fault name (of ``names``) written last before ``title`` in ``summary``."""
    at = summary.index(title)
    return max(names, key=lambda name: summary.rfind(name, 0, at), default=None)


async def test_the_agents_summary_names_the_fault_each_self_help_was_for(run_action, with_redis):
    """Found in review: handed to an agent after the TV's and the broadband's self-help, the summary listed the
    self-help tried without the faults: the agent could not tell which went with which. Each fault is named
    (its name in content/handoff.yml) before its own self-help."""
    from bot.handoff.context import summary
    from bot.handoff.queue import HandoffQueue
    from bot.handoff.rules import load_rules

    chat = SentChat(run_action, **VERIFIED)
    chat.tracker.sender_id = "two-faults-summary"
    await tv_not_fixed(chat)
    await person_taken(chat)

    rules = load_rules()
    packet = (await HandoffQueue(with_redis).entry("two-faults-summary"))["request"].context
    text = summary(packet, rules, 60)
    names = {fault: rules.summary_words[f"fault_{fault}"] for fault in ("fault_tv", "fault_broadband")}
    for fault, name in names.items():
        titles = titles_tried(chat, fault)
        assert titles, f"self-help sent for {fault}"
        for title in titles:
            assert fault_named_before(text, title, list(names.values())) == name, (title, text)


async def test_the_repair_for_two_faults_names_the_fault_each_self_help_was_for(run_action):
    """The repair's summary (the desk, the ledger, the next agent's open tickets) lists the self-help tried as the
    agent's summary does: each fault's own under its name."""
    from bot.handoff.rules import load_rules

    chat = Chat(run_action, **VERIFIED)
    await tv_not_fixed(chat)
    filed = await broadband_not_fixed(chat)

    text = repository().get_ticket(filed.slots["last_ticket_id"])["summary"]
    names = {fault: load_rules().summary_words[f"fault_{fault}"] for fault in ("fault_tv", "fault_broadband")}
    for fault, name in names.items():
        titles = titles_tried(chat, fault)
        assert titles, f"self-help sent for {fault}"
        for title in titles:
            assert fault_named_before(text, title, list(names.values())) == name, (title, text)


async def test_a_person_taken_about_two_faults_of_one_group_is_queued_for_that_group(run_action, with_redis):
    from bot.handoff.queue import HandoffQueue

    chat = Chat(run_action, **VERIFIED)
    chat.tracker.sender_id = "one-group-person"
    both = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "fault_broadband", "confidence": 0.36},
            {"name": "fault_wifi", "confidence": 0.3}]
    await chat.says("宽带和wifi都不行了", "nlu_fallback", "action_fallback", both, confidence=0.45)
    assert chat.tracker.get_slot("faults_next") == ["fault_wifi"]
    await chat.says("上不了网", "fault_broadband", "action_triage_fault")
    await person_taken(chat)
    assert (await HandoffQueue(with_redis).entry("one-group-person"))["skill"] == "broadband"





async def both_tried_unproven(run_action, phone: str) -> tuple[Chat, Turn]:
    """"电视和宽带都不行了" from someone who typed ``phone`` only: each fault's self-help tried in vain, the repair."""
    customer_id = repository().find_customer(phone=phone).id
    chat = Chat(run_action, customer_id=str(customer_id), phone_number=phone)
    await tv_not_fixed(chat)
    return chat, await broadband_not_fixed(chat)


async def test_unproven_two_faults_one_under_repair_join_it_and_the_reply_tells_nothing_of_it(run_action, with_redis):
    """Found by the maintainers: someone who only typed a number, the TV's repair open there, "电视和宽带都不行了":
    the TV got self-help (as with one fault: skipping it would tell that a repair is open) and then a second
    repair naming the TV. Now the TV's open repair is joined and only the broadband gets a new one; the reply is
    word for word what a number with no repair open hears, and the tickets go by SMS to the registered phone."""
    tv_repair = open_repair_of("fault_tv")
    _, filed = await both_tried_unproven(run_action, "13800000001")
    _, plain = await both_tried_unproven(run_action, "13800000002")  # no repair open there

    assert filed.responses == plain.responses and "utter_fault_report_taken" in filed.responses, filed.responses
    assert tv_repair not in str(filed.messages)
    repairs = {t["ticket_id"]: t for t in repairs_of(1)}
    assert len(repairs) == 2, "the TV's repair joined, one new for the broadband"
    new = next(t for t in repairs.values() if t["ticket_id"] != tv_repair)
    assert "宽带故障" in new["summary"] and "电视故障" not in new["summary"], new["summary"]
    assert repairs[tv_repair]["priority"] == 1, "the TV's repair chased"
    sent = [r["payload"]["text"] for r in repository().outbound(channel="sms", limit=100)
            if r["recipient"] == "13800000001"]
    assert any(tv_repair in text for text in sent) and any(new["ticket_id"] in text for text in sent), sent


async def test_unproven_two_faults_the_second_under_repair_the_first_still_gets_its_repair(run_action, with_redis):
    """The mirror case: the broadband's repair open, the TV's self-help did not help: the TV was dropped (the
    broadband's repair chased and nothing filed for the TV). Now the TV gets its repair too."""
    broadband_repair = open_repair_of("fault_broadband")
    _, filed = await both_tried_unproven(run_action, "13800000001")
    _, plain = await both_tried_unproven(run_action, "13800000002")

    assert filed.responses == plain.responses, filed.responses
    assert broadband_repair not in str(filed.messages)
    new = [t for t in repairs_of(1) if t["ticket_id"] != broadband_repair]
    assert len(new) == 1 and "电视故障" in new[0]["summary"], "the TV not dropped"
    assert "宽带故障" not in new[0]["summary"], "the broadband has its repair"


async def test_two_faults_proven_only_at_the_repair_are_told_which_repair_was_joined(run_action, with_redis):
    """A customer who proves who they are only when the repair is filed had self-help for both faults; the TV's
    open repair is joined and named, the broadband gets its own."""
    tv_repair = open_repair_of("fault_tv")
    tracker = load_tracker("selfhelp_denied", fault_type="fault_broadband", faults_unfixed=["fault_tv"], **VERIFIED)
    turn = await run_action("action_create_fault_ticket", tracker)
    assert turn.responses[:2] == ["utter_repair_open_then_repair", "utter_fault_ticket_created"], turn.responses
    assert turn.message("utter_repair_open_then_repair")["ticket_id"] == tv_repair
    new = repository().get_ticket(turn.slots["last_ticket_id"])
    assert new["ticket_id"] != tv_repair and "电视故障" not in new["summary"], new["summary"]


def titles_tried(chat: Chat, fault_type: str) -> list[str]:
    """The titles of the self-help the conversation sent for ``fault_type``."""
    entries = (catalogue().get(entry_id) for entry_id in chat.tracker.get_slot("selfhelp_sent") or [])
    return [entry.title for entry in entries if entry is not None and entry.fault_type == fault_type]


@pytest.mark.parametrize("open_fault, new_fault", [("fault_tv", "fault_broadband"), ("fault_broadband", "fault_tv")])
async def test_a_repair_filed_beside_one_joined_names_only_its_own_faults_self_help(run_action, with_redis,
                                                                                     open_fault, new_fault):
    """Found in review: "电视和宽带都不行了", each fault's self-help tried in vain, one fault's repair open: that
    repair was joined and the other fault's new repair listed every self-help tried, the joined fault's too, so
    the technician read of steps that were never about this repair."""
    joined = open_repair_of(open_fault)
    chat, _ = await both_tried_unproven(run_action, "13800000001")
    new = next(t for t in repairs_of(1) if t["ticket_id"] != joined)
    own, other = titles_tried(chat, new_fault), titles_tried(chat, open_fault)
    assert own and other, "both faults' self-help tried"
    assert all(title in new["summary"] for title in own), new["summary"]
    assert not any(title in new["summary"] for title in other), new["summary"]
    kinds = {catalogue().get(entry_id).fault_type for entry_id in new["details"]["selfhelp_sent"]}
    assert kinds == {new_fault}, "the ticket's own record of what was tried, the same"


async def test_a_repair_for_the_fault_not_fixed_does_not_name_the_self_help_that_fixed_the_other(run_action):
    """The TV not fixed, the broadband's self-help worked: the TV's repair names the TV's self-help only."""
    chat = Chat(run_action, **VERIFIED)
    await tv_not_fixed(chat)
    fixed = await chat.says("好了", "affirm", "action_handle_affirm")
    summary = repository().get_ticket(fixed.slots["last_ticket_id"])["summary"]
    assert titles_tried(chat, "fault_tv") and titles_tried(chat, "fault_broadband")
    assert all(title in summary for title in titles_tried(chat, "fault_tv")), summary
    assert not any(title in summary for title in titles_tried(chat, "fault_broadband")), summary


# A fault that turns out to be another: "宽带" first, then it is the Wi-Fi.

async def broadband_then_wifi(chat: Chat, answers: tuple[str, ...], awaiting: str | None) -> Turn:
    """The broadband's self-help sent and each of ``answers`` said to it (the conversation then ``awaiting``, no
    repair filed), then the Wi-Fi named and its self-help not fixing it either: the Wi-Fi's repair."""
    await chat.says("宽带网速很慢", "fault_broadband", "action_triage_fault")
    for answer in answers:
        await chat.says(answer, *(("affirm", "action_handle_affirm") if answer == "好了" else ("deny", "action_handle_deny")))
    assert chat.tracker.get_slot("awaiting") == awaiting and not chat.tracker.get_slot("last_ticket_id")
    await chat.says("不对，是wifi信号差，卧室连不上", "fault_wifi", "action_triage_fault")
    return await broadband_not_fixed(chat)


@pytest.mark.parametrize("answers, awaiting", [((), "selfhelp_feedback"), (("没用",), "selfhelp_feedback"),
                                               (("没用", "还是不行"), "offer_human")])
async def test_a_repair_for_the_fault_it_turned_out_to_be_names_the_self_help_tried_before_too(run_action, answers,
                                                                                                awaiting):
    """Found in review: the broadband's self-help sent, the customer then said it was the Wi-Fi; the Wi-Fi's repair
    named only the Wi-Fi's self-help, and the technician did not see that the broadband's had been tried. Its
    summary and its details name the same self-help, fault by fault."""
    chat = Chat(run_action, **VERIFIED)
    filed = await broadband_then_wifi(chat, answers, awaiting)
    ticket = repository().get_ticket(filed.slots["last_ticket_id"])
    broadband, wifi = titles_tried(chat, "fault_broadband"), titles_tried(chat, "fault_wifi")
    assert broadband and wifi and ticket["details"]["fault_type"] == "fault_wifi"
    assert all(title in ticket["summary"] for title in broadband + wifi), ticket["summary"]
    assert [catalogue().get(entry_id).title for entry_id in ticket["details"]["selfhelp_sent"]] == broadband + wifi


async def test_a_fault_fixed_before_another_is_named_is_not_on_the_others_repair(run_action):
    chat = Chat(run_action, **VERIFIED)
    filed = await broadband_then_wifi(chat, ("好了",), None)
    summary = repository().get_ticket(filed.slots["last_ticket_id"])["summary"]
    assert titles_tried(chat, "fault_broadband") and titles_tried(chat, "fault_wifi")
    assert not any(title in summary for title in titles_tried(chat, "fault_broadband")), summary
