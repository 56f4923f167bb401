"""A small outcome log written by hand: eight contacts on three channels over two days."""
from __future__ import annotations

import datetime as dt

T0 = dt.datetime(2026, 3, 2, 11, 0)  # Monday 19:00 in Beijing


def ev(conversation, minutes, kind, channel="", customer="", /, **data):
    return {"conversation_id": conversation, "kind": kind, "channel": channel, "customer": customer,
            "data": data, "at": T0 + dt.timedelta(minutes=minutes)}


def fixture_log() -> list[dict]:
    log = [
        # A: web chat, self-help fixed it, CSAT 5
        ev("w1", 0, "contact_started", "webchat"),
        ev("w1", 0.1, "intent_seen", "webchat", intent="fault_tv_no_signal"),
        ev("w1", 0.2, "selfhelp_sent", "webchat", selfhelp_id="tv_no_signal"),
        ev("w1", 0.3, "customer_identified", "", "customer:1"),
        ev("w1", 3, "selfhelp_resolved", "webchat", selfhelp_id="tv_no_signal"),
        ev("w1", 3.1, "csat_given", "webchat", score=5),
        # B: WeChat, a ticket, CSAT 4
        ev("o1", 2, "contact_started", "wechat", "openid:o1"),
        ev("o1", 2.1, "intent_seen", "wechat", intent="request_visit"),
        ev("o1", 2.5, "ticket_created", "wechat", ticket_id="TK000001", kind="visit"),
        ev("o1", 2.6, "csat_given", "wechat", score=4),
        # C: phone, answered after 15 s, handled 300 s, CSAT 3
        ev("ivr:c1", 10, "contact_started", "ivr", "customer:2"),
        ev("ivr:c1", 10.5, "ivr_transferred", "ivr", skill="tv", priority=0),
        ev("ivr:c1", 10.5, "handoff_queued", "ivr", skill="tv", priority=0),
        ev("ivr:c1", 10.75, "handoff_claimed", "ivr", skill="tv", wait_s=15),
        ev("ivr:c1", 15.75, "handoff_closed", "ivr", skill="tv", handle_s=300, wait_s=15),
        ev("ivr:c1", 16, "csat_given", "ivr", score=3),
        ev("ivr:c1", 16.1, "ivr_call_ended", "ivr", reason="caller", path=["main", "transfer"]),
        # D: phone, hung up after 40 s in the queue
        ev("ivr:d1", 20, "contact_started", "ivr", "phone:13900000009"),
        ev("ivr:d1", 20.2, "handoff_queued", "ivr", skill="broadband", priority=0),
        ev("ivr:d1", 20.9, "handoff_abandoned", "ivr", skill="broadband", wait_s=40, reason="caller_hung_up"),
        ev("ivr:d1", 21, "ivr_call_ended", "ivr", reason="caller", path=["main", "transfer"]),
        # G: web chat opened, nothing said
        ev("w3", 25, "contact_started", "webchat"),
        # H: web chat, self-help did not work, customer left
        ev("w4", 30, "contact_started", "webchat"),
        ev("w4", 30.1, "intent_seen", "webchat", intent="fault_broadband_slow"),
        ev("w4", 30.2, "selfhelp_sent", "webchat", selfhelp_id="broadband_slow"),
        ev("w4", 33, "selfhelp_failed", "webchat", selfhelp_id="broadband_slow"),
        # F: customer 1 again, next morning, by phone (13 h after A)
        ev("ivr:f1", 13 * 60, "contact_started", "ivr", "customer:1"),
        ev("ivr:f1", 13 * 60 + 0.2, "intent_seen", "ivr", intent="query_bill"),
        ev("ivr:f1", 13 * 60 + 0.5, "answer_given", "ivr", topic="bill"),
        ev("ivr:f1", 13 * 60 + 1, "ivr_call_ended", "ivr", reason="flow",
           path=["main_menu", "ask_bot", "anything_else", "csat_survey", "csat_2", "csat_thanks"]),
        # E: customer 2 again 30 h after C, web chat, answered after 30 s, handled 200 s
        ev("w2", 30 * 60, "contact_started", "webchat"),
        ev("w2", 30 * 60 + 0.1, "customer_identified", "", "customer:2"),
        ev("w2", 30 * 60 + 0.2, "handoff_requested", "webchat", skill="broadband", priority=1, reason="request_human"),
        ev("w2", 30 * 60 + 0.2, "handoff_queued", "webchat", skill="broadband", priority=1),
        ev("w2", 30 * 60 + 0.7, "handoff_claimed", "webchat", skill="broadband", wait_s=30),
        ev("w2", 30 * 60 + 4, "handoff_closed", "webchat", skill="broadband", handle_s=200, wait_s=30),
    ]
    for n, event in enumerate(log):
        event["id"] = n + 1
    return log
