"""Hostile and oversized WeChat requests, against the running server."""
from __future__ import annotations

import pytest

from tests.channels.wechat_client import new_msg_id, new_openid, text_xml
from tests.channels.test_wechat import user_turns

pytestmark = pytest.mark.slow

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&secret;</Content><MsgId>2</MsgId></xml>"""


# Found by tests/fuzz: wechatpy reads a repeated field as a list, and a field holding elements as a
# mapping, and then fails on them (a 500, which WeChat retries).
REPEATED_FIELD = "<xml><FromUserName>{openid}</FromUserName><MsgType></MsgType><MsgType>text</MsgType></xml>"
NESTED_FIELD = ("<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>"
                "<MsgType>text<b>1</b></MsgType><Content>hi</Content><MsgId>3</MsgId></xml>")


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, "<xml><unclosed></xml>", "not xml at all",
                                     "<other><MsgType>text</MsgType></other>", REPEATED_FIELD, NESTED_FIELD],
                         ids=["billion-laughs", "external-entity", "malformed", "not-xml", "wrong-root",
                              "repeated-field", "nested-field"])
def test_hostile_xml_is_rejected_and_nothing_processed(wechat, running_kefu, payload):
    openid = new_openid()
    answer = wechat.post(payload.replace("{openid}", openid))
    assert answer.status == 400 and "root:" not in answer.body
    assert user_turns(running_kefu, openid) == []


def test_body_over_64kb_is_413(wechat, running_kefu):
    openid = new_openid()
    answer = wechat.post(text_xml(openid, "网" * 30000, new_msg_id()))
    assert answer.status == 413
    assert user_turns(running_kefu, openid) == []


def test_sender_rate_limit(wechat, running_kefu):
    openid = new_openid()
    bodies = [wechat.post(text_xml(openid, "你好", new_msg_id())).body for _ in range(22)]
    assert any("太快" in body for body in bodies[20:])
    assert len(user_turns(running_kefu, openid)) == 20


def test_a_seen_signature_cannot_carry_another_message(wechat, running_kefu):
    """Plain mode signs the timestamp and nonce, not the body: a captured request address let
    anyone post as any follower for five minutes (found by a probe). A retry of the same body is
    WeChat's own and stays harmless."""
    victim, query = new_openid(), wechat.query()
    first = text_xml(victim, "你好", new_msg_id())
    assert wechat.request("POST", query, first.encode("utf-8")).status == 200
    assert wechat.request("POST", query, first.encode("utf-8")).status == 200  # WeChat's retry
    forged = wechat.request("POST", query, text_xml(victim, "查话费", new_msg_id()).encode("utf-8"))
    assert forged.status == 403
    assert user_turns(running_kefu, victim) == ["你好"]
