"""The speech-recognition interface the channels and the IVR see; engines implement it.

A :class:`Recognizer` is one audio stream (one call leg, one voice message): cheap, stateful,
not shared between threads. An :class:`AsrEngine` holds the heavy model and makes recognisers.
Decoding is CPU-bound, so the async entry point runs it in an executor.
"""
from __future__ import annotations

import asyncio
import os
import re
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from voice.audio import decode_file
from voice.pcm import SAMPLE_WIDTH

ASR_RATE = 16000
_CHUNK_SECONDS = 0.25


_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


class Word(NamedTuple):
    """A recognised word with its times in seconds from the stream start and its confidence."""

    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class Partial:
    """Interim hypothesis; ``endpoint`` is True when the engine closed an utterance."""

    text: str
    endpoint: bool = False


@dataclass(frozen=True)
class Result:
    text: str
    confidence: float  # mean word confidence, 0.0 when nothing was recognised
    words: tuple[Word, ...] = field(default_factory=tuple)

    @classmethod
    def from_words(cls, words: list[Word] | tuple[Word, ...]) -> "Result":
        words = tuple(words)
        text = join_words(w.word for w in words)
        confidence = sum(w.conf for w in words) / len(words) if words else 0.0
        return cls(text=text, confidence=confidence, words=words)


def join_words(words) -> str:
    """Join words with spaces, except between Chinese characters (NLU expects plain Chinese)."""
    return _SPACE_BETWEEN_CJK.sub("", " ".join(w for w in words if w)).strip()


@lru_cache(maxsize=1)
def decode_executor() -> ThreadPoolExecutor:
    """The process's pool for CPU-bound decoding: one thread per core (vosk-server's pattern).

    Separate from the loop's default executor, so file and SQL work never queues behind
    decoding and decoding never runs more streams at once than there are cores to run them.
    """
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="kefu-asr")


class Recognizer(ABC):
    """Recognition of one audio stream of mono s16le PCM at the rate it was created for."""

    @abstractmethod
    def accept(self, pcm: bytes) -> Partial | None:
        """Feed audio; returns the current hypothesis, or None when there is nothing new to say."""

    @abstractmethod
    def final(self) -> Result:
        """Flush the stream and return everything recognised in it."""


class AsrEngine(ABC):
    """Owns a loaded model; creates one :class:`Recognizer` per stream."""

    @abstractmethod
    def new_stream(self, sample_rate: int, phrases: list[str] | None = None) -> Recognizer:
        """A recogniser for ``sample_rate`` audio; ``phrases`` restricts it to a grammar."""

    def transcribe_pcm(self, pcm: bytes, sample_rate: int, phrases: list[str] | None = None) -> Result:
        """Blocking: run a whole buffer through one stream (call it off the event loop)."""
        stream = self.new_stream(sample_rate, phrases)
        chunk = int(sample_rate * _CHUNK_SECONDS) * SAMPLE_WIDTH
        for offset in range(0, len(pcm), chunk):
            stream.accept(pcm[offset : offset + chunk])
        return stream.final()

    async def transcribe_file(self, path: str | Path, phrases: list[str] | None = None) -> Result:
        """Decode any supported audio file and recognise it, without blocking the event loop."""
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(None, lambda: decode_file(path, target_rate=ASR_RATE))
        return await loop.run_in_executor(
            decode_executor(), self.transcribe_pcm, pcm.samples, pcm.sample_rate, phrases)
