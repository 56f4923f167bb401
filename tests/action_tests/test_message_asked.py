"""A message asked for without saying it ("帮我留个言"): the assistant says a message will be taken, asks for it,
files it with the customer's words and confirms. Found trying the chat: it was filed at once as a callback
whose only words were "帮我留个言", and the customer was never asked what the message was."""
from __future__ import annotations

import pytest

from actions.backend import repository
from tests.action_tests.trackers import Chat, entity
from tests.test_acknowledge_first import reply_text


def proven(customer_id: int) -> dict:
    return {"customer_id": str(customer_id), "verified_customer_id": str(customer_id), "verified_by": "sms_code",
            "verified_channel": "rest"}


def callbacks_filed(chat: Chat) -> list[dict]:
    """The callback tickets this conversation filed, newest first."""
    return [t for t in repository().tickets_for(None, conversation_id=chat.tracker.sender_id) if t["kind"] == "callback"]


async def test_a_message_asked_for_is_asked_then_filed_with_its_words(run_action):
    chat = Chat(run_action, **proven(1))
    asked = await chat.says("帮我留个言", "leave_message", "action_leave_message")
    assert asked.responses == ["utter_ack_message", "utter_ask_message"]
    assert not callbacks_filed(chat), "nothing is filed before the message is said"
    assert "留言" in reply_text("utter_ack_message")

    # The message, whatever the NLU makes of it (a fault here), is the message: no self-help starts.
    left = await chat.says("宽带三天没网了，请明天上午给我回电话", "fault_broadband", "action_triage_fault")
    assert left.responses == ["utter_message_left"]
    [ticket] = callbacks_filed(chat)
    assert "宽带三天没网了" in ticket["summary"] and left.message("utter_message_left")["ticket_id"] == ticket["ticket_id"]
    assert left.slots["pending_request"] is None and left.slots["awaiting"] is None


async def test_a_message_asked_for_by_someone_not_known_is_noted_then_the_number_asked(run_action):
    chat = Chat(run_action)
    asked = await chat.says("我想留言", "leave_message", "action_leave_message")
    assert asked.responses == ["utter_ack_message", "utter_ask_message"]

    noted = await chat.says("装机师傅说今天来结果没来，麻烦回个电话", "nlu_fallback", "action_fallback", confidence=0.4)
    assert noted.responses == ["utter_ack_message_noted", "utter_ask_identity"]
    assert noted.slots["pending_request"] == "action_leave_message" and noted.slots["awaiting"] == "identity"

    filed = await chat.says("13800000003", "inform", "action_identify_customer",
                            entities=[entity("phone_number", "13800000003")])
    assert filed.responses == ["utter_message_left"]
    ticket = repository().get_ticket(filed.message("utter_message_left")["ticket_id"])
    assert ticket["kind"] == "callback" and "装机师傅说今天来结果没来" in ticket["summary"]
    assert filed.message("utter_message_left")["phone_masked"] == "138****0003"


async def test_a_message_said_with_the_request_is_not_asked_for_again(run_action):
    chat = Chat(run_action, **proven(1))
    filed = await chat.says("帮我留个言：电视一直没信号，请尽快回电", "leave_message", "action_leave_message")
    assert filed.responses == ["utter_message_left"]
    assert "电视一直没信号" in repository().get_ticket(filed.message("utter_message_left")["ticket_id"])["summary"]

    callback = Chat(run_action, **proven(2))  # a callback asked for is no message to ask for
    booked = await callback.says("给我回个电话", "leave_message", "action_leave_message")
    assert booked.responses == ["utter_message_recorded"]


async def test_a_number_alone_typed_to_the_message_question_is_who_they_are_and_the_message_is_asked_again(run_action):
    chat = Chat(run_action)
    await chat.says("帮我留个言", "leave_message", "action_leave_message")
    number = await chat.says("13800000003", "inform", "action_identify_customer",
                             entities=[entity("phone_number", "13800000003")])
    assert number.responses == ["utter_ask_message"] and not callbacks_filed(chat)
    assert number.slots["customer_id"] == "3" and number.slots["awaiting"] == "message"

    left = await chat.says("我家电视下午三点以后才有人在家", "nlu_fallback", "action_fallback", confidence=0.3)
    assert left.responses == ["utter_message_left"]
    [ticket] = callbacks_filed(chat)
    assert "下午三点以后才有人在家" in ticket["summary"] and ticket["customer_id"] == 3


async def test_the_message_is_taken_whatever_it_is_read_as_and_a_short_yes_asks_for_it_again(run_action):
    """Found in review: read as thanks, no or a how-to, the answer to "what is the message?" was answered by that
    action and the message was lost."""
    chat = Chat(run_action, **proven(1))
    await chat.says("帮我留个言", "leave_message", "action_leave_message")
    again = await chat.says("好的", "affirm", "action_handle_affirm")
    assert again.responses == ["utter_ask_message"] and not callbacks_filed(chat)
    left = await chat.says("感谢你们，上周装机的李师傅服务很好，帮我表扬一下", "thanks", "action_handle_thanks")
    assert left.responses == ["utter_message_left"]
    [ticket] = callbacks_filed(chat)
    assert "李师傅服务很好" in ticket["summary"]


async def test_a_message_request_taken_back_files_nothing(run_action):
    chat = Chat(run_action, **proven(1))
    await chat.says("我想留言", "leave_message", "action_leave_message")
    dropped = await chat.says("算了 不留言了", "leave_message", "action_leave_message")
    assert dropped.responses == ["utter_ok"] and not callbacks_filed(chat)
    assert dropped.slots["pending_request"] is None and dropped.slots["awaiting"] is None


async def test_a_question_answered_by_another_action_ends_the_wait_for_the_message(run_action):
    """Found in review: the question stayed open after a reply another action answered, and a bill question
    later was filed as the message."""
    chat = Chat(run_action, **proven(1))
    await chat.says("帮我留个言", "leave_message", "action_leave_message")
    chat.tracker.events += [{"event": "action", "name": "action_listen"},  # answered by a response, no action
                            {"event": "user", "text": "你是机器人吗", "parse_data": {"intent": {"name": "bot_challenge"}}},
                            {"event": "action", "name": "utter_iamabot"},
                            {"event": "bot", "metadata": {"utter_action": "utter_iamabot"}}]
    bill = await chat.says("查一下这个月话费", "query_bill", "action_query_bill")
    assert "utter_message_left" not in bill.responses and not callbacks_filed(chat)


async def test_a_yes_between_the_message_and_the_number_keeps_the_message(run_action):
    """Found in review: "好的" to "please leave a number" came between, and the ticket said "好的"."""
    chat = Chat(run_action)
    await chat.says("我想留言", "leave_message", "action_leave_message")
    await chat.says("装机师傅说今天来结果没来，麻烦回个电话", "nlu_fallback", "action_fallback", confidence=0.4)
    await chat.says("好的", "affirm", "action_handle_affirm")
    filed = await chat.says("13800000003", "inform", "action_identify_customer",
                            entities=[entity("phone_number", "13800000003")])
    assert filed.responses == ["utter_message_left"]
    [ticket] = callbacks_filed(chat)
    assert "装机师傅说今天来结果没来" in ticket["summary"]


@pytest.mark.parametrize("request_said", ["帮我留个言 13800000003", "帮我留个言，我的电话是13800000003",
                                          "我想留言 手机号码 13800000003"])
async def test_a_number_given_with_the_request_is_who_they_are_and_the_message_is_still_asked_for(run_action,
                                                                                              request_said):
    """Found in a trial: "帮我留个言 13800138000" was filed at once as a callback whose only words were the request,
    and nobody asked what the message was. The number names the customer, as given on its own; the message is
    asked for, and filed for them without asking for the number again. Found in review: the words that say it is a
    number ("我的电话是") made it a message of its own."""
    chat = Chat(run_action)
    asked = await chat.says(request_said, "leave_message", "action_leave_message",
                            entities=[entity("phone_number", "13800000003")])
    assert asked.responses == ["utter_ack_message", "utter_ask_message"] and not callbacks_filed(chat)
    assert asked.slots["customer_id"] == "3" and asked.slots["awaiting"] == "message"

    left = await chat.says("宽带三天没网了，请明天上午给我回电话", "fault_broadband", "action_triage_fault")
    assert left.responses == ["utter_message_left"]
    [ticket] = callbacks_filed(chat)
    assert "宽带三天没网了" in ticket["summary"] and ticket["customer_id"] == 3


@pytest.mark.parametrize("request_said, entities", [
    ("帮我留个言，13912345678", [entity("phone_number", "13912345678")]),
    ("帮我留个言，我的电话是139 1234 5678", []),  # spaced: the NLU's pattern tags no number in it
])
@pytest.mark.parametrize("known, filed_on", [({}, None), (proven(1), 1)])
async def test_a_number_that_is_no_customers_given_with_the_request_is_the_one_called_back(
        run_action, request_said, entities, known, filed_on):
    """Found in review: someone known as 张伟 (proven) who gave another number with "帮我留个言" had the message filed
    to call back on 张伟's phone; the number just given was dropped. It is the number called back, for someone not
    known as for 张伟, whose message stays on his account (found trying the chat: it was filed on no account, and
    whoever called back could not see whose TV it was)."""
    chat = Chat(run_action, **known)
    asked = await chat.says(request_said, "leave_message", "action_leave_message", entities=entities)
    assert asked.responses == ["utter_ack_message", "utter_ask_message"] and not callbacks_filed(chat)
    if entities:
        chat.tracker.slots["phone_number"] = "13912345678"  # as Rasa's slot mapping keeps it (domain/core.yml)

    left = await chat.says("电视一直没信号，麻烦尽快回电", "fault_tv", "action_triage_fault")
    assert left.responses == ["utter_message_left"]
    assert left.message("utter_message_left")["phone_masked"] == "139****5678"
    [ticket] = callbacks_filed(chat)
    assert "电视一直没信号" in ticket["summary"] and ticket["details"]["callback_phone"] == "13912345678"
    assert ticket["customer_id"] == filed_on


@pytest.mark.parametrize("message, entities", [
    ("我的电话是138 0013 8000，宽带一直断，麻烦回个电话", []),  # spaced: the NLU's pattern tags no number in it
    ("我的电话是138-0013-8000，宽带一直断，麻烦回个电话", []),
    ("我的电话是138 0013 8000 3天了宽带一直断，麻烦回个电话", []),  # a number said right after it
    ("我的电话是13800138000，宽带一直断，麻烦回个电话", [entity("phone_number", "13800138000")]),
])
async def test_a_number_in_the_message_is_the_number_to_call_back_and_not_asked_for_again(run_action, message,
                                                                                          entities):
    """Found in a trial: a message with the customer's number in it was filed whole and the number was asked for as
    if never said. The number is the one to call back; the message is filed with the customer's words."""
    chat = Chat(run_action)
    await chat.says("帮我留个言", "leave_message", "action_leave_message")
    left = await chat.says(message, "fault_broadband", "action_triage_fault", entities=entities)
    assert left.responses == ["utter_message_left"]
    assert left.message("utter_message_left")["phone_masked"] == "138****8000"
    [ticket] = callbacks_filed(chat)
    assert "宽带一直断" in ticket["summary"] and ticket["details"]["callback_phone"] == "13800138000"


async def test_a_number_given_after_an_account_number_is_told_as_the_one_called_back(run_action):
    """Named before by an account number, not proven: the number given for the message is the one told (masked),
    not "the account's registered phone", which is not the one called back."""
    chat = Chat(run_action, customer_id="1", account_number="8800000001")
    await chat.says("帮我留个言 13912345678", "leave_message", "action_leave_message",
                    entities=[entity("phone_number", "13912345678")])
    chat.tracker.slots["phone_number"] = "13912345678"
    left = await chat.says("电视一直没信号，麻烦尽快回电", "fault_tv", "action_triage_fault")
    assert left.responses == ["utter_message_left"]
    assert left.message("utter_message_left")["phone_masked"] == "139****5678"
    [ticket] = callbacks_filed(chat)
    assert ticket["details"]["callback_phone"] == "13912345678" and ticket["customer_id"] == 1


@pytest.mark.parametrize("message, entities", [
    ("请打138 0000 0002找我爱人，宽带一直断", []),  # spaced: the NLU's pattern tags no number in it
    ("请打13800000002找我爱人，宽带一直断", [entity("phone_number", "13800000002")]),
])
async def test_a_number_written_in_the_message_of_a_known_customer_names_nobody(run_action, message, entities):
    """Found in review: 张伟, proven, left a message naming his wife's number (李娜's, a customer's); it was filed on
    李娜's account, and his next request was 李娜's too (a code texted to her phone). A number in the message is
    words for the person who reads it; the message is 张伟's, called back on his phone."""
    chat = Chat(run_action, **proven(1), phone_number="13800000001", customer_name="张伟")
    await chat.says("帮我留个言", "leave_message", "action_leave_message")
    left = await chat.says(message, "fault_broadband", "action_triage_fault", entities=entities)
    assert left.responses == ["utter_message_left"]
    assert left.message("utter_message_left")["phone_masked"] == "138****0001"
    [ticket] = callbacks_filed(chat)
    assert ticket["customer_id"] == 1 and "找我爱人" in ticket["summary"]
    assert ticket["details"].get("callback_phone") in (None, "13800000001")
    assert left.slots.get("customer_id") in (None, "1") and left.slots.get("verified_customer_id") in (None, "1")


async def test_another_customers_number_given_by_a_known_customer_is_called_back_on_their_own_account(run_action):
    """The number given is another customer's (李娜's): 张伟's message, on his account, is called back on it; the
    conversation is still 张伟's and nothing of 李娜's is told (found in review: filed for 李娜, it made 张伟's next
    requests hers, and his proof was gone)."""
    chat = Chat(run_action, **proven(1), customer_name="张伟")
    asked = await chat.says("帮我留个言 13800000002", "leave_message", "action_leave_message",
                            entities=[entity("phone_number", "13800000002")])
    chat.tracker.slots["phone_number"] = "13800000002"
    assert asked.slots.get("customer_id") in (None, "1") and asked.slots.get("verified_customer_id") in (None, "1")
    left = await chat.says("电视一直没信号，麻烦尽快回电", "fault_tv", "action_triage_fault")
    assert left.responses == ["utter_message_left"]
    assert left.message("utter_message_left")["phone_masked"] == "138****0002"
    [ticket] = callbacks_filed(chat)
    assert ticket["customer_id"] == 1 and ticket["details"]["callback_phone"] == "13800000002"
    assert "李娜" not in str(left.messages) and left.slots.get("customer_name") in (None, "张伟")
    assert left.slots.get("customer_id") in (None, "1") and left.slots.get("verified_customer_id") in (None, "1")


@pytest.mark.parametrize("said, entities", [
    ("帮我留个言：请打13800000002找我爱人，宽带一直断", [entity("phone_number", "13800000002")]),
    ("帮我留个言：师傅留的电话139 1234 5678打不通，电视没信号", []),
])
async def test_a_number_in_a_message_said_with_the_request_by_a_known_customer_names_nobody(run_action, said,
                                                                                           entities):
    """Found in review: with the message in the same turn as the request, a number in it still moved 张伟 (proven)
    to the account of whoever had it, or made a technician's number the one called back."""
    chat = Chat(run_action, **proven(1), customer_name="张伟")
    left = await chat.says(said, "leave_message", "action_leave_message", entities=entities)
    assert left.responses[-1] == "utter_message_left"
    assert left.message("utter_message_left")["phone_masked"] == "138****0001"
    [ticket] = callbacks_filed(chat)
    assert ticket["customer_id"] == 1 and ticket["details"].get("callback_phone") in (None, "13800000001")
    assert left.slots.get("customer_id") in (None, "1") and left.slots.get("verified_customer_id") in (None, "1")


async def test_a_new_number_to_call_back_is_not_joined_to_the_callback_already_promised(run_action):
    """Found in review: 张伟 (proven), with a callback promised on his phone, left a message to be called back on
    139…: it was joined to the promised one, told 139…, and no ticket had that number."""
    chat = Chat(run_action, **proven(1))
    await chat.says("请给我回个电话", "leave_message", "action_leave_message")
    [promised] = callbacks_filed(chat)
    await chat.says("帮我留个言 13912345678", "leave_message", "action_leave_message",
                    entities=[entity("phone_number", "13912345678")])
    left = await chat.says("电视一直没信号，麻烦尽快回电", "fault_tv", "action_triage_fault")
    assert left.responses == ["utter_message_left"]
    newest = callbacks_filed(chat)[0]
    assert newest["ticket_id"] != promised["ticket_id"] and newest["details"]["callback_phone"] == "13912345678"
