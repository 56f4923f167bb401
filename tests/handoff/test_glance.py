"""The customer at a glance: what the screen pop shows, masked, and correcting a contact detail."""
from __future__ import annotations

import asyncio
import json

import pytest

from bot.db.repository import Repository
from bot.handoff.contact_details import ContactDetailError, ContactDetails, callback_number
from bot.handoff.glance import customer_glance
from bot.ledger.rules import load_rules
from bot.outcomes import record


@pytest.fixture
def repo(kefu_env):
    return Repository(kefu_env.database_url)


@pytest.fixture
def ledger_rules(kefu_env):
    return load_rules(kefu_env.content_dir / "ledger.yml")


def packet_for(customer, conversation_id="web-now"):
    return {"conversation_id": conversation_id, "phone": customer.phone, "customer": {"id": customer.id}}


def test_a_verified_customer_shows_plan_bills_ledger_contacts_and_tier_with_numbers_masked(repo, ledger_rules):
    customer = repo.find_customer(phone="13800000002")
    open_ticket = repo.create_ticket(kind="fault", customer_id=customer.id, summary="电视没信号，回电13800000002",
                                     details={"fault_type": "fault_tv"}, channel="wechat", conversation_id="wx-earlier")
    done = repo.create_ticket(kind="fault", customer_id=customer.id, summary="old", conversation_id="ivr:CA1")
    for status in ("resolved", "follow_up_done"):
        repo.move_ticket(done, status)
    other = repo.find_customer(phone="13800000001")
    repo.create_ticket(kind="fault", customer_id=other.id, summary="not hers")

    async def contacts():
        await record("ivr:CA1", "contact_started", channel="ivr", database_url=repo.url,
                     customer=f"customer:{customer.id}")
        await record("ivr:CA1", "handoff_closed", channel="ivr", database_url=repo.url, disposition="ticket")
        await record("ivr:CA2", "contact_started", channel="ivr", database_url=repo.url,
                     customer=f"customer:{customer.id}")
        await record("ivr:CA2", "handoff_closed", channel="ivr", database_url=repo.url, disposition="resolved",
                     reason="call_lost", left_at=1.0)
        await record("wx-earlier", "selfhelp_sent", channel="wechat", database_url=repo.url, selfhelp_id="tv_no_signal")
        await record("web-stranger", "contact_started", channel="webchat", database_url=repo.url,
                     customer=f"customer:{other.id}")
    asyncio.run(contacts())

    shown = customer_glance(repo, ledger_rules, packet_for(customer))
    assert shown["verified"] is True
    assert shown["customer"]["vip_tier"] == 2 and shown["customer"]["name"] == customer.name
    assert shown["customer"]["phone"].endswith("0002") and "13800000002" not in json.dumps(shown)
    assert shown["customer"]["account_number"] == "******0002"
    assert shown["plan"]["code"] == "FAMILY" and shown["plan"]["monthly_fee_cents"] == 15900
    assert shown["plan"]["end_date"] == "2027-06-30", "the day her two-year contract ends"
    assert [b["period"] for b in shown["bills"]] == ["2026-11", "2026-10"]
    assert all(b["status"] == "unpaid" for b in shown["bills"])
    assert [i["ticket_id"] for i in shown["ledger"]] == [open_ticket], "only open items, only hers"
    assert "*******0002" in shown["ledger"][0]["summary"]
    by_conversation = {c["conversation"]: c for c in shown["contacts"]}
    assert set(by_conversation) == {"ivr:CA1", "ivr:CA2", "wx-earlier"}
    assert by_conversation["ivr:CA1"]["outcome"] == "handoff_closed"
    assert by_conversation["ivr:CA1"]["disposition"] == "ticket"
    assert by_conversation["ivr:CA2"]["outcome"] == "handoff_call_lost", "lost midway: not shown as ended well"
    assert by_conversation["ivr:CA2"]["disposition"] == "resolved", "the agent's disposition, kept"
    assert by_conversation["wx-earlier"]["channel"] == "wechat"
    assert shown["contact"]["callback_phone"]["corrected_by"] is None


def test_a_plan_renewing_monthly_shows_no_end_date(repo, ledger_rules):
    customer = repo.find_customer(phone="13800000003")
    assert customer.plan_code and customer.plan_end_date is None
    assert customer_glance(repo, ledger_rules, packet_for(customer))["plan"]["end_date"] is None


def test_a_bill_status_exported_in_capitals_shows_as_the_desks_label(repo, ledger_rules):
    """Found by an integrator: a billing system's " UNPAID " reached the desk as it was, which has labels
    (``glance_bill_<status>``) only for the schema's lower-case statuses."""
    from bot.db.schema import bills

    customer = repo.find_customer(phone="13800000003")
    with repo.engine.begin() as conn:
        conn.execute(bills.insert().values(customer_id=customer.id, period="2026-12", amount_cents=4800,
                                           status=" UNPAID ", due_date="2027-01-15"))
    shown = customer_glance(repo, ledger_rules, packet_for(customer))
    assert [b["status"] for b in shown["bills"]] == ["unpaid", "paid"]


def test_kefus_own_calls_show_how_they_ended_in_the_desks_words(repo, ledger_rules):
    """Found by a tester: an arrears reminder call nobody answered was listed as "进行中" (in progress)."""
    from tests.conftest import PROJECT_ROOT

    customer = repo.find_customer(phone="13800000002")
    key = f"customer:{customer.id}"

    async def calls():
        await record("contact:7", "contact_attempted", channel="phone", database_url=repo.url, customer=key, result="placed")
        await record("contact:7", "contact_attempted", database_url=repo.url, customer=key, result="no_answer", final=True)
        await record("contact:8", "contact_attempted", channel="phone", database_url=repo.url, customer=key, result="placed")
        await record("contact:8", "contact_answered", channel="phone", database_url=repo.url, customer=key)
    asyncio.run(calls())

    by_conversation = {c["conversation"]: c["outcome"] for c in customer_glance(repo, ledger_rules, packet_for(customer))["contacts"]}
    assert by_conversation == {"contact:7": "contact_no_answer", "contact:8": "contact_answered"}
    labels = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert labels["glance_outcome_contact_no_answer"] != labels["glance_outcome_"]


def test_a_conversation_transferred_to_another_group_shows_its_close_in_the_desks_words(repo, ledger_rules):
    """Found driving the desk: the contact an agent had transferred read 人工服务结束（disposition_transfer:tv）,
    the raw key, since a transfer's close is recorded with its group (``transfer:tv``)."""
    from tests.conftest import PROJECT_ROOT

    customer = repo.find_customer(phone="13800000002")

    async def transferred():
        await record("web-moved", "handoff_claimed", channel="webchat", database_url=repo.url,
                     customer=f"customer:{customer.id}")
        await record("web-moved", "handoff_closed", channel="webchat", database_url=repo.url, disposition="transfer:tv")
    asyncio.run(transferred())

    shown = {c["conversation"]: c for c in customer_glance(repo, ledger_rules, packet_for(customer))["contacts"]}
    labels = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert labels.get(f"disposition_{shown['web-moved']['disposition']}") == "转其他技能组"


def test_a_long_wechat_conversation_lists_each_contact_and_the_one_being_served_as_in_service(repo, ledger_rules):
    """Found by a journey tester: the WeChat chat being served showed as 人工服务结束（已解决）（本次） (an earlier
    contact's close on the same conversation), and Kefu's planned contacts as "- 进行中"."""
    from tests.conftest import PROJECT_ROOT

    customer = repo.find_customer(phone="13800000002")
    key = f"customer:{customer.id}"

    async def week():
        for kind, data in (("handoff_claimed", {}), ("handoff_closed", {"disposition": "resolved"}),
                           ("handoff_queued", {}), ("handoff_claimed", {})):
            await record("wx-long", kind, channel="wechat", database_url=repo.url, customer=key, **data)
        await record("contact:9", "contact_scheduled", database_url=repo.url, customer=key)
        await record("contact:10", "contact_scheduled", database_url=repo.url, customer=key)
        await record("contact:10", "callback_offered", channel="agent", database_url=repo.url, customer=key)
    asyncio.run(week())

    shown = customer_glance(repo, ledger_rules, packet_for(customer, "wx-long"))["contacts"]
    listed = sorted((c["conversation"], c["outcome"], c["disposition"], c["current"]) for c in shown)
    assert listed == [("contact:10", "callback_offered", None, False),
                      ("wx-long", "handoff_claimed", None, True),
                      ("wx-long", "handoff_closed", "resolved", False)]
    labels = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert labels["glance_outcome_callback_offered"] != labels["glance_outcome_"]


def test_a_caller_back_in_line_after_a_hold_key_shows_as_being_served_not_as_given_up(repo, ledger_rules):
    """A caller who left the queue by a hold key to key a number and came back to their place when it would not do
    (bot/ivr/handoff.py ``rejoin``: ``handoff_queued`` ``back_in_line``) and whom an agent now has showed as 排队放弃
    (本次): the hold key's ``handoff_abandoned`` named the contact. An earlier call left for good (a callback booked
    with the number keyed) still shows as the callback."""
    customer = repo.find_customer(phone="13800000002")
    key = f"customer:{customer.id}"

    async def calls():
        for call, kinds in (("ivr:earlier", (("handoff_queued", {}), ("handoff_abandoned", {"reason": "caller_chose_callback"}),
                                             ("callback_booked", {}))),
                            ("ivr:now", (("handoff_queued", {}), ("handoff_abandoned", {"reason": "caller_chose_callback"}),
                                         ("handoff_queued", {"back_in_line": True}), ("handoff_claimed", {})))):
            for kind, data in kinds:
                await record(call, kind, channel="ivr", database_url=repo.url, customer=key, **data)
    asyncio.run(calls())

    shown = customer_glance(repo, ledger_rules, packet_for(customer, "ivr:now"))["contacts"]
    assert sorted((c["conversation"], c["outcome"], c["current"]) for c in shown if "ivr" in c["conversation"]) == [
        ("ivr:earlier", "callback_booked", False), ("ivr:now", "handoff_claimed", True)]


def test_a_visits_promised_time_is_on_the_desk(repo, ledger_rules):
    """Found by a journey tester: the visit time was a fact nowhere; the desk showed only the customer's sentence."""
    from bot.handoff.packet import build_packet

    customer = repo.find_customer(phone="13800000002")
    visit = repo.create_ticket(kind="visit", customer_id=customer.id, summary="客户预约上门：明天来修",
                               details={"visit_time": "12月3日上午9点到12点"})
    ledger = {i["ticket_id"]: i for i in customer_glance(repo, ledger_rules, packet_for(customer))["ledger"]}
    assert ledger[visit]["visit_time"] == "12月3日上午9点到12点"
    packet = build_packet(conversation_id="c", channel="wechat", skill="general", priority=0, reason="complaint",
                          enqueued_at=0, open_tickets=repo.tickets_for(customer.id, open_only=True))
    assert {t["ticket_id"]: t["visit_time"] for t in packet["open_tickets"]}[visit] == "12月3日上午9点到12点"


def test_an_unverified_conversation_shows_only_the_masked_reported_number(repo, ledger_rules):
    shown = customer_glance(repo, ledger_rules, {"conversation_id": "rest-1", "phone": "13800000003", "customer": None})
    assert shown == {"verified": False, "phone": "*******0003"}


def test_a_corrected_callback_number_is_kept_with_who_and_when_and_shown_masked(repo, ledger_rules):
    customer = repo.find_customer(phone="13800000001")
    details = ContactDetails(repo.url)
    assert callback_number(repo.url, customer) == "13800000001", "the registered phone until corrected"
    assert details.correct(customer, "callback_phone", "139 1234-5678", by="agent7", conversation_id="c1") == "13912345678"
    assert callback_number(repo.url, customer) == "13912345678"
    assert repo.find_customer(phone="13800000001") is not None, "the registered phone (identity) is unchanged"
    [change] = details.history(customer.id)
    assert (change["old_value"], change["new_value"], change["changed_by"], change["conversation_id"]) == (
        "13800000001", "13912345678", "agent7", "c1")
    assert change["changed_at"] is not None

    shown = customer_glance(repo, ledger_rules, packet_for(customer))
    assert shown["contact"]["callback_phone"]["value"] == "*******5678"
    assert shown["contact"]["callback_phone"]["corrected_by"] == "agent7"
    assert shown["contact_history"][0]["old"] == "*******0001" and shown["contact_history"][0]["by"] == "agent7"


@pytest.mark.parametrize("field, value, code", [
    ("callback_phone", "12345", "error_contact_phone"),
    ("callback_phone", "13800000001", "error_contact_unchanged"),
    ("address", "x", "error_contact_address"),
    ("phone", "13912345678", "error_contact_field"),
])
def test_a_wrong_correction_is_refused_and_nothing_is_recorded(repo, field, value, code):
    customer = repo.find_customer(phone="13800000001")
    details = ContactDetails(repo.url)
    with pytest.raises(ContactDetailError) as refused:
        details.correct(customer, field, value, by="agent7")
    assert refused.value.code == code
    assert details.history(customer.id) == []
