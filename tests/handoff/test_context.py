"""The context packet: transcript, intents, self-help with answers, masking and reveal."""
from __future__ import annotations

import pytest

from bot.handoff import masking
from bot.handoff.context import summary
from bot.handoff.packet import build_packet

EVENTS = [
    {"event": "action", "name": "action_listen"},
    {"event": "user", "text": "电视没信号了 我手机13812345678", "timestamp": 1.0,
     "parse_data": {"intent": {"name": "fault_tv", "confidence": 0.93}}},
    {"event": "bot", "text": "机顶盒重启\n1. 拔电源", "timestamp": 2.0,
     "data": {"attachment": {"type": "video", "payload": {"selfhelp_id": "tv_no_signal"}}}},
    {"event": "user", "text": "没解决", "timestamp": 3.0, "parse_data": {"intent": {"name": "deny", "confidence": 0.99}}},
    {"event": "user", "text": "转人工", "timestamp": 4.0, "metadata": {"wechat_msg_type": "voice"},
     "parse_data": {"intent": {"name": "request_human", "confidence": 0.97}}},
    {"event": "slot", "name": "fault_type", "value": "fault_tv"},
]
CUSTOMER = {"id": 1, "name": "张伟", "phone": "13800000001", "account_number": "8800000001", "vip_tier": 3,
            "address": "幸福路1号", "plan_code": None, "balance_cents": 0}


def packet():
    return build_packet(
        conversation_id="c1", channel="wechat", events=EVENTS,
        slots={"fault_type": "fault_tv", "fault_code": "E102", "selfhelp_sent": ["tv_no_signal"], "other": 1},
        customer=CUSTOMER, open_tickets=[{"ticket_id": "TK000007", "kind": "fault", "status": "open", "summary": ""}],
        skill="tv", priority=2, reason="selfhelp_failed", titles={"tv_no_signal": "电视没信号"}, enqueued_at=5.0)


def test_packet_has_turns_intents_slots_and_selfhelp_answers():
    built = packet()
    assert [t["who"] for t in built["transcript"]] == ["customer", "bot", "customer", "customer"]
    assert built["transcript"][3]["voice"] is True
    assert built["intents"][0] == {"intent": "fault_tv", "confidence": 0.93, "text": "电视没信号了 我手机13812345678"}
    assert built["selfhelp"] == [{"id": "tv_no_signal", "title": "电视没信号", "answer": "failed"}]
    assert built["slots"]["fault_code"] == "E102" and "other" not in built["slots"]
    assert built["open_tickets"][0]["ticket_id"] == "TK000007"


def test_selfhelp_sent_before_its_video_existed_still_counts_as_tried():
    """The link names the entry: a message sent with only the steps and the page is still self-help tried."""
    without_video = {"event": "bot", "text": "机顶盒重启\n1. 拔电源", "timestamp": 2.0, "data": {"buttons": [
        {"title": "查看图文步骤", "url": "http://kefu/help/tv_no_signal", "type": "web_url", "selfhelp_id": "tv_no_signal"}]}}
    events = [without_video if e.get("event") == "bot" else e for e in EVENTS]
    built = build_packet(conversation_id="c1", channel="webchat", events=events, slots={}, customer=None,
                         open_tickets=[], skill="tv", priority=0, reason="requested",
                         titles={"tv_no_signal": "电视没信号"}, enqueued_at=5.0)
    assert built["selfhelp"] == [{"id": "tv_no_signal", "title": "电视没信号", "answer": "failed"}]


def test_the_no_pressed_after_an_unclear_answer_is_the_selfhelp_answer(rules):
    """Found by a journey tester: "这个我在微信上已经试过了，没用" was not understood, the bot asked again, the
    customer pressed 没解决, and the agent read 客户未反馈 / 客户未明确回答."""
    unclear = {"event": "user", "text": "这个我在微信上已经试过了，没用", "timestamp": 3.0,
               "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}}}
    asked = {"event": "bot", "text": "按上面的步骤操作后，问题解决了吗？", "timestamp": 3.5}
    pressed = {"event": "user", "text": "/deny", "timestamp": 4.0, "parse_data": {"intent": {"name": "deny", "confidence": 1.0}}}
    events = [*EVENTS[:3], unclear, asked, pressed]
    built = build_packet(conversation_id="c1", channel="webchat", events=events, skill="tv", priority=0,
                         reason="request_human", titles={"tv_no_signal": "电视没信号"}, enqueued_at=5.0)
    assert built["selfhelp"] == [{"id": "tv_no_signal", "title": "电视没信号", "answer": "failed"}]
    assert rules.summary_words["tried_failed"] in summary(built, rules, 60)
    # Only turns that say nothing of the kind: still no answer (one with 没用 in it is a no: the next test).
    mumbled = {**unclear, "text": "嗯嗯 我看看"}
    only_unclear = build_packet(conversation_id="c1", channel="webchat", events=[*EVENTS[:3], mumbled], skill="tv",
                                priority=0, reason="request_human", enqueued_at=5.0)
    assert only_unclear["selfhelp"][0]["answer"] == "other"


def test_not_fixed_in_words_the_nlu_did_not_place_is_the_guide_failed(rules):
    """Found in a live trial: "还是没用，给我转人工吧" (nlu_fallback) queued the customer as a no to "did it work?"
    (actions/selfhelp.py), and the agent read 客户未明确回答 / 客户未反馈. Words the assistant takes as 没解决 there
    (``selfhelp_not_fixed_words``) are the guide failed for the agent too."""
    for text in ("还是没用，给我转人工吧", "这个我在微信上已经试过了，没用"):
        said = {"event": "user", "text": text, "timestamp": 3.0,
                "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.45}}}
        built = build_packet(conversation_id="c1", channel="webchat", events=[*EVENTS[:3], said], skill="tv",
                             priority=0, reason="request_human", titles={"tv_no_signal": "电视没信号"}, enqueued_at=5.0)
        assert built["selfhelp"][0]["answer"] == "failed", text
        assert rules.summary_words["tried_failed"] in summary(built, rules, 60), text


def test_summary_comes_from_the_content_template(rules):
    text = summary(packet(), rules, 95)
    assert "张伟" in text and "E102" in text and "电视没信号" in text and "TK000007" in text
    assert rules.summary_words["tried_failed"] in text
    assert "2分钟" in text and "95" not in text, "waits read in minutes, not seconds"
    assert "fault_tv" not in text and "电视故障" in text
    assert "59分钟" in summary(packet(), rules, 3529)


def test_the_summary_names_every_fault_the_customer_named(rules):
    """Found in review: after "电视和宽带都不行了" the agent's summary named only the fault in hand."""
    built = packet()
    built["slots"]["faults_next"] = ["fault_broadband"]
    assert "故障类型：电视故障、宽带故障，" in summary(built, rules, 95)


def test_summary_has_no_stray_space_between_its_sentences(rules):
    """The template was a folded YAML scalar: its line break became a space after a full-width comma."""
    assert "故障类型：电视故障，故障码：E102。" in summary(packet(), rules, 95)


def test_numbers_are_masked_except_the_last_four_until_revealed():
    shown = masking.masked_packet(packet())
    assert shown["customer"]["phone"] == "*******0001"
    assert shown["customer"]["account_number"] == "******0001"
    assert shown["transcript"][0]["text"] == "电视没信号了 我手机*******5678"
    assert shown["intents"][0]["text"].endswith("*******5678")
    assert masking.mask_text("工单TK000123 身份证11010519491231002X") == "工单TK000123 身份证**************002X"
    assert masking.mask_text("座机010-62345678") == "座机***-****5678"


def test_numbers_an_agent_needs_to_read_are_left_alone():
    said = "默认密码是000000，验证码123456，上月128元，20241130交的"
    assert masking.mask_text(said) == said
    original = packet()
    assert masking.reveal(original, "phone") == "13800000001"
    assert "13812345678" in masking.reveal(original, "transcript")[0]
    with pytest.raises(KeyError):
        masking.reveal(original, "address")
    assert original["customer"]["phone"] == "13800000001", "masking works on a copy"


def test_a_phone_packet_masks_the_caller_and_what_the_flow_collected():
    phone = build_packet(conversation_id="ivr:MZ1", channel="ivr", skill="billing", priority=0,
                         reason="flow_transfer", enqueued_at=1.0, phone="13800000001",
                         collected={"flow": "main", "path": ["welcome", "ask_account"],
                                    "vars": {"account": "8800000001"}})
    shown = masking.masked_packet(phone)
    assert shown["phone"] == "*******0001"
    assert shown["collected"] == {"flow": "main", "path": ["welcome", "ask_account"],
                                  "vars": {"account": "******0001"}}
    assert masking.reveal(phone, "collected") == {"account": "8800000001"}
    assert masking.reveal(phone, "phone") == "13800000001"
    assert "13800000001" not in masking.for_log(phone) and "0001" in masking.for_log(phone)


async def test_a_voice_message_for_a_person_is_a_work_item_carrying_the_packet(kefu_env):
    from bot.db.repository import Repository
    from bot.handoff.service import WorkItem, request_handoff

    repository = Repository(kefu_env.database_url)
    result = await request_handoff(
        conversation_id="voicemail:abc", channel="ivr", skill="general", priority=1, reason="voicemail_unclear",
        phone="13800000001", events=[{"event": "user", "text": "请回电", "metadata": {"voice": True}}],
        work_item=WorkItem(kind="voice_message", summary="voice message", details={"audio_path": "x.wav"},
                           repository=repository))
    ticket = repository.get_ticket(result.ticket_id)
    assert ticket["needs_human"] and ticket["details"]["audio_path"] == "x.wav"
    packet = ticket["details"]["handoff"]
    assert packet["reason"] == "voicemail_unclear" and packet["transcript"][0]["voice"] is True
    with pytest.raises(ValueError):
        await request_handoff(conversation_id="c", channel="rest", skill="general", priority=0, reason="x")
