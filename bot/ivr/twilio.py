"""Twilio Media Streams wire format <-> Kefu call events (the only Twilio-aware module).

Relied on, from Twilio's "Media Streams - WebSocket Messages" reference
(https://www.twilio.com/docs/voice/media-streams/websocket-messages) and the field-by-field
list in Fonoster's Twilio-compatibility page (https://docs.fonoster.com/reference/twilio-compatibility):

* from the provider, JSON text frames with an ``event`` field:
  ``connected`` ({protocol: "Call", version}); ``start`` ({streamSid, start: {accountSid, callSid,
  streamSid, tracks, customParameters, mediaFormat: {encoding: "audio/x-mulaw", sampleRate: 8000,
  channels: 1}}}); ``media`` ({media: {track: "inbound", chunk, timestamp, payload: base64 μ-law}});
  ``dtmf`` ({dtmf: {track: "inbound_track", digit}}); ``mark`` ({mark: {name}}, echoed when the
  audio queued before it has played, or dropped by ``clear``); ``stop`` ({stop: {accountSid, callSid}}).
* to the provider (bidirectional ``<Connect><Stream>``): ``media`` ({streamSid, media: {payload}}),
  ``mark`` ({streamSid, mark: {name}}) and ``clear`` ({streamSid}) which drops buffered audio.

The caller's number is not part of ``start``; the operator's TwiML passes it as a
``<Parameter name="From" value="{{From}}">`` (read by :func:`bot.phone.caller_id`; ``callerId``,
``from`` and ``caller`` are accepted too) and it arrives in ``customParameters`` (also ``flow`` to pick a flow).
Anyone can open this WebSocket (the browser softphone does) and type any number, so a stream is the
carrier's only when Twilio signed its handshake (:mod:`bot.ivr.handshake`) or its ``customParameters``
carry ``kefuTrunkToken`` equal to Kefu's trunk token (``KEFU_IVR_TRUNK_TOKEN``): only then does the
caller ID prove who is calling.
An outbound contact's call (:mod:`bot.contacts.dialer`) carries its one-time attempt token as
``kefuContact``; only a call with the current token can answer for that contact.
``start.callSid`` is kept for the carrier's streams only: the voice bridge (:mod:`bot.ivr.bridge`)
redirects that call to an agent through the REST API, and any other stream could name a stranger's call.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from bot.ivr.errors import WireFormatError
from bot.ivr.events import AudioIn, CallStart, Hangup, Ignored, KeyPress, PlaybackMark
from bot.phone import caller_id
from bot.security.offered_secret import is_secret
from voice.pcm import MULAW_FRAME_BYTES, mulaw_decode, mulaw_encode

DTMF_KEYS = "0123456789*#"
ENCODING = "audio/x-mulaw"
RATE = 8000
MAX_MEDIA_BYTES = MULAW_FRAME_BYTES * 50  # one second; Twilio sends 20 ms frames
MAX_FRAME_CHARS = 64 * 1024
TRUNK_TOKEN_PARAMETER = "kefuTrunkToken"
CONTACT_PARAMETER = "kefuContact"  # an outbound contact's attempt token (bot/contacts/dialer.py)
# Twilio's ids are two letters and 32 hex digits. The stream id becomes Redis keys (``kefu:ivr:call:<id>``,
# whose siblings end ``:recording``, ``:started``) and the conversation id; the call id becomes a path in
# the REST API the voice bridge posts to. Anything but letters, digits, ``_`` and ``-`` is refused.
CARRIER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _object(message: dict, name: str) -> dict:
    """A frame's sub-object (``dtmf``, ``mark``, ...); anything but a JSON object is a bad frame, not a crash."""
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WireFormatError(f"`{name}` is not an object")
    return value


class TwilioSerializer:
    """One per call: remembers the stream id that every outbound message must carry."""

    def __init__(self, trunk_token: str = "", *, carrier_signed: bool = False) -> None:
        self.stream_sid: str | None = None
        self.trunk_token = trunk_token
        # Twilio signed this socket's handshake, or a trunk sent its token with it (bot/ivr/handshake.py)
        self.carrier_signed = carrier_signed
        self._media_sid: str | None = None
        self._media_prefix = ""
        self.captions = False  # Kefu's softphone asks for captions (customParameters.captions == "1")

    # -- inbound ------------------------------------------------------------------------
    def parse(self, raw) -> object:
        if isinstance(raw, (bytes, bytearray)):
            raise WireFormatError("binary frame: Media Streams frames are JSON text")
        if len(raw) > MAX_FRAME_CHARS:
            raise WireFormatError(f"frame of {len(raw)} characters is too big")
        try:
            message = json.loads(raw)
        except ValueError as exc:
            raise WireFormatError(f"frame is not JSON: {exc}") from None
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            raise WireFormatError("frame has no `event`")
        event = message["event"]
        handler = getattr(self, f"_on_{event}", None)
        if handler is None:
            raise WireFormatError(f"unknown event {event!r}")
        return handler(message)

    def _on_connected(self, message: dict) -> Ignored:
        return Ignored("connected")

    def _on_start(self, message: dict) -> CallStart:
        start = message.get("start")
        if not isinstance(start, dict):
            raise WireFormatError("start without a `start` object", fatal=True)
        media_format = start.get("mediaFormat") or {}
        if not isinstance(media_format, dict):
            raise WireFormatError("`mediaFormat` is not an object", fatal=True)
        encoding, rate = media_format.get("encoding"), media_format.get("sampleRate")
        channels = media_format.get("channels", 1)
        if encoding != ENCODING or rate != RATE or channels != 1:
            raise WireFormatError(f"unsupported media format {encoding}/{rate}/{channels}ch; "
                                  f"expected {ENCODING}/{RATE}/1ch", fatal=True)
        stream_sid = message.get("streamSid") or start.get("streamSid")
        if not isinstance(stream_sid, str) or not CARRIER_ID.fullmatch(stream_sid):
            raise WireFormatError("start without a valid streamSid", fatal=True)
        if self.stream_sid is not None:
            raise WireFormatError("a second start on the same stream")
        self.stream_sid = stream_sid
        params = start.get("customParameters") or {}
        params = params if isinstance(params, dict) else {}
        self.captions = str(params.get("captions") or "") == "1"
        caller = caller_id(params)
        call_sid = start.get("callSid")
        carriers = self.carrier_signed or self._trunk_proved(params.get(TRUNK_TOKEN_PARAMETER))
        kept_sid = carriers and isinstance(call_sid, str) and CARRIER_ID.fullmatch(call_sid)
        return CallStart(call_id=stream_sid, caller=caller,
                         called=str(params.get("to") or params.get("To") or "")[:32],
                         flow=str(params.get("flow") or "")[:64],
                         carrier_call_id=call_sid if kept_sid else "",
                         contact_token=str(params.get(CONTACT_PARAMETER) or "")[:64],
                         caller_verified=bool(caller) and carriers, vouched=carriers)

    def _trunk_proved(self, given: object) -> bool:
        return isinstance(given, str) and is_secret(given, self.trunk_token)

    def _require_start(self, event: str) -> None:
        if self.stream_sid is None:
            raise WireFormatError(f"{event} before start", fatal=True)

    def _on_media(self, message: dict) -> AudioIn | Ignored:
        self._require_start("media")
        media = message.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            raise WireFormatError("media without a payload")
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return Ignored("outbound track")
        try:
            ulaw = base64.b64decode(media["payload"], validate=True)
        except (binascii.Error, ValueError):
            raise WireFormatError("media payload is not base64") from None
        if not ulaw or len(ulaw) > MAX_MEDIA_BYTES:
            raise WireFormatError(f"media payload of {len(ulaw)} bytes")
        return AudioIn(mulaw_decode(ulaw))

    def _on_dtmf(self, message: dict) -> KeyPress:
        self._require_start("dtmf")
        digit = str(_object(message, "dtmf").get("digit", ""))
        if len(digit) != 1 or digit not in DTMF_KEYS:
            raise WireFormatError(f"dtmf digit {digit!r}")
        return KeyPress(digit)

    def _on_mark(self, message: dict) -> PlaybackMark:
        return PlaybackMark(str(_object(message, "mark").get("name", ""))[:128])

    def _on_stop(self, message: dict) -> Hangup:
        return Hangup("caller")

    # -- outbound -------------------------------------------------------------------------
    def media(self, pcm_frame: bytes) -> str:
        """One outbound frame of 8 kHz s16le audio as a ``media`` message."""
        return self.media_payload(base64.b64encode(mulaw_encode(pcm_frame)).decode("ascii"))

    def media_payload(self, payload: str) -> str:
        """One outbound frame already encoded (base64 μ-law), e.g. a frame of the hold audio.

        Base64 needs no JSON escaping, so the message is the stream's fixed prefix plus the payload
        (the same text ``json.dumps`` makes; bench/hold_audio.py)."""
        if self._media_sid != self.stream_sid:
            self._media_sid = self.stream_sid
            self._media_prefix = '{"event": "media", "streamSid": %s, "media": {"payload": "' % json.dumps(self.stream_sid)
        return self._media_prefix + payload + '"}}'

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def caption(self, text: str) -> str | None:
        """What Kefu is about to say, as text, for a caller that asked for captions (never sent to a carrier)."""
        if not self.captions or not text:
            return None
        return json.dumps({"event": "kefu_caption", "streamSid": self.stream_sid, "caption": {"text": text}},
                          ensure_ascii=False)

    def clear(self) -> str:
        return json.dumps({"event": "clear", "streamSid": self.stream_sid})
