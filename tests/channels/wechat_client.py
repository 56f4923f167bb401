"""What WeChat's servers send to Kefu: signed requests with genuine XML payload shapes."""
from __future__ import annotations

import hashlib
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from wechatpy.crypto import WeChatCrypto

from tests.channels import stack_env

ACCOUNT = "gh_0123456789ab"


def sign(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def text_xml(openid: str, content: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def voice_xml(openid: str, media_id: str, msg_id: int, recognition: str | None = None) -> str:
    extra = f"<Recognition><![CDATA[{recognition}]]></Recognition>" if recognition is not None else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><Format><![CDATA[amr]]></Format>{extra}"
            f"<MsgId>{msg_id}</MsgId></xml>")


def image_xml(openid: str, msg_id: int, media_id: str = "img-media") -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
            f"<PicUrl><![CDATA[http://mmbiz.qpic.cn/test.jpg]]></PicUrl><MediaId><![CDATA[{media_id}]]></MediaId>"
            f"<MsgId>{msg_id}</MsgId></xml>")


def location_xml(openid: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[location]]></MsgType>"
            f"<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale>"
            f"<Label><![CDATA[位置信息]]></Label><MsgId>{msg_id}</MsgId></xml>")


def link_xml(openid: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[link]]></MsgType>"
            f"<Title><![CDATA[光猫LOS灯红了怎么办]]></Title><Description><![CDATA[一篇文章]]></Description>"
            f"<Url><![CDATA[https://mp.weixin.qq.com/s/ont-los]]></Url><MsgId>{msg_id}</MsgId></xml>")


def video_xml(openid: str, msg_id: int, kind: str = "video", media_id: str = "video-media") -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><ThumbMediaId><![CDATA[thumb-media]]></ThumbMediaId>"
            f"<MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
    key_node = f"<EventKey><![CDATA[{key}]]></EventKey>" if event != "subscribe" or key else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key_node}</xml>")


def new_openid() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
    return "o6_bm" + "".join(random.choice(alphabet) for _ in range(23))


def new_msg_id() -> int:
    return random.randrange(10**18, 10**19)


@dataclass
class Answer:
    status: int
    body: str
    seconds: float


@dataclass
class WeChatServer:
    """Posts to Kefu the way WeChat does, in plain or safe mode."""

    url: str
    token: str = stack_env.WECHAT_TOKEN

    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, stack_env.WECHAT_AES_KEY, stack_env.WECHAT_APP_ID)

    def query(self, *, signature: str | None = None, timestamp: str | None = None, **extra: str) -> dict:
        timestamp = timestamp or str(int(time.time()))
        nonce = str(random.randrange(10**9))
        return {"signature": signature or sign(self.token, timestamp, nonce), "timestamp": timestamp,
                "nonce": nonce, **extra}

    def request(self, method: str, query: dict, body: bytes | None = None, timeout: float = 10) -> Answer:
        url = f"{self.url}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"Content-Type": "text/xml; charset=utf-8"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Answer(answer.status, answer.read().decode("utf-8"), time.monotonic() - started)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode("utf-8", "replace"), time.monotonic() - started)

    def post(self, xml: str, *, safe: bool = False, **query_overrides) -> Answer:
        query = self.query(**query_overrides)
        if not safe:
            return self.request("POST", query, xml.encode("utf-8"))
        envelope = self.crypto().encrypt_message(xml, query["nonce"], query["timestamp"])
        # WeChat's safe-mode envelope: ToUserName + Encrypt; msg_signature covers the ciphertext.
        from defusedxml import ElementTree

        encrypted = ElementTree.fromstring(envelope).findtext("Encrypt")
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        query.update(encrypt_type="aes", msg_signature=ElementTree.fromstring(envelope).findtext("MsgSignature"))
        return self.request("POST", query, body.encode("utf-8"))

    def decrypt(self, answer: Answer, query_timestamp: str | None = None) -> str:
        from defusedxml import ElementTree

        root = ElementTree.fromstring(answer.body)
        return self.crypto().decrypt_message(answer.body, root.findtext("MsgSignature"), root.findtext("TimeStamp"),
                                             root.findtext("Nonce"))


def location_event_xml(openid: str, create_time: int) -> str:
    """WeChat's location report (上报地理位置): on entering the chat, or every 5 s while it is open."""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
            f"<Precision>119.385040</Precision></xml>")
