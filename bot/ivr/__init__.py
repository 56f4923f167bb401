"""The phone IVR: flows (editors' data in ``ivr_flows/``) walked by a per-call state machine.

Layers, after pipecat's split: :mod:`bot.channels.ivr` is the transport (a WebSocket),
:mod:`bot.ivr.twilio` the wire format (Twilio Media Streams frames <-> Kefu events),
:mod:`voice` the engines (ASR, TTS, VAD) behind small interfaces, and :mod:`bot.ivr.engine`
the logic, which sees only Kefu's events (:mod:`bot.ivr.events`). Call state lives in Redis.
"""
from bot.ivr.errors import CallStateError, FlowError, HandoffUnavailable, IvrError, WireFormatError

__all__ = ["CallStateError", "FlowError", "HandoffUnavailable", "IvrError", "WireFormatError"]
