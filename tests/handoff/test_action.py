"""action_request_human on tracker fixtures, with a real Redis behind the queue."""
from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

import pytest

from bot import settings as settings_module
from bot.handoff import keys
from bot.handoff.agents import AgentRoster
from bot.handoff.departures import sign_out
from bot.handoff.queue import HandoffQueue
from bot.handoff.watcher import WaitingRoom
from tests.action_tests.conftest import run_action, with_redis  # noqa: F401 - fixtures
from tests.action_tests.trackers import load_tracker
from tests.handoff.held_reply import HeldReplyProxy
from tests.handoff.test_callback_transferred import HandingOver


async def test_request_human_queues_with_context_tells_the_wait_and_pauses(run_action, with_redis):
    await AgentRoster(with_redis).register("a1", name="王芳", skills=["broadband"], capacity=1, status="available")
    tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="13800000001",
                           selfhelp_failures=2, customer_id="1", verified_customer_id="1", verified_by="sms_code", verified_channel="rest")
    turn = await run_action("action_request_human", tracker)
    assert turn.responses[0] == "utter_queued"
    assert turn.message("utter_queued")["position"] == 1
    status = next(m["custom"] for m in turn.messages if m.get("custom"))
    assert status["kind"] == "queue_status" and status["position"] == 1 and status["wait_minutes"] >= 1
    assert {"event": "pause", "timestamp": None} in turn.events or any(e["event"] == "pause" for e in turn.events)
    entry = await HandoffQueue(with_redis).entry("13800000001")
    packet = entry["request"].context
    assert entry["state"] == "waiting" and entry["skill"] == "broadband"
    assert packet["customer"]["phone"] == "13800000001" and packet["reason"] in ("selfhelp_failed", "vip_direct")
    assert packet["slots"]["selfhelp_sent"] == ["bb_los_red"]


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_with_nobody_signed_in_the_customer_is_told_so_and_offered_a_callback(run_action, with_redis):
    await AgentRoster(with_redis).register("a1", name="王芳", skills=["tv"], capacity=1, status="available")
    tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="nobody-there",
                           selfhelp_failures=2)
    turn = await run_action("action_request_human", tracker)
    assert turn.responses[0] == "utter_queue_nobody_available" and "utter_queued" not in turn.responses
    [status] = [m["custom"] for m in turn.messages if m.get("custom", {}).get("kind") == "queue_status"]
    assert status["agents_available"] is False and status["wait_minutes"] is None, "a wait nobody can keep"
    assert (await HandoffQueue(with_redis).entry("nobody-there"))["state"] == "waiting"
    # the waiting room knows what was said and does not say it again on its first visit
    assert await with_redis.hget(keys.conversation("nobody-there"), "notified") == b"nobody"


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_an_agent_who_takes_and_leaves_a_customer_as_they_are_queued_is_told_to_them(
        run_action, with_redis, redis_url, monkeypatch):
    """王芳 takes the customer and signs out as the request is queued (the answer to its first read of who is on
    duty held back by a hop to Redis), before the request remembers their place as told. Found in review: that
    plain write put the place over "your agent left", which the waiting room then never said."""
    proxy = await HeldReplyProxy(urlparse(redis_url).port).start()
    parts = urlparse(redis_url)
    monkeypatch.setenv("REDIS_URL", f"redis://{parts.hostname}:{proxy.port}{parts.path}")
    settings_module.get_settings.cache_clear()
    queue = HandoffQueue(with_redis)
    await queue.roster.register("a1", name="王芳", skills=["broadband"], capacity=1, status="available")
    tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="taken-and-left",
                           selfhelp_failures=2)
    try:
        proxy.hold_reply_to("ZRANGEBYSCORE", keys.presence())  # the place read once the request is queued
        asking = asyncio.create_task(run_action("action_request_human", tracker))
        await asyncio.wait_for(proxy.held.wait(), 10)
        assert (await queue.claim_next("a1")).conversation_id == "taken-and-left"
        assert await sign_out(queue, "a1", None) == 1
        proxy.release()
        turn = await asyncio.wait_for(asking, 10)
        assert turn.responses[0] == "utter_queue_nobody_available"  # 王芳 was gone when it read who is on duty
        room = WaitingRoom(queue, HandingOver(time.time))
        await room.notify_if_changed("taken-and-left", await queue.position("taken-and-left"), available=False)
    finally:
        await proxy.close()
    assert room.conversations.responses("taken-and-left") == ["utter_queue_agent_left", "utter_queue_nobody_available"]


async def test_a_claimed_customer_is_not_shown_to_the_agent_nor_served_as_vip(run_action, with_redis):
    tracker = load_tracker("selfhelp_denied", text="没解决", intent="deny", selfhelp_failures=1, customer_id="4",
                           sender="claims-to-be-a-vip")
    turn = await run_action("action_handle_deny", tracker)
    assert turn.responses == ["utter_selfhelp_offer_human"], "no straight transfer for a mere claim"
    asked = load_tracker("selfhelp_denied", text="转人工", intent="request_human", customer_id="4",
                         sender="claims-to-be-a-vip")
    await run_action("action_request_human", asked)
    entry = await HandoffQueue(with_redis).entry("claims-to-be-a-vip")
    assert entry["request"].context["customer"] is None and entry["priority"] < 2


async def test_no_queue_means_an_apology_and_no_pause(run_action, kefu_env, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings_module.get_settings.cache_clear()
    turn = await run_action("action_request_human", load_tracker("query_bill", text="转人工", intent="request_human"))
    assert turn.responses == ["utter_handoff_unavailable"]
    assert not any(e["event"] == "pause" for e in turn.events)


async def test_second_selfhelp_failure_offers_a_human(run_action, with_redis):
    tracker = load_tracker("selfhelp_denied", text="没解决", intent="deny", selfhelp_failures=1)
    turn = await run_action("action_handle_deny", tracker)
    assert turn.responses == ["utter_selfhelp_offer_human"] and turn.slots["awaiting"] == "offer_human"


@pytest.mark.usefixtures("agents_in_all_day")  # "nobody online" as said in the daytime
async def test_top_tier_customer_goes_straight_to_the_queue(run_action, with_redis):
    from actions.backend import repository

    vip = repository().find_customer(phone="13800000004")
    assert vip.vip_tier >= 3
    tracker = load_tracker("selfhelp_denied", text="没解决", intent="deny", selfhelp_failures=1,
                           customer_id=str(vip.id), verified_customer_id=str(vip.id), verified_by="sms_code", verified_channel="rest",
                           sender="13800000004")
    turn = await run_action("action_handle_deny", tracker)
    assert "utter_selfhelp_offer_human" not in turn.responses
    assert {"utter_queued", "utter_queue_nobody_available"} & set(turn.responses), "not queued"
    entry = await HandoffQueue(with_redis).entry("13800000004")
    assert entry["request"].context["reason"] == "vip_direct" and entry["priority"] >= 2


async def test_a_number_a_rest_client_puts_in_the_metadata_is_shown_as_claimed_and_never_used(run_action, with_redis):
    """Found by a tester: a REST client's ``metadata.phone`` reached the agent as the conversation's
    number, like a caller's line: unmarked, revealable, the number a callback would go to. It is the
    client's own choice: kept apart, masked and marked unverified, never revealed nor called back;
    the phone channel's vouched line still is the number to call."""
    from actions.backend import repository
    from bot.handoff import masking
    from bot.handoff.glance import customer_glance
    from bot.handoff.waiting_tickets import known_phone

    async def queued(sender: str, channel: str, phone: str):
        tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender=sender,
                               selfhelp_failures=2)
        tracker.latest_message["metadata"] = {"phone": phone}
        tracker.events[-1]["input_channel"] = channel
        await run_action("action_request_human", tracker)
        return (await HandoffQueue(with_redis).entry(sender))["request"]

    planted = await queued("planted-phone", "rest", "13800000002")
    packet = planted.context
    assert packet["customer"] is None and packet["phone"] is None and packet["claimed_phone"] == "13800000002"
    assert masking.masked_packet(packet)["claimed_phone"] == masking.mask_number("13800000002")
    assert customer_glance(repository(), None, packet) == {
        "verified": False, "phone": None, "claimed_phone": masking.mask_number("13800000002")}
    assert masking.reveal(packet, "phone") is None
    try:
        masking.reveal(packet, "claimed_phone")
        raise AssertionError("a claimed number must not be revealable")
    except KeyError:
        pass
    assert await known_phone(with_redis, "planted-phone", planted) is None  # a callback asks the agent for a number

    line = await queued("ivr:MZplanted", "ivr", "13800000003")
    assert line.context["phone"] == "13800000003" and line.context["claimed_phone"] is None
    assert await known_phone(with_redis, "ivr:MZplanted", line) == "13800000003"


async def test_a_repair_chased_by_someone_who_only_named_the_customer_stays_off_their_agents_desk(run_action, with_redis):
    """Someone who types a customer's number with a fault joins that customer's open repair (filed in
    another conversation) and is told no ticket number: it goes by SMS to the registered phone. Their
    packet listed that repair all the same (its summary and the technician's visit time) to the agent
    serving them, and the agent's 已解决 closed the customer's repair. Found in a security review."""
    from actions.backend import repository
    from bot.handoff.tickets import disposition_ticket
    from tests.action_tests.trackers import entity

    repair = repository().create_ticket(kind="fault", customer_id=3, summary="宽带断线，光猫LOS红灯",
                                        details={"fault_type": "fault_broadband", "visit_time": "周六下午"},
                                        conversation_id="the-customers-own-chat")
    reported = load_tracker("selfhelp_denied", text="13800000003", intent="inform",
                            entities=[entity("phone_number", "13800000003")], sender="only-named-them",
                            pending_request="action_create_fault_ticket", awaiting="identity")
    turn = await run_action("action_identify_customer", reported)
    assert turn.responses == ["utter_fault_report_taken"] and repair not in str(turn.messages)
    asked = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="only-named-them",
                         **{k: v for k, v in turn.slots.items() if k in ("customer_id", "last_ticket_id")})
    await run_action("action_request_human", asked)
    request = (await HandoffQueue(with_redis).entry("only-named-them"))["request"]
    assert request.context["open_tickets"] == [], "the named customer's repair on the agent's screen"
    assert "周六下午" not in str(request.context) and "光猫LOS红灯" not in str(request.context)

    await disposition_ticket(request, "resolved", "已解决", "demo")
    assert repository().get_ticket(repair)["status"] == "open", "the agent's 已解决 closed someone else's repair"


async def test_a_ticket_from_an_earlier_session_of_the_conversation_stays_off_the_next_customers_packet(
        run_action, with_redis):
    """A web chat keeps its conversation id after its session ends (60 minutes idle: verification and
    the request start over), so the next person at a tab left open is in the same conversation. Their
    agent was shown the earlier customer's tickets filed in it (a visit booked, its time and words),
    while the transcript shows only the new session. Found in a security review."""
    import datetime as dt
    import time

    import sqlalchemy as sa

    from actions.backend import repository
    from bot.db.schema import tickets

    earlier = repository().create_ticket(kind="visit", customer_id=1, summary="客户预约上门：明天上午，人民路18号",
                                         details={"visit_time": "12月6日（周六）上午"}, conversation_id="left-open")
    with repository().engine.begin() as conn:
        conn.execute(sa.update(tickets).where(tickets.c.ticket_id == earlier)
                     .values(created_at=dt.datetime.utcnow() - dt.timedelta(hours=2)))
    this_session = repository().create_ticket(kind="complaint", customer_id=None, summary="客户投诉：网速慢",
                                              details={"callback_phone": "13912345678"}, conversation_id="left-open")
    asked = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender="left-open")
    started = time.time() - 600
    asked.events[:0] = [{"event": "action", "name": "action_session_start", "timestamp": started},
                        {"event": "session_started", "timestamp": started}]
    for n, event in enumerate(asked.events[2:], start=1):
        event["timestamp"] = started + n
    await run_action("action_request_human", asked)
    packet = (await HandoffQueue(with_redis).entry("left-open"))["request"].context
    assert [t["ticket_id"] for t in packet["open_tickets"]] == [this_session]
    assert "人民路" not in str(packet) and "周六" not in str(packet)
    # ... nor does the agent's 转工单跟进 add to it and tell the new person its number as theirs
    from bot.handoff.tickets import disposition_ticket

    request = (await HandoffQueue(with_redis).entry("left-open"))["request"]
    assert await disposition_ticket(request, "ticket", "已记录网速慢，安排跟进", "demo") == this_session
    repository().move_ticket(this_session, "resolved")
    followed = await disposition_ticket(request, "ticket", "安排跟进", "demo")
    assert followed not in (earlier, this_session), "the earlier customer's visit was told as the new person's ticket"


@pytest.mark.usefixtures("agents_in_all_day")
async def test_the_number_given_for_a_complaint_is_where_a_callback_booked_while_waiting_goes(run_action, with_redis):
    """Found in a live trial: a customer who filed a complaint on 138… and asked for a person was asked for their
    number again by the waiting room's 预约回电. The number typed in this session is where the callback goes (the
    booking names it, masked); one never typed is still asked for."""
    queue = HandoffQueue(with_redis)
    room = WaitingRoom(queue, HandingOver(time.time))
    for sender, given in (("gave-a-number", "13800000001"), ("gave-none", None)):
        tracker = load_tracker("selfhelp_denied", text="转人工", intent="request_human", sender=sender,
                               selfhelp_failures=2, phone_number=given)
        await run_action("action_request_human", tracker)
        await room.visit(sender)
        room.conversations.customer(sender, "/leave_message", "leave_message")
        await room.visit(sender)
    response, values = room.conversations.said["gave-a-number"][-1]
    assert response == "utter_queue_callback_booked" and values["phone_masked"] == "138****0001"
    assert room.conversations.responses("gave-none")[-1] == "utter_queue_ask_number"
