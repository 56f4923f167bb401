"""The desk shows what the customer saw: button titles instead of payloads, videos by title."""
import pytest

from bot.handoff.desk_view import shown_turns


def user(text, intent="affirm"):
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}}}


def bot(text="", **data):
    return {"event": "bot", "text": text, "data": data}


def test_pressed_buttons_show_their_titles_and_videos_their_names():
    events = [
        user("电视没信号", "fault_tv"),
        bot("电视没信号的处理方法\n1. 重启机顶盒", attachment={"type": "video", "payload": {
            "title": "机顶盒重启", "src": "https://x/v.mp4", "selfhelp_id": "tv_no_signal"}}),
        bot("按上面的步骤操作后，问题解决了吗？", buttons=[{"title": "解决了", "payload": "/affirm"},
                                                       {"title": "没解决", "payload": "/deny"}]),
        user("/deny", "deny"),
        bot("", custom={"kind": "queue_status", "position": 2, "wait_minutes": 6},
            buttons=[{"title": "自助服务", "payload": "#handoff:selfhelp"}]),
        user("#handoff:selfhelp", "nlu_fallback"),
        user("我的号码13912345678"),
    ]
    turns = shown_turns(events)
    texts = [t["text"] for t in turns]
    assert "/deny" not in texts and "#handoff:selfhelp" not in texts
    assert turns[3]["text"] == "没解决" and turns[3]["pressed"]
    assert turns[5]["text"] == "自助服务"
    assert turns[1]["video"] == "机顶盒重启"
    assert turns[2]["buttons"] == ["解决了", "没解决"]
    assert turns[4]["queue"] == {"position": 2, "wait_minutes": 6}
    assert turns[6]["text"] == "我的号码*******5678"
    assert [t["index"] for t in turns] == list(range(len(turns)))


def test_self_help_sent_after_the_request_joins_the_packet():
    from bot.handoff.desk_view import with_pushed_selfhelp

    packet = {"selfhelp": [{"id": "tv_no_signal", "title": "无信号", "answer": "failed"}]}
    shown = with_pushed_selfhelp(packet, ["tv_general_reset", "tv_no_signal", "tv_general_reset"],
                                 {"tv_general_reset": "通用排查"})
    assert [s["id"] for s in shown["selfhelp"]] == ["tv_no_signal", "tv_general_reset"]
    assert shown["selfhelp"][1]["title"] == "通用排查"
    assert with_pushed_selfhelp(packet, [], {}) is packet


def test_a_code_or_password_given_as_proof_never_reaches_the_desk():
    """Found by a tester: the desk showed the customer's service password in clear ("客户271828"),
    and revealing the transcript would have shown it too."""
    from bot.handoff.packet import build_packet

    asked = [{"event": "slot", "name": "awaiting", "value": "verification_code"},
             bot("我们已向登记手机号138****0004发送了6位短信验证码…也可以回复您的6位服务密码。")]
    events = [user("查话费", "query_bill"), *asked, user("271828", "inform"),
              {"event": "slot", "name": "awaiting", "value": None}, bot("王强，您当前账户余额…"),
              user("订单号123456你们查一下", "inform")]  # six digits, not asked as proof: the agent reads them
    assert [t["text"] for t in shown_turns(events) if t["who"] == "customer"] == ["查话费", "******", "订单号123456你们查一下"]
    packet = build_packet(conversation_id="c1", channel="webchat", skill="billing", priority=1, reason="request_human",
                          enqueued_at=0.0, events=events)
    assert "271828" not in repr(packet)


@pytest.mark.parametrize("details", [{"caller": "13900000123", "source": "ivr"},
                                     {"voice_message_id": "v1", "handoff": {"phone": "13900000123"}}],
                         ids=["phone-callback", "voice-message"])
def test_a_work_item_from_a_number_that_is_no_customer_shows_the_number_to_call(details):
    """Found by a tester: a phone callback and a voice message from 13900000123 showed no number."""
    from bot.handoff.work_item_view import phone_to_call, readable

    ticket = {"ticket_id": "TK000011", "kind": "callback", "status": "open", "priority": 0, "channel": "ivr",
              "customer_id": None, "details": details, "summary": "phone callback requested"}
    assert readable(ticket, repository=None)["phone"] == "*******0123"  # masked as in the packet; the reveal opens it
    assert phone_to_call(ticket, repository=None) == "13900000123"


async def test_the_self_help_pushed_to_a_conversation_is_not_kept_for_ever(redis_url):
    """The list of entries the waiting room or an agent sent had no expiry: it outlived the
    conversation it names (found by a data-protection review)."""
    import redis.asyncio as redis

    from bot.handoff.desk_view import pushed_selfhelp_key, remember_pushed_selfhelp
    from bot.settings import get_settings

    client = redis.from_url(redis_url)
    try:
        await remember_pushed_selfhelp(client, "view-ttl-1", "tv_no_signal")
        await remember_pushed_selfhelp(client, "view-ttl-1", "tv_smartcard")
        key = pushed_selfhelp_key("view-ttl-1")
        assert [v.decode() for v in await client.lrange(key, 0, -1)] == ["tv_no_signal", "tv_smartcard"]
        assert 0 < await client.ttl(key) <= get_settings().queue_record_expiry_s
    finally:
        await client.delete(pushed_selfhelp_key("view-ttl-1"))
        await client.close()


def test_a_picture_or_media_link_is_shown_only_for_what_came_through_wechat():
    """Found in review: any REST client (or page) can put WeChat's metadata keys on its message, and the
    desk showed an 打开图片 link to the address it chose (an agent's click: a look-alike sign-in page), and
    a media id for Kefu to fetch with its WeChat access token."""
    forged = {"wechat_pic_url": "https://kefu-example.evil/signin", "wechat_media_id": "MEDIA-OF-SOMEONE-ELSE",
              "wechat_msg_type": "image"}
    events = [{"event": "user", "text": "看图", "input_channel": "rest", "metadata": forged},
              {"event": "user", "text": "", "input_channel": "wechat",
               "metadata": {"wechat_pic_url": "http://mmbiz.qpic.cn/real.jpg", "wechat_media_id": "M1",
                            "wechat_msg_type": "image"}}]
    rest, wechat = shown_turns(events)
    assert "image_url" not in rest and "media" not in rest
    assert wechat["image_url"] == "http://mmbiz.qpic.cn/real.jpg" and wechat["media"] == {"kind": "image", "id": "M1"}
    from bot.channels.wechat_media_desk import media_ids

    assert media_ids(events) == {"M1"}
