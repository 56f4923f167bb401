"""The Twilio Media Streams serializer: each bad frame maps to the error it must produce."""
from __future__ import annotations

import base64
import json

import pytest

from bot.ivr.errors import WireFormatError
from bot.ivr.events import AudioIn, CallStart, Hangup, Ignored, KeyPress, PlaybackMark
from bot.ivr.twilio import TwilioSerializer

START = {"event": "start", "streamSid": "MZ1", "start": {
    "streamSid": "MZ1", "callSid": "CA1", "customParameters": {"from": "+8613800000001", "flow": "main"},
    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}


def started() -> TwilioSerializer:
    serializer = TwilioSerializer()
    serializer.parse(json.dumps(START))
    return serializer


def test_a_call_in_kefu_events():
    serializer = TwilioSerializer(carrier_signed=True)
    assert isinstance(serializer.parse(json.dumps({"event": "connected", "protocol": "Call"})), Ignored)
    start = serializer.parse(json.dumps(START))
    assert start == CallStart(call_id="MZ1", caller="+8613800000001", called="", flow="main", carrier_call_id="CA1",
                              caller_verified=True, vouched=True)
    media = serializer.parse(json.dumps({"event": "media", "media": {
        "track": "inbound", "payload": base64.b64encode(b"\xff" * 160).decode()}}))
    assert isinstance(media, AudioIn) and len(media.pcm) == 320
    assert serializer.parse(json.dumps({"event": "dtmf", "dtmf": {"digit": "#"}})) == KeyPress("#")
    assert serializer.parse(json.dumps({"event": "mark", "mark": {"name": "menu"}})) == PlaybackMark("menu")
    assert isinstance(serializer.parse(json.dumps({"event": "stop", "stop": {}})), Hangup)
    out = json.loads(serializer.media(b"\x00\x00" * 160))
    assert out["streamSid"] == "MZ1" and len(base64.b64decode(out["media"]["payload"])) == 160
    assert json.loads(serializer.clear()) == {"event": "clear", "streamSid": "MZ1"}
    assert json.loads(serializer.mark("x"))["mark"] == {"name": "x"}


@pytest.mark.parametrize("frame,fatal", [
    ("not json", False),
    (b"\x00binary", False),
    (json.dumps({"no": "event"}), False),
    (json.dumps({"event": "party"}), False),
    (json.dumps({"event": "media", "media": {"payload": "%%%"}}), False),
    (json.dumps({"event": "media", "media": {}}), False),
    (json.dumps({"event": "dtmf", "dtmf": {"digit": "A"}}), False),
    ("x" * 70000, False),
])
def test_bad_frames_are_skippable(frame, fatal):
    with pytest.raises(WireFormatError) as raised:
        started().parse(frame)
    assert raised.value.fatal is fatal


@pytest.mark.parametrize("media_format", [
    {"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1},
    {"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1},
    {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2},
    {},
])
def test_wrong_codec_is_fatal(media_format):
    frame = json.loads(json.dumps(START))
    frame["start"]["mediaFormat"] = media_format
    with pytest.raises(WireFormatError) as raised:
        TwilioSerializer().parse(json.dumps(frame))
    assert raised.value.fatal


def test_media_before_start_is_fatal():
    with pytest.raises(WireFormatError) as raised:
        TwilioSerializer().parse(json.dumps({"event": "media", "media": {"payload": "AAAA"}}))
    assert raised.value.fatal


@pytest.mark.parametrize("params,caller", [
    ({"From": "+8613800000002"}, "+8613800000002"),  # Twilio's own spelling
    ({"from": "13800000003"}, "13800000003"),
    ({"caller": "13800000004"}, "13800000004"),
    ({"From": "", "caller": "13800000005"}, "13800000005"),
    ({}, ""),  # no caller id: an anonymous call, not a made-up number
])
def test_caller_id_parameter_spellings(params, caller):
    start = json.loads(json.dumps(START))
    start["start"]["customParameters"] = params
    assert TwilioSerializer().parse(json.dumps(start)).caller == caller


@pytest.mark.parametrize("frame", [
    {"event": "dtmf", "dtmf": "5"},
    {"event": "dtmf", "dtmf": ["5"]},
    {"event": "mark", "mark": "menu"},
    {"event": "mark", "mark": 7},
])
def test_a_frame_whose_object_is_not_one_is_skipped_not_a_crash(frame):
    # Found in review: a dtmf or mark that was a string raised AttributeError, which ended the live call.
    with pytest.raises(WireFormatError) as raised:
        started().parse(json.dumps(frame))
    assert not raised.value.fatal


def test_a_start_whose_media_format_is_not_an_object_is_refused():
    frame = json.loads(json.dumps(START))
    frame["start"]["mediaFormat"] = "audio/x-mulaw"
    with pytest.raises(WireFormatError) as raised:
        TwilioSerializer().parse(json.dumps(frame))
    assert raised.value.fatal


@pytest.mark.parametrize("stream_sid", ["MZ1:recording", "MZ1:started", "MZ 1", "MZ1/x", "MZ1\nforged", "M" * 65])
def test_a_stream_id_that_is_not_a_carrier_id_is_refused(stream_sid):
    # The id becomes Redis keys beside another call's (`kefu:ivr:call:MZ1:recording` is MZ1's voice message).
    frame = json.loads(json.dumps(START))
    frame["streamSid"] = frame["start"]["streamSid"] = stream_sid
    with pytest.raises(WireFormatError) as raised:
        TwilioSerializer().parse(json.dumps(frame))
    assert raised.value.fatal


@pytest.mark.parametrize("call_sid", ["../../../Messages", "CA1.json?To=x", "CA1/../CA2", ""])
def test_a_call_id_that_is_not_a_carrier_id_is_not_kept_for_the_voice_bridge(call_sid):
    # The bridge posts to .../Calls/<callSid>.json with the operator's credentials: a path in it was followed.
    frame = json.loads(json.dumps(START))
    frame["start"]["callSid"] = call_sid
    assert TwilioSerializer(carrier_signed=True).parse(json.dumps(frame)).carrier_call_id == ""


def test_carrier_ids_kefu_and_twilio_use_are_kept():
    frame = json.loads(json.dumps(START))
    frame["streamSid"] = frame["start"]["streamSid"] = "MZ" + "0123456789abcdef" * 2
    frame["start"]["callSid"] = "CA" + "0123456789abcdef" * 2
    call = TwilioSerializer(carrier_signed=True).parse(json.dumps(frame))
    assert call.call_id == frame["streamSid"] and call.carrier_call_id == frame["start"]["callSid"]


@pytest.mark.parametrize("trunk_token, given", [("", ""), ("trunk-secret", ""), ("trunk-secret", "a-guess")])
def test_a_stream_not_the_carriers_cannot_name_a_call_for_the_voice_bridge(trunk_token, given):
    # The bridge would redirect that call to an agent: any socket could name a stranger's live call.
    frame = json.loads(json.dumps(START))
    frame["start"]["customParameters"]["kefuTrunkToken"] = given
    call = TwilioSerializer(trunk_token).parse(json.dumps(frame))
    assert call.carrier_call_id == "" and not call.caller_verified and not call.vouched  # and a share of places


def test_the_trunk_token_makes_a_stream_the_carriers():
    frame = json.loads(json.dumps(START))
    frame["start"]["customParameters"]["kefuTrunkToken"] = "trunk-secret"
    call = TwilioSerializer("trunk-secret").parse(json.dumps(frame))
    assert call.carrier_call_id == "CA1" and call.caller_verified and call.vouched


def test_a_trunk_stream_without_a_caller_number_is_still_the_carriers():
    # A withheld number proves no caller, but the stream is still the trunk's: it is not held to the
    # unvouched calls' share of the places (bot/ivr/places.py).
    frame = json.loads(json.dumps(START))
    frame["start"]["customParameters"] = {"kefuTrunkToken": "trunk-secret"}
    call = TwilioSerializer("trunk-secret").parse(json.dumps(frame))
    assert call.vouched and not call.caller_verified and call.caller == ""


@pytest.mark.parametrize("offered", ["\\udcff", "\\ud800", "\\udc00", "\\ud83d", "签名"],
                         ids=["lone-surrogate", "lone-high-surrogate", "low-surrogate-below-dc80", "half-an-emoji",
                              "non-ascii"])
def test_a_trunk_token_no_text_can_encode_is_just_not_the_token(offered):
    """Found in review: a ``kefuTrunkToken`` holding a lone surrogate (valid JSON, ``"\\udcff"``) raised
    UnicodeEncodeError in the token check, ending the call in an unexpected error, not an unvouched caller."""
    frame = json.dumps(START).replace('"flow": "main"', f'"flow": "main", "kefuTrunkToken": "{offered}"')
    start = TwilioSerializer("the-trunk-token").parse(frame)
    assert isinstance(start, CallStart) and not start.caller_verified
