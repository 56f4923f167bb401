"""Identification is a claim, verification a proof: the actions on tracker fixtures, real Redis and SQL.

Every attack here must get nothing personal back; the right proof must unlock the request in the
same conversation.
"""
from __future__ import annotations

import datetime as dt
import re
import time

import jwt
import pytest

from actions.backend import repository
from bot.security.claims import CALLER_ID, WECHAT_OPENID, channel_claim
from bot.security.credentials import CredentialStore
from bot.security.secrets import get_secrets
from bot.settings import get_settings
from tests.action_tests.trackers import Chat, entity, load_tracker

LI_NA = ("李娜", "-318.00", "光明大道")  # customer 2's name, balance and address


def personal(turn) -> list[str]:
    """Every personal detail of customer 2 that leaked into what the bot said."""
    said = repr(turn.messages)
    return [detail for detail in LI_NA if detail in said]


def with_metadata(tracker, metadata: dict, channel: str = "rest"):
    tracker.latest_message["metadata"] = metadata
    tracker.events[-1]["input_channel"] = channel
    return tracker


def sent_code(phone: str) -> str:
    """The code queued for ``phone`` (the outbox the SMS gateway worker drains)."""
    rows = [r for r in repository().outbound(status="pending", channel="sms", limit=1000)
            if r["recipient"] == phone and r["kind"] == "verification_code"]
    assert rows, f"no code queued for {phone}"
    return re.search(r"\d{6}", rows[-1]["payload"]["text"]).group()


async def claim_number(run_action, sender: str, number: str = "13800000002"):
    """Ask for the bill, then type a registered number: the claim that starts a verification."""
    await run_action("action_query_bill", load_tracker("query_bill", sender=sender))
    answer = load_tracker("query_bill", text=number, intent="inform", entities=[entity("phone_number", number)],
                          sender=sender, pending_request="action_query_bill")
    return await run_action("action_identify_customer", answer)


def code_answer(sender: str, code: str, **slots):
    return load_tracker("query_bill", text=code, intent="inform", sender=sender, awaiting="verification_code",
                        pending_request="action_query_bill", customer_id="2", **slots)


async def test_a_sender_id_that_looks_like_a_phone_number_proves_nothing(run_action, with_redis):
    turn = await run_action("action_query_bill", load_tracker("query_bill", sender="13800000002"))
    assert turn.responses == ["utter_ask_identity"] and personal(turn) == []


async def test_a_typed_number_gets_a_code_to_that_number_and_no_data(run_action, with_redis):
    turn = await claim_number(run_action, "stranger-1")
    assert turn.responses == ["utter_verification_code_sent"]
    assert turn.message("utter_verification_code_sent")["phone_masked"] == "138****0002"
    assert personal(turn) == [] and "customer_name" not in turn.slots
    assert len(sent_code("13800000002")) == 6
    [row] = [r for r in repository().outbound(channel="sms", limit=1000) if r["kind"] == "verification_code"]
    valid_for = dt.datetime.fromisoformat(row["payload"]["send_before"]) - dt.datetime.utcnow()
    ttl = dt.timedelta(seconds=get_settings().otp_ttl_s)
    assert ttl / 2 <= valid_for <= ttl - dt.timedelta(seconds=50)  # not sent when too late to type it


async def test_the_right_code_unlocks_the_bill_in_the_same_conversation(run_action, with_redis):
    await claim_number(run_action, "owner-1")
    turn = await run_action("action_identify_customer", code_answer("owner-1", sent_code("13800000002")))
    assert turn.responses == ["utter_bill_summary", "utter_bill_arrears", "utter_bill_usage_data",
                              "utter_bill_usage_minutes"]
    assert turn.message("utter_bill_summary")["customer_name"] == "李娜"
    assert turn.slots["verified_customer_id"] == "2" and turn.slots["verified_by"] == "sms_code"


async def test_code_guessing_hits_the_attempt_limit_and_voids_the_code(run_action, with_redis):
    await claim_number(run_action, "guesser-1")
    right = sent_code("13800000002")
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    first = await run_action("action_identify_customer", code_answer("guesser-1", wrong))
    assert first.responses == ["utter_verification_wrong"] and first.message("utter_verification_wrong")["remaining"] == 2
    await run_action("action_identify_customer", code_answer("guesser-1", wrong))
    third = await run_action("action_identify_customer", code_answer("guesser-1", wrong))
    assert third.responses == ["utter_verification_locked"]
    late = await run_action("action_identify_customer", code_answer("guesser-1", right))
    assert late.responses == ["utter_verification_expired"] and personal(late) == []


async def test_the_service_password_also_proves_it(run_action, with_redis):
    await claim_number(run_action, "owner-2")
    turn = await run_action("action_identify_customer", code_answer("owner-2", "246802"))
    assert turn.message("utter_bill_summary")["customer_name"] == "李娜"
    assert turn.slots["verified_by"] == "service_password"


async def test_password_guessing_across_conversations_stops_at_the_days_budget(run_action, with_redis, monkeypatch):
    """A check allows three answers, but a new one can always be asked for: without a budget per
    customer, a script tried every password (found by a probe: the right one on the 23rd guess)."""
    monkeypatch.setenv("KEFU_PASSWORD_FAILURES_PER_DAY", "4")
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "100")
    monkeypatch.setenv("KEFU_OTP_PER_SENDER_PER_HOUR", "100")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    said = []
    for n, guess in enumerate(["100000", "100001", "100002", "100003"]):
        await claim_number(run_action, f"script-{n}")
        said += (await run_action("action_identify_customer", code_answer(f"script-{n}", guess))).responses
    assert said == ["utter_verification_wrong"] * 4
    await claim_number(run_action, "script-5")
    right_password = await run_action("action_identify_customer", code_answer("script-5", "246802"))
    assert right_password.responses == ["utter_verification_password_paused"] and personal(right_password) == []
    assert "verified_customer_id" not in right_password.slots
    # The owner still gets in with the code sent to their phone.
    owner = await run_action("action_identify_customer", code_answer("script-5", sent_code("13800000002")))
    assert owner.message("utter_bill_summary")["customer_name"] == "李娜"


async def test_password_guesses_sent_together_get_no_more_than_the_days_budget(run_action, with_redis, monkeypatch):
    """Found by a probe: the budget was read before the guess and counted after, so ten wrong answers
    sent at once from ten conversations were all tried against the password."""
    import asyncio

    monkeypatch.setenv("KEFU_PASSWORD_FAILURES_PER_DAY", "3")
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "100")
    monkeypatch.setenv("KEFU_OTP_PER_SENDER_PER_HOUR", "100")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    for n in range(8):
        await claim_number(run_action, f"burst-{n}")
    turns = await asyncio.gather(*(run_action("action_identify_customer", code_answer(f"burst-{n}", f"10000{n}"))
                                   for n in range(8)))
    said = sorted(response for turn in turns for response in turn.responses)
    assert said.count("utter_verification_wrong") == 3, said
    assert said.count("utter_verification_password_paused") == 5, said


async def test_with_no_code_left_to_send_and_the_password_paused_no_check_is_opened(run_action, with_redis, monkeypatch):
    monkeypatch.setenv("KEFU_PASSWORD_FAILURES_PER_DAY", "1")
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "1")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    await claim_number(run_action, "script-a")
    await run_action("action_identify_customer", code_answer("script-a", "100000"))
    turn = await claim_number(run_action, "script-b")
    assert turn.responses == ["utter_verification_paused"]
    late = await run_action("action_identify_customer", code_answer("script-b", "246802"))
    assert late.responses == ["utter_verification_expired"] and personal(late) == []


async def test_codes_are_rate_limited_per_number_then_only_the_password_is_asked(run_action, with_redis, monkeypatch):
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "2")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    answers = [(await claim_number(run_action, f"flood-{n}")).responses for n in range(3)]
    assert answers == [["utter_verification_code_sent"]] * 2 + [["utter_verification_password_only"]]
    queued = [r for r in repository().outbound(channel="sms", limit=1000) if r["recipient"] == "13800000002"]
    assert len(queued) == 2


async def test_one_conversation_cannot_use_up_a_numbers_codes(run_action, with_redis, monkeypatch):
    """Found by a probe: whoever knew a number could spend its five codes of the hour from one
    conversation, and the owner then got no code. Default limits; a wrong answer ends each check."""
    monkeypatch.setenv("KEFU_OTP_MAX_ATTEMPTS", "1")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    tries = []
    for _ in range(5):
        tries += (await claim_number(run_action, "burner-1")).responses
        await run_action("action_identify_customer", code_answer("burner-1", "000000"))
    assert tries == ["utter_verification_code_sent"] * 3 + ["utter_verification_password_only"] * 2
    owner = await claim_number(run_action, "owner-3")
    assert owner.responses == ["utter_verification_code_sent"]
    unlocked = await run_action("action_identify_customer", code_answer("owner-3", sent_code("13800000002")))
    assert unlocked.message("utter_bill_summary")["customer_name"] == "李娜"


async def test_a_signed_integration_token_verifies_and_a_forged_one_does_not(run_action, with_redis):
    claims = {"aud": "kefu", "sub": "8800000002", "exp": int(time.time()) + 300}
    good = jwt.encode(claims, get_secrets().jwt_secret, algorithm="HS256")
    forged = jwt.encode(claims, "not-the-secret-but-just-as-long-as-it", algorithm="HS256")
    turn = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender="app-1"),
                                                               {"auth_token": good}))
    assert turn.message("utter_bill_summary")["customer_name"] == "李娜"
    refused = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender="app-2"),
                                                                  {"auth_token": forged}))
    assert refused.responses == ["utter_ask_identity"] and personal(refused) == []


async def test_caller_id_verifies_only_with_a_claim_signed_for_this_call(run_action, with_redis):
    signed = channel_claim(CALLER_ID, "13800000002", "ivr:MZ1")
    turn = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender="ivr:MZ1"), signed,
                                                               channel="ivr"))
    assert turn.message("utter_bill_summary")["customer_name"] == "李娜"
    # The same claim replayed into another conversation, and a REST client posing as the phone.
    replayed = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender="ivr:MZ2"),
                                                                   signed, channel="ivr"))
    posing = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender="ivr:MZ3"),
                                                                 {"phone": "13800000002"}, channel="ivr"))
    for attempt in (replayed, posing):
        assert attempt.responses == ["utter_ask_identity"] and personal(attempt) == []


async def test_a_wechat_openid_is_bound_after_one_verification_and_then_needs_no_code(run_action, with_redis):
    openid = "o6_bm_security_test_openid01"
    claim = channel_claim(WECHAT_OPENID, openid, openid)
    first = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender=openid), claim,
                                                                channel="wechat"))
    assert first.responses == ["utter_ask_identity"], "an unbound openid proves nothing"
    await run_action("action_identify_customer", with_metadata(load_tracker(
        "query_bill", text="13800000002", intent="inform", entities=[entity("phone_number", "13800000002")],
        sender=openid, pending_request="action_query_bill"), claim, channel="wechat"))
    verified = await run_action("action_identify_customer", with_metadata(
        code_answer(openid, sent_code("13800000002")), claim, channel="wechat"))
    assert verified.message("utter_bill_summary")["customer_name"] == "李娜"
    assert CredentialStore(repository().url).bound_customer("wechat", openid) == 2
    later = await run_action("action_query_bill", with_metadata(load_tracker("query_bill", sender=openid), claim,
                                                                channel="wechat"))
    assert later.message("utter_bill_summary")["customer_name"] == "李娜"


@pytest.mark.parametrize("typed, answered", [("13800000001", None), ("13800000002", "李娜")],
                         ids=["another-customers-number", "their-own-number"])
async def test_a_bound_wechat_account_asking_about_another_number_is_not_answered_with_its_own_bill(
        run_action, with_redis, typed, answered):
    """"查13800000001的账单" from a WeChat account bound to 李娜 answered with 李娜's bill, as if the number
    typed were not there: the channel proves the account holder, not the line asked about."""
    openid = f"o6_bm_bound_asks_about_{typed}"
    CredentialStore(repository().url).bind("wechat", openid, 2)
    claim = channel_claim(WECHAT_OPENID, openid, openid)
    turn = await run_action("action_query_bill", with_metadata(load_tracker(
        "query_bill", text=f"查{typed}的账单", entities=[entity("phone_number", typed)], sender=openid),
        claim, channel="wechat"))
    if answered is None:
        assert turn.responses == ["utter_verification_code_sent"] and personal(turn) == []
    else:
        assert turn.message("utter_bill_summary")["customer_name"] == answered


async def test_plans_are_public_but_the_own_plan_needs_proof(run_action, with_redis):
    anyone = await run_action("action_query_plan", load_tracker("query_bill", text="有什么套餐", intent="query_plan",
                                                                sender="13800000003"))
    assert anyone.responses == ["utter_plan_list"]
    owner = await run_action("action_query_plan", load_tracker(
        "query_bill", text="有什么套餐", intent="query_plan", customer_id="3", verified_customer_id="3",
        verified_by="sms_code", verified_channel="rest"))
    assert owner.message("utter_current_plan")["plan_name"] == "4K超清电视包"


@pytest.mark.parametrize("action, text, intent, entities, acknowledged", [
    ("action_query_ticket", "我的工单进度", "query_ticket", [], ["utter_ack_ticket"]),
    ("action_book_visit", "预约师傅上门", "book_visit", [], ["utter_ack_visit"]),  # says what will happen first
    ("action_manage_service", "我要报停", "manage_service", [entity("service_action", "suspend")], ["utter_ack_service_change"]),
])
async def test_tickets_visits_and_changes_need_proof(run_action, with_redis, action, text, intent, entities,
                                                     acknowledged):
    tracker = load_tracker("query_bill", text=text, intent=intent, entities=entities, customer_id="2",
                           sender=f"claim-{intent}")
    turn = await run_action(action, tracker)
    assert turn.responses == acknowledged + ["utter_verification_code_sent"] and personal(turn) == []



@pytest.mark.parametrize("number, expected", [("13800000002", "utter_verification_code_sent"),
                                              ("13999999999", "utter_verification_code_sent")],
                         ids=["someone-else-must-prove-it", "unknown-is-told-apart-from-no-one"])
async def test_a_number_typed_after_being_verified_counts_on_its_own(run_action, with_redis, number, expected):
    tracker = load_tracker("query_bill", text=number, intent="inform", entities=[entity("phone_number", number)],
                           sender=f"owner-{number}", pending_request="action_query_bill", customer_id="1",
                           verified_customer_id="1", verified_by="sms_code", verified_channel="rest")
    turn = await run_action("action_identify_customer", tracker)
    assert turn.responses == [expected] and personal(turn) == []


async def test_a_proof_given_in_the_web_chat_does_not_hold_for_rest_messages_to_that_conversation(run_action, with_redis):
    """REST accepts any sender id: whoever learnt a web chat's id (an agent's queue view, a log)
    could otherwise read what its owner had unlocked (found by a probe: bill, address, a visit booked)."""
    await claim_number(run_action, "0123456789abcdef0123456789abcdef")
    owner = await run_action("action_identify_customer", code_answer("0123456789abcdef0123456789abcdef",
                                                                     sent_code("13800000002")))
    assert owner.slots["verified_channel"] == "rest"  # the fixtures' messages come in over REST
    proof = {name: owner.slots[name] for name in ("verified_customer_id", "verified_by")}

    def next_turn(channel: str):
        tracker = load_tracker("query_bill", text="查话费", intent="query_bill", customer_id="2",
                               sender="0123456789abcdef0123456789abcdef", verified_channel="webchat", **proof)
        tracker.events[-1]["input_channel"] = channel
        return tracker

    in_the_chat = await run_action("action_query_bill", next_turn("webchat"))
    assert in_the_chat.message("utter_bill_summary")["customer_name"] == "李娜"
    over_rest = await run_action("action_query_bill", next_turn("rest"))
    assert over_rest.responses == ["utter_verification_code_sent"] and personal(over_rest) == []


def queued_for(number: str) -> list[dict]:
    return [r for r in repository().outbound(channel="sms", limit=1000) if r["recipient"] == number]


@pytest.mark.parametrize("known, unknown, reply", [
    ("13800000004", "13800000099", "utter_verification_code_sent"),
    ("8800000004", "8899999999", "utter_verification_code_sent_to_account"),
], ids=["phone", "account"])
async def test_a_number_that_is_no_customers_gets_the_same_reply_and_a_check_that_never_passes(
        run_action, with_redis, monkeypatch, known, unknown, reply):
    """Found by a probe: a customer's number got "已向138****0004发送验证码", any other "not found",
    so anyone could test which numbers are customers."""
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "1")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    kind = "phone_number" if unknown.startswith("1") else "account_number"

    async def typed(sender: str, number: str, pending: str | None = "action_query_bill"):
        tracker = load_tracker("query_bill", text=number, intent="inform", entities=[entity(kind, number)],
                               sender=sender, pending_request=pending)
        return await run_action("action_identify_customer", tracker)

    masked = {known: "138****0004", unknown: "138****0099"} if kind == "phone_number" else {known: None, unknown: None}
    for number in (known, unknown):  # the typed number is shown back, then the hourly limit applies alike
        shown = []
        for n in range(2):
            shown += [(m["response"], m.get("phone_masked")) for m in (await typed(f"probe-{number}-{n}", number)).messages]
        assert shown == [(reply, masked[number]), ("utter_verification_password_only", None)], number
    assert len(queued_for("13800000004")) == 1 and queued_for(unknown) == []
    noted = [(await typed(f"noted-{number}", number, pending=None)).responses for number in (known, unknown)]
    assert noted == [["utter_identity_noted"]] * 2

    # Nothing passes the check of a number that is no customer's: not a customer's password, not a guess.
    sender = f"probe-{unknown}-0"
    answers = ["246802", "123456", "000000"]
    turns = [await run_action("action_identify_customer", load_tracker(
        "query_bill", text=answer, intent="inform", sender=sender, awaiting="verification_code",
        pending_request="action_query_bill")) for answer in answers]
    assert [t.responses for t in turns] == [["utter_verification_wrong"]] * 2 + [["utter_verification_locked"]]
    assert all("verified_customer_id" not in t.slots and "customer_id" not in t.slots for t in turns)


async def test_a_customer_who_mistyped_their_number_gets_the_code_once_they_give_the_right_one(run_action, with_redis):
    await claim_number(run_action, "mistyped-1", "13800000020")
    assert queued_for("13800000020") == []
    turn = await claim_number(run_action, "mistyped-1", "13800000002")
    assert turn.message("utter_verification_code_sent")["phone_masked"] == "138****0002"
    owner = await run_action("action_identify_customer", code_answer("mistyped-1", sent_code("13800000002")))
    assert owner.message("utter_bill_summary")["customer_name"] == "李娜"


async def test_codes_stop_at_the_installations_hourly_budget_however_many_conversations_and_numbers(
        run_action, with_redis, monkeypatch, caplog):
    """Found by a tester: the limits per number and per conversation were dodged with many REST
    sender ids and many numbers. Past KEFU_OTP_PER_HOUR codes no code is sent for anyone, and the
    reply says so, the same for a customer's number and any other; requests sent together get no more."""
    import asyncio
    import logging

    monkeypatch.setenv("KEFU_OTP_PER_HOUR", "3")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    numbers = ["13800000001", "13800000099", "13800000002", "13800000003", "13800000098", "13800000004"]
    with caplog.at_level(logging.INFO, logger="bot.security.otp"):
        turns = await asyncio.gather(*(claim_number(run_action, f"many-senders-{n}", number)
                                       for n, number in enumerate(numbers)))
    said = [turn.responses for turn in turns]
    assert sorted(said) == [["utter_verification_code_sent"]] * 3 + [["utter_verification_password_only"]] * 3, said
    sent = [r for r in repository().outbound(channel="sms", limit=1000) if r["kind"] == "verification_code"]
    told_sent = {number for number, turn in zip(numbers, turns) if turn.responses == ["utter_verification_code_sent"]}
    assert {r["recipient"] for r in sent} == told_sent - {"13800000099", "13800000098"}
    assert "security.verification.hourly_budget_spent" in caplog.text
    late = await claim_number(run_action, "many-senders-late", "13800000001")
    assert late.responses == ["utter_verification_password_only"]


async def test_budgets_spent_through_an_account_number_do_not_show_when_its_phone_is_typed(
        run_action, with_redis, monkeypatch):
    """Found by a tester: codes (or wrong passwords) spent through an account number made the
    registered phone, typed next, get "no more codes" (or "password paused") where any other phone
    got "code sent" (or "wrong"): the replies linked an account to its phone. The phone still gets
    no more codes than its hourly budget."""
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "2")
    monkeypatch.setenv("KEFU_PASSWORD_FAILURES_PER_DAY", "2")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()

    async def typed(sender: str, number: str):
        kind = "phone_number" if number.startswith("1") else "account_number"
        return await run_action("action_identify_customer", load_tracker(
            "query_bill", text=number, intent="inform", entities=[entity(kind, number)], sender=sender,
            pending_request="action_query_bill"))

    # Codes: the account's two codes of the hour went to 13800000004.
    for n in range(2):
        assert (await typed(f"account-{n}", "8800000004")).responses == ["utter_verification_code_sent_to_account"]
    phone, other = await typed("phone-0", "13800000004"), await typed("other-0", "13800000097")
    assert phone.responses == other.responses == ["utter_verification_code_sent"]
    assert len(queued_for("13800000004")) == 2  # no third code: the phone's budget held, untold
    for n in range(1, 4):  # typed again and again, the phone and any other number are refused alike
        assert (await typed(f"phone-{n}", "13800000004")).responses == (await typed(f"other-{n}", "13800000097")).responses

    # Wrong passwords: the day's two went to customer 3 through the account number.
    for n in range(2):
        await typed(f"guess-{n}", "8800000003")
        await run_action("action_identify_customer", code_answer(f"guess-{n}", f"10000{n}"))
    await typed("guess-phone", "13800000003")
    await typed("guess-other", "13800000096")
    answers = [(await run_action("action_identify_customer", code_answer(sender, "100009"))).responses
               for sender in ("guess-phone", "guess-other")]
    assert answers == [["utter_verification_wrong"]] * 2
    # The customer's right password is still not checked today: the guesses went to that customer.
    await typed("guess-phone-2", "13800000003")
    right = await run_action("action_identify_customer", code_answer("guess-phone-2", "314159"))
    assert right.responses == ["utter_verification_wrong"] and "verified_customer_id" not in right.slots


async def test_a_code_the_phones_budget_held_back_is_no_code_to_guess(run_action, with_redis, monkeypatch):
    """The registered phone had its code of the hour through its account number: the next code is not
    sent (the reply is any number's), and nobody received it, so typing it must prove nothing."""
    from bot.security import otp

    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "1")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    monkeypatch.setattr(otp.secrets, "randbelow", lambda _: 135791)  # every code made is 135791
    account = load_tracker("query_bill", text="8800000002", intent="inform",
                           entities=[entity("account_number", "8800000002")], sender="owner-account",
                           pending_request="action_query_bill")
    assert (await run_action("action_identify_customer", account)).responses == [
        "utter_verification_code_sent_to_account"]

    held = await claim_number(run_action, "guesser-held")

    assert held.responses == ["utter_verification_code_sent"] and len(queued_for("13800000002")) == 1
    turn = await run_action("action_identify_customer", code_answer("guesser-held", "135791"))
    assert turn.responses == ["utter_verification_wrong"] and personal(turn) == []
    assert "verified_customer_id" not in turn.slots


async def test_a_code_on_its_way_to_an_account_does_not_show_when_its_phone_is_typed_next(run_action, with_redis):
    """After an account number, the registered phone typed in the same conversation was taken as the
    same request ("code on its way", not counted), any other phone was counted: the conversation's
    budget then ran out one number later for the account's phone than for any other."""
    async def conversation(sender: str, numbers: list[str]) -> list[list[str]]:
        said = []
        for number in numbers:
            kind = "phone_number" if number.startswith("1") else "account_number"
            said.append((await run_action("action_identify_customer", load_tracker(
                "query_bill", text=number, intent="inform", entities=[entity(kind, number)], sender=sender,
                pending_request="action_query_bill"))).responses)
        return said

    its_phone = await conversation("linker-1", ["8800000001", "13800000001", "13800000095", "13800000094"])
    other = await conversation("linker-2", ["8800000001", "13800000093", "13800000095", "13800000094"])
    assert its_phone == other


TOP_OF_THE_HOUR = 1_700_006_400.0  # also midnight (UTC), where the fixed daily windows turned


@pytest.fixture
def ledger_clock(monkeypatch):
    """The code ledger's clock, driven by hand."""
    from actions import identity
    from bot.handoff.queue import redis_from_settings
    from bot.security.otp import CodeLedger
    from bot.settings import get_settings
    from tests.handoff.conftest import Clock

    clock = Clock(TOP_OF_THE_HOUR - 10)
    monkeypatch.setattr(identity, "code_ledger", lambda: CodeLedger.from_settings(
        redis_from_settings(), get_settings(), get_secrets().channel_secret, clock=clock))
    return clock


async def test_a_number_gets_no_more_codes_than_its_budget_in_any_hour(run_action, with_redis, ledger_clock,
                                                                       monkeypatch):
    """Counted in fixed hourly windows, a number could be sent its codes at 12:59:50 and as many again
    at 13:00:05 (SMS bombing, code pumping). No more than the budget in any hour."""
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "2")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    said = [(await claim_number(run_action, f"pump-{n}")).responses for n in range(2)]  # 12:59:50
    ledger_clock.advance(15)  # 13:00:05: a new hour, but not an hour since those codes
    said.append((await claim_number(run_action, "pump-2")).responses)
    ledger_clock.advance(3600 - 15)  # 13:59:50: the first codes are an hour old
    said.append((await claim_number(run_action, "pump-3")).responses)
    assert said == [["utter_verification_code_sent"]] * 2 + [["utter_verification_password_only"],
                                                             ["utter_verification_code_sent"]]
    assert len(queued_for("13800000002")) == 3


async def test_wrong_passwords_count_for_24_hours_not_until_midnight(run_action, with_redis, ledger_clock,
                                                                     monkeypatch):
    """Counted in daily windows, the password's budget was spent at 23:59:50 and whole again at 00:00:05.
    Now the password is checked again only once the oldest wrong answer is 24 hours old."""
    monkeypatch.setenv("KEFU_PASSWORD_FAILURES_PER_DAY", "2")
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "100")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    for n in range(2):  # 23:59:50
        await claim_number(run_action, f"night-{n}")
        await run_action("action_identify_customer", code_answer(f"night-{n}", f"10000{n}"))
    ledger_clock.advance(15)  # 00:00:05
    await claim_number(run_action, "night-2")
    right = await run_action("action_identify_customer", code_answer("night-2", "246802"))
    assert right.responses == ["utter_verification_password_paused"] and "verified_customer_id" not in right.slots
    ledger_clock.advance(24 * 3600 - 15)  # 23:59:50 the next day: the wrong answers are a day old
    await claim_number(run_action, "night-3")
    right = await run_action("action_identify_customer", code_answer("night-3", "246802"))
    assert right.slots["verified_by"] == "service_password"


def said_next(tracker, reply: str, text: str, intent: str):
    """``tracker`` after the bot said ``reply`` and the customer then said ``text``."""
    tracker.events.extend([{"event": "bot", "text": "…", "metadata": {"utter_action": reply}},
                           {"event": "action", "name": "action_listen"},
                           {"event": "user", "text": text, "input_channel": "ivr",
                            "parse_data": {"intent": {"name": intent, "confidence": 0.95}, "entities": []}}])
    tracker.latest_message = {**tracker.latest_message, "text": text,
                              "intent": {"name": intent, "confidence": 0.95}, "entities": []}
    return tracker


@pytest.mark.parametrize("words, intent", [("上个月", "nlu_fallback"), ("上个月呢", "query_bill")])
async def test_last_month_asked_while_the_password_is_asked_keeps_the_question_and_is_answered_once_proven(
        run_action, with_redis, monkeypatch, words, intent):
    """Found on a live call: "上个月" said while the phone asked for the service password got 抱歉，我没听清楚
    (and "上个月呢" was told a code was on its way, where none was sent). The password is asked again as it
    was, and once given last month's bill is the answer."""
    monkeypatch.setenv("KEFU_OTP_PER_NUMBER_PER_HOUR", "1")
    from bot import settings as settings_module

    settings_module.get_settings.cache_clear()
    await claim_number(run_action, "first-caller")  # the number's one code of the hour
    assert (await claim_number(run_action, "caller-9")).responses == ["utter_verification_password_only"]
    asked = load_tracker("query_bill", sender="caller-9", awaiting="verification_code",
                         pending_request="action_query_bill", customer_id="2")
    said_next(asked, "utter_verification_password_only", words, intent)
    action = "action_fallback" if intent == "nlu_fallback" else "action_query_bill"
    again = await run_action(action, asked)
    assert again.responses == ["utter_verification_password_only"] and personal(again) == []
    said_next(asked, "utter_verification_password_only", "246802", "inform")
    proven = await run_action("action_identify_customer", asked)
    assert proven.responses == ["utter_bill_month"], proven.responses
    assert proven.message("utter_bill_month")["period"] == "2026年10月"


async def test_a_question_instead_of_the_code_asks_for_the_code_again_not_the_number(run_action, with_redis):
    """Found trying the chat: "为什么是318" (read as inform, no number in it) while the code was awaited was asked
    for the number just given. The same check is asked for again: no second code, the first one still works."""
    await claim_number(run_action, "asker-1")
    first = sent_code("13800000002")
    turn = await run_action("action_identify_customer", code_answer("asker-1", "为什么是318"))
    assert turn.responses == ["utter_verification_code_sent"] and personal(turn) == []
    assert turn.message("utter_verification_code_sent")["phone_masked"] == "138****0002"
    codes = [r for r in repository().outbound(channel="sms", limit=1000) if r["kind"] == "verification_code"]
    assert len(codes) == 1, "asked again, not another code"
    unlocked = await run_action("action_identify_customer", code_answer("asker-1", first))
    assert unlocked.message("utter_bill_summary")["customer_name"] == "李娜"


STILL_ASKED = [  # as the model reads them (kefu-3de474709b0d9475)
    ("我输错了 等下", "deny", "action_handle_deny", 0.59, []),
    ("等下", "nlu_fallback", "action_fallback", 0.45, []),
    ("稍等我看看短信", "nlu_fallback", "action_fallback", 0.45,
     [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "query_bill", "confidence": 0.33},
      {"name": "opt_out", "confidence": 0.33}]),
    ("嗯", "affirm", "action_handle_affirm", 0.96, []),
]


@pytest.mark.parametrize("words, intent, action, confidence, ranking", STILL_ASKED)
async def test_words_that_answer_nothing_after_a_wrong_code_keep_the_code_asked_and_the_bill(
        run_action, with_redis, words, intent, action, confidence, ranking):
    """Found in a trial: "我输错了 等下" after a wrong code got "还有其他需要帮忙的吗？", the bill asked for was
    dropped, and the right code next was refused as a code nobody asked for. Words that neither answer nor change
    the subject keep the code asked for (no second code), and the right code then answers the bill."""
    chat = Chat(run_action)
    await chat.says("帮我查一下我的账单", "query_bill", "action_query_bill")
    asked = await chat.says("13800000002", "inform", "action_identify_customer",
                            entities=[entity("phone_number", "13800000002")])
    assert asked.responses == ["utter_verification_code_sent"]
    right = sent_code("13800000002")
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert (await chat.says(wrong, "inform", "action_identify_customer")).responses == ["utter_verification_wrong"]
    held = await chat.says(words, intent, action, confidence=confidence, ranking=ranking)
    # The code sent still counts, and is said to (found in a live trial: the whole prompt again read as a new code)
    assert held.responses == ["utter_proof_still_valid"] and personal(held) == []
    codes = [r for r in repository().outbound(channel="sms", limit=1000) if r["kind"] == "verification_code"]
    assert len(codes) == 1, "asked again, not another code"
    unlocked = await chat.says(right, "inform", "action_identify_customer")
    assert unlocked.message("utter_bill_summary")["customer_name"] == "李娜"


async def test_declining_while_the_code_is_asked_still_drops_the_request(run_action, with_redis):
    chat = Chat(run_action)
    await chat.says("帮我查一下我的账单", "query_bill", "action_query_bill")
    await chat.says("13800000002", "inform", "action_identify_customer", entities=[entity("phone_number", "13800000002")])
    declined = await chat.says("算了 不查了", "deny", "action_handle_deny")
    assert declined.responses == ["utter_anything_else"]
    assert chat.tracker.get_slot("pending_request") is None


DECLINED = [  # as the model reads them (kefu-3de474709b0d9475): no words saying the code is still coming
    ("不查了", "deny", "action_handle_deny", 0.82),
    ("不用查了", "deny", "action_handle_deny", 0.91),
    ("不要了，取消吧", "deny", "action_handle_deny", 0.74),
    # Declines beside a word of proof_wait_words (second review): the decline wins.
    ("不查了 等等", "deny", "action_handle_deny", 0.89),
    ("算了，等下我自己去营业厅查", "nlu_fallback", "action_fallback", 0.45),
]


@pytest.mark.parametrize("words, intent, action, confidence", DECLINED)
async def test_a_no_while_the_code_is_asked_ends_the_request_unless_the_code_is_still_coming(
        run_action, with_redis, words, intent, action, confidence):
    """Found in review: "不查了" while the code was asked got the code prompt again, the bill kept, with no way out
    but 算了. Only a no saying the code is still coming (``proof_wait_words``) asks for it again."""
    chat = Chat(run_action)
    await chat.says("帮我查一下我的账单", "query_bill", "action_query_bill")
    await chat.says("13800000002", "inform", "action_identify_customer", entities=[entity("phone_number", "13800000002")])
    declined = await chat.says(words, intent, action, confidence=confidence)
    assert "utter_verification_code_sent" not in declined.responses, "not asked for the code again"
    if intent == "deny":
        assert declined.responses == ["utter_anything_else"]
        assert chat.tracker.get_slot("pending_request") is None


async def test_words_not_understood_while_the_code_is_asked_ask_the_code_again_only_if_it_is_still_coming(
        run_action, with_redis):
    """Anything not understood while the code is asked was answered with the code prompt (found in review): only
    words saying the code is still coming are; others get the fallback's answer."""
    chat = Chat(run_action)
    await chat.says("帮我查一下我的账单", "query_bill", "action_query_bill")
    await chat.says("13800000002", "inform", "action_identify_customer", entities=[entity("phone_number", "13800000002")])
    other = await chat.says("你们这个系统真难用", "nlu_fallback", "action_fallback", confidence=0.45)
    assert "utter_verification_code_sent" not in other.responses and other.responses


async def test_told_to_wait_once_the_code_expired_a_new_one_is_sent(run_action, with_redis):
    """Found in review: "等下" after the code's check had closed (expired) heard the code still counted; typed, it was
    then refused as expired and the bill dropped. With no check open, the code is sent again as before."""
    from actions.identity import code_ledger

    chat = Chat(run_action)
    await chat.says("帮我查一下我的账单", "query_bill", "action_query_bill")
    await chat.says("13800000002", "inform", "action_identify_customer", entities=[entity("phone_number", "13800000002")])
    await code_ledger().close(chat.tracker.sender_id)  # as its time-to-live would
    held = await chat.says("等下", "nlu_fallback", "action_fallback", confidence=0.45)
    assert "utter_proof_still_valid" not in held.responses
    assert held.responses == ["utter_verification_code_sent"]
