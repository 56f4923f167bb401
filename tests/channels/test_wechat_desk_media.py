"""A WeChat follower's video and photo, sent while an agent serves them, reach the agent's transcript
and open through WeChat's media API; the bot does not answer them (found by a WeChat tester: the
bot said 这类消息我暂时无法处理 in the middle of a conversation with a person, the desk showed nothing).

The running stack's WeChat webhook and agent desk, against the loopback WeChat API.
"""
from __future__ import annotations

import uuid

import pytest

from bot.db.repository import Repository
from tests.channels.wechat_client import image_xml, new_msg_id, new_openid, text_xml, video_xml
from tests.channels.wechat_loopback import Media
from tests.handoff.stack_client import Desk, only_waiting, wait_for

pytestmark = pytest.mark.slow

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"  # what media/get answers for a photo


def served_by(desk: Desk, openid: str) -> dict:
    """The agent claims ``openid`` once the assistant has queued it (other waiting requests cleared)."""
    def claimed():
        only_waiting(desk.stack, openid, desk.agent_id)
        conversation = desk.call("POST", "claim").json().get("conversation")
        return conversation if conversation and conversation["conversation_id"] == openid else None

    return wait_for(claimed, timeout=60)


def customer_turns(desk: Desk, openid: str) -> list[dict]:
    turns = desk.call("GET", f"conversations/{openid}/messages?after=-1").json()["turns"]
    return [turn for turn in turns if turn["who"] == "customer"]


def test_a_followers_video_and_photo_reach_the_agent_who_opens_them_through_wechat(running_kefu, wechat,
                                                                                  wechat_api):
    openid, video_id, photo_id = new_openid(), f"video-{uuid.uuid4().hex}", f"photo-{uuid.uuid4().hex}"
    video_url = f"http://127.0.0.1:{wechat_api.port}/download/{video_id}.mp4"
    wechat_api.media[video_id] = Media(b"", video_url=video_url)
    wechat_api.media[photo_id] = Media(JPEG, content_type="image/jpeg")
    assert wechat.post(text_xml(openid, "转人工", new_msg_id())).status == 200
    desk = Desk(running_kefu)
    served_by(desk, openid)
    sent_before = len(wechat_api.sent_to(openid))

    assert wechat.post(video_xml(openid, new_msg_id(), media_id=video_id)).body == "success"
    assert wechat.post(image_xml(openid, new_msg_id(), media_id=photo_id)).body == "success"
    turns = wait_for(lambda: [t for t in customer_turns(desk, openid) if t.get("media")][-2:] or None)
    assert [(t["text"], t["media"]) for t in turns] == [
        ("[视频]", {"kind": "video", "id": video_id}), ("[图片]", {"kind": "image", "id": photo_id})]

    video = desk.session.get(f"{desk.base_url}/agent/api/conversations/{openid}/wechat_media/{video_id}",
                             allow_redirects=False, timeout=30)
    assert (video.status_code, video.headers["Location"]) == (302, video_url)  # WeChat's download address
    photo = desk.session.get(f"{desk.base_url}/agent/api/conversations/{openid}/wechat_media/{photo_id}", timeout=30)
    assert (photo.status_code, photo.headers["Content-Type"], photo.content) == (200, "image/jpeg", JPEG)
    assert photo_id in wechat_api.media_requests

    # Only media this conversation names: another follower's media id opens nothing.
    wechat_api.media["someone-elses"] = Media(JPEG, content_type="image/jpeg")
    other = desk.session.get(f"{desk.base_url}/agent/api/conversations/{openid}/wechat_media/someone-elses",
                             timeout=30)
    assert other.status_code == 404 and "someone-elses" not in wechat_api.media_requests
    assert "3天" in other.text  # the agent reads why, in the tab the link opened
    assert wechat_api.sent_to(openid)[sent_before:] == []  # the bot said nothing

    def opened() -> list[str]:  # who opened a customer's photo is on record
        return [e["data"]["media_id"] for e in Repository(running_kefu.settings.database_url).events_for(openid)
                if e["kind"] == "customer_media_opened" and e["data"]["agent_id"] == desk.agent_id]

    wait_for(lambda: opened() == [video_id, photo_id])
