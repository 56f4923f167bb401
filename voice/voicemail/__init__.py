"""Voice messages: store the audio, recognise it, classify it with Rasa, route it.

See :mod:`voice.voicemail.pipeline` for the contract (nothing decoded is ever dropped),
:mod:`voice.voicemail.policy` for the routing rules (``content/voicemail.yml``) and
:mod:`voice.voicemail.nlu` for the two ways of reaching the Rasa NLU.
"""
from voice.voicemail.nlu import LocalRasaNlu, NluParser, NluResult, RasaHttpNlu
from voice.voicemail.pipeline import VoicemailOutcome, VoicemailPipeline
from voice.voicemail.policy import (
    CALLBACK,
    NEEDS_HUMAN,
    SELFHELP_SENT,
    TICKET,
    Decision,
    Recognition,
    VoicemailPolicy,
    decide,
    load_policy,
)

__all__ = [
    "CALLBACK", "NEEDS_HUMAN", "SELFHELP_SENT", "TICKET", "Decision", "LocalRasaNlu", "NluParser",
    "NluResult", "RasaHttpNlu", "Recognition", "VoicemailOutcome", "VoicemailPipeline",
    "VoicemailPolicy", "decide", "load_policy",
]
