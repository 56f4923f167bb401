"""Kefu's own call events and commands: what the flow engine consumes and produces.

The serializer turns a provider's frames into :class:`CallStart`, :class:`AudioIn`,
:class:`KeyPress`, :class:`Hangup` and :class:`PlaybackMark`; the call's audio pipeline turns
audio into :class:`SpeechStarted`, :class:`Utterance` and :class:`Recording`; the session adds
:class:`NoInput`. The engine answers with commands (:class:`Say`, :class:`Beep`,
:class:`Listen`, :class:`StartRecording`, :class:`AgentOnLine`, :class:`EndCall`). Nothing here
knows Twilio.
"""
from __future__ import annotations

from dataclasses import dataclass, field


# -- from the transport (via a serializer) ----------------------------------------------
@dataclass(frozen=True)
class CallStart:
    call_id: str
    caller: str
    called: str = ""
    flow: str = ""  # requested by the telephony side; "" = the hotline's default
    caller_verified: bool = False  # the trunk proved itself, so its caller ID proves the caller
    vouched: bool = False  # the carrier's own stream (signed handshake or trunk token), caller ID or not
    sample_rate: int = 8000
    encoding: str = "mulaw"
    carrier_call_id: str = ""  # the telephony side's own id of the call (Twilio's callSid)
    contact_token: str = ""  # an outbound contact's attempt token (bot.contacts.dialer), "" for inbound calls
    speech_recognised: bool = True  # the line has a recogniser: set by the session, not the transport


@dataclass(frozen=True)
class AudioIn:
    pcm: bytes  # mono s16le at the call's rate, one provider frame


@dataclass(frozen=True)
class KeyPress:
    digit: str
    at: float = 0.0  # wall-clock seconds when the session received it; 0 = unknown (no typed-ahead guard)


@dataclass(frozen=True)
class PlaybackMark:
    name: str


@dataclass(frozen=True)
class Hangup:
    reason: str = "caller"


@dataclass(frozen=True)
class Ignored:
    """A frame the serializer understood and that needs nothing (``connected``, other tracks)."""

    what: str = ""


# -- from the call's audio pipeline and timers ----------------------------------------
@dataclass(frozen=True)
class SpeechStarted:
    at: float


@dataclass(frozen=True)
class Utterance:
    text: str
    confidence: float = 0.0
    seconds: float = 0.0
    ended_at: float = 0.0  # when the caller stopped talking (monotonic), for latency
    timing: object = field(default=None, compare=False, repr=False)  # bot.ivr.turn_timing.TurnTiming
    recognisable: bool = True  # False: this line has no recogniser (no Vosk model), so words never come
    audio: bytes = field(default=b"", compare=False, repr=False)  # the turn's PCM when no words came of it
    sample_rate: int = 8000


@dataclass(frozen=True)
class Recording:
    pcm: bytes
    sample_rate: int
    finished_by: str  # "silence" | "key" | "max_length" | "hangup"
    heard_speech: bool = True


@dataclass(frozen=True)
class LineMessage:
    """A message for the caller from outside the call (an agent, the waiting room), via Redis."""

    message: dict


@dataclass(frozen=True)
class HandedBack:
    """The agent closed, or the caller left the queue: the assistant takes the call again."""

    why: str = "agent_closed"


@dataclass(frozen=True)
class NoInput:
    partial_digits: bool = False  # the inter-digit timer ran out, not the first-input one
    at: float = 0.0  # wall-clock seconds when the timer ran out; 0 = unknown


# -- engine commands ------------------------------------------------------------------
@dataclass(frozen=True)
class Say:
    text: str
    prompt_id: str = ""  # an editor's recording replaces the text when present
    barge_in: bool = True
    label: str = ""  # becomes the mark name after the audio
    hold_notice: bool = False  # told the caller waiting for an agent: not played once an agent has the call
    # An announcement to a waiting caller ("queue": place and wait, "reminder": the hold keys): kept
    # ``Listen.announcement_gap_s`` after the previous one, and a newer one of the same kind replaces it.
    paced: str = ""


@dataclass(frozen=True)
class Beep:
    label: str = "beep"


@dataclass(frozen=True)
class Listen:
    """What input the current node waits for, and for how long after the prompts end."""

    node: str
    speech: bool = True
    keys: bool = True
    phrases: tuple[str, ...] = ()  # restricts the recogniser; empty = free speech
    timeout_s: float = 6.0
    inter_digit_timeout_s: float = 0.0  # > 0 while collecting a number
    hold_audio: str = ""  # a WAV looped between prompts while the caller waits for an agent
    announcement_gap_s: float = 0.0  # > 0 while waiting for an agent: least hold time between announcements


@dataclass(frozen=True)
class StartRecording:
    max_seconds: float
    end_silence_s: float
    finish_key: str


@dataclass(frozen=True)
class Hold:
    """Nothing more to ask; keep the line open (queued for an agent)."""


@dataclass(frozen=True)
class AgentOnLine:
    """An agent has the call: hold notices still queued (place in line, reminder) are not played."""


@dataclass(frozen=True)
class EndCall:
    reason: str = "flow"


@dataclass
class Step:
    """The engine's answer to one event."""

    commands: list = field(default_factory=list)
