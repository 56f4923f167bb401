"""Every public parser, fed anything: it answers with a value or its own typed error, quickly and
within bounded memory — never another exception, never a hang."""
from __future__ import annotations

import base64
import json
import resource

import yaml
from hypothesis import given, strategies as st

from bot.channels.wechat import safe_fields
from bot.ivr.errors import FlowError, WireFormatError
from bot.ivr.flow_loader import parse_flow
from bot.ivr.twilio import TwilioSerializer
from bot.selfhelp import CatalogueError, parse_catalogue
from voice.audio import decode_bytes
from voice.errors import VoiceError

MAX_RSS_GROWTH_KB = 300 * 1024

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                       max_size=4), max_leaves=12)


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def twilio_frames():
    """Frames shaped like Media Streams (events Kefu knows, with any fields) and anything else."""
    known = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", "unknown"])
    payload = st.one_of(st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=50))
    shaped = st.fixed_dictionaries({"event": known}, optional={
        "streamSid": st.text(max_size=20),
        "start": st.fixed_dictionaries({}, optional={
            "streamSid": st.text(max_size=20), "callSid": st.text(max_size=20),
            "mediaFormat": st.fixed_dictionaries({}, optional={"encoding": st.sampled_from(["audio/x-mulaw", "x"]),
                                                               "sampleRate": json_values, "channels": json_values}),
            "customParameters": st.dictionaries(st.text(max_size=8), json_values, max_size=3)}),
        "media": st.fixed_dictionaries({}, optional={"payload": payload, "track": st.text(max_size=10),
                                                     "timestamp": json_values}),
        "dtmf": st.fixed_dictionaries({}, optional={"digit": st.text(max_size=3)}),
        "mark": st.fixed_dictionaries({}, optional={"name": json_values}),
    }).map(json.dumps)
    return st.one_of(shaped, json_values.map(json.dumps), st.text(max_size=200), st.binary(max_size=50))


@given(st.lists(twilio_frames(), min_size=1, max_size=8))
def test_twilio_frames_parse_or_raise_wire_format_error(frames):
    serializer = TwilioSerializer()
    for frame in frames:
        try:
            serializer.parse(frame)
        except WireFormatError as error:
            assert str(error)


XML_TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
                            "EventKey", "MediaId", "Format", "Recognition", "Encrypt"])


def wechat_xml():
    node = st.tuples(XML_TAGS, st.text(max_size=30), st.booleans()).map(
        lambda t: f"<{t[0]}><![CDATA[{t[1]}]]></{t[0]}>" if t[2] else f"<{t[0]}>{t[1]}</{t[0]}>")
    document = st.lists(node, max_size=8).map(lambda nodes: "<xml>" + "".join(nodes) + "</xml>")
    hostile = st.sampled_from([
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>',
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
        "<xml><xml><xml>", "", "<xml/>"])
    return st.one_of(document, hostile, st.text(max_size=200)).map(lambda s: s.encode("utf-8")) | st.binary(max_size=200)


@given(wechat_xml())
def test_wechat_xml_gives_fields_or_the_errors_the_channel_answers_400(body):
    from defusedxml import DefusedXmlException
    from xml.etree.ElementTree import ParseError

    try:
        fields = safe_fields(body)
    except (ValueError, KeyError, UnicodeDecodeError, DefusedXmlException, ParseError):
        return
    assert isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values())


AUDIO_HEADERS = [b"RIFF\x24\x00\x00\x00WAVEfmt ", b"#!AMR\n", b"ID3\x03\x00\x00\x00", b"\xff\xfb\x90\x00", b""]


@given(st.sampled_from(["wav", "amr", "mp3", "pcm", "mulaw"]), st.sampled_from(AUDIO_HEADERS), st.binary(max_size=2048))
def test_voice_message_files_decode_or_raise_a_voice_error(fmt, header, body):
    before = rss_kb()
    try:
        pcm = decode_bytes(header + body, fmt, target_rate=16000, source_rate=8000)
    except VoiceError as error:
        assert str(error)
    else:
        assert pcm.samples and len(pcm.samples) % 2 == 0  # mono s16le, never an empty "success"
    assert rss_kb() - before < MAX_RSS_GROWTH_KB


FLOW_KEYS = st.sampled_from(["flow", "start", "nodes", "type", "prompt", "next", "options", "key", "say", "goto",
                             "on_failure", "digits", "menu", "transfer", "skill", "bot", "hangup", "record"])
yaml_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(FLOW_KEYS | st.text(max_size=8),
                                                                                        inner, max_size=4),
                           max_leaves=20)


@given(st.one_of(yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)), st.text(max_size=200)))
def test_editor_flow_yaml_loads_or_names_the_problem(text):
    try:
        parse_flow(text, "fuzz.yml", "fuzz")
    except FlowError as error:
        assert "fuzz.yml" in str(error)


@given(yaml_values)
def test_selfhelp_catalogue_yaml_loads_or_names_the_problem(raw):
    try:
        parse_catalogue(raw, source="selfhelp.yml")
    except CatalogueError as error:
        assert str(error)


@given(st.one_of(json_values.map(json.dumps).map(str.encode), st.binary(max_size=100),
                 st.fixed_dictionaries({"sender": json_values, "message": json_values},
                                       optional={"metadata": json_values, "input_channel": json_values})
                 .map(json.dumps).map(str.encode)))
def test_rest_body_check_accepts_only_what_rasa_can_take(body):
    from bot.channels.rest_guard import rest_body_problem

    problem = rest_body_problem(body)
    if problem is None:
        payload = json.loads(body)
        assert isinstance(payload["sender"], str) and isinstance(payload["message"], str)
    else:
        assert problem.endswith(("object", "characters", "name"))
