"""Typed errors of the voice layer.

Messages are written for the operator reading a log or a terminal; callers that talk to a
customer map the type (and ``AudioError.reason``) to a sentence from the domain instead.
"""
from __future__ import annotations

from pathlib import Path

_MODEL_HINT = "run `kefu model download` or set VOSK_MODEL_PATH to a complete Vosk model folder"


class VoiceError(Exception):
    """Base of every error raised by :mod:`voice`."""


class AudioError(VoiceError):
    """Audio that cannot be used: empty, corrupt, unsupported, too long or too big.

    ``reason`` is one of ``empty``, ``corrupt``, ``unsupported``, ``too_long``, ``too_big`` so
    a channel can choose what to tell the customer without parsing the message.
    """

    def __init__(self, message: str, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


class ModelMissingError(VoiceError):
    """The Vosk model is not configured, incomplete or unreadable; the message is one line."""

    @classmethod
    def not_configured(cls) -> "ModelMissingError":
        return cls(f"no Vosk model configured (VOSK_MODEL_PATH is not set); {_MODEL_HINT}")

    @classmethod
    def missing_file(cls, path: Path) -> "ModelMissingError":
        return cls(f"Vosk model file missing: {path}; {_MODEL_HINT}")

    @classmethod
    def corrupt(cls, model_dir: Path) -> "ModelMissingError":
        return cls(f"Vosk model at {model_dir} is corrupt (vosk could not load it); {_MODEL_HINT}")


class TTSError(VoiceError):
    """Speech synthesis failed (engine error, timeout, unusable voice or empty output)."""


class NluError(VoiceError):
    """The Rasa NLU could not classify a transcript (model unloadable, server unreachable)."""


class VoicemailConfigError(VoiceError):
    """The voice-message routing file (``content/voicemail.yml``) is malformed."""
