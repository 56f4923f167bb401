"""Text-to-speech behind a small async interface, with a pyttsx3/espeak-ng engine and a disk cache.

pyttsx3 is not thread-safe and espeak-ng can be initialised only once per process, so a single
worker thread owns the pyttsx3 engine for the whole process; requests reach it through a queue and
come back as futures. ``runAndWait()`` can return before the WAV is complete (shared README), so the
worker waits for the ``finished-utterance`` callback. espeak writes 22.05 kHz; callers get 8 kHz
(phone) or 16 kHz (web, ASR) WAV. Prompts repeat, so results are cached on disk by content key;
replies spoken to callers are cached too, so ``kefu run`` deletes entries
``KEFU_TTS_CACHE_EXPIRY_SECONDS`` after they were written (:mod:`voice.tts_cache`).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import queue
import tempfile
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.observability.metrics import TTS_REQUESTS
from bot.security.private_files import private_dir, write_private_file
from voice.audio import AudioLimits, decode_file
from voice.errors import AudioError, TTSError
from voice.pcm import Pcm, check_rate, read_wav, rms_dbfs
from voice.resample import resample_pcm
from voice.speakable import speakable

_SYNTH_TIMEOUT = 30.0
_SYNTH_LIMITS = AudioLimits(max_bytes=100 * 1024 * 1024, max_seconds=600.0)


class TtsEngine(ABC):
    @abstractmethod
    async def synthesize(self, text: str, sample_rate: int = 8000) -> bytes:
        """Speak ``text``; returns a mono 16-bit WAV at ``sample_rate`` (8000 or 16000)."""

    async def warm(self) -> None:
        """Get ready to speak (load voices, start workers) so the first request is not slowed by it."""


@dataclass(frozen=True)
class _Job:
    text: str
    voice: str
    rate: int
    target: Path
    done: Future


class _SpeechWorker:
    """The one thread allowed to touch pyttsx3; started on the first request."""

    def __init__(self, timeout: float = _SYNTH_TIMEOUT) -> None:
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._timeout = timeout
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._ready = threading.Event()  # the engine is made (or failed): requests are served at once
        self._finished = threading.Event()
        self._completed = False
        self._errors: list[BaseException] = []
        self._voices: set[str] | None = None

    def start(self) -> threading.Event:
        """Start the thread (espeak-ng is initialised there); the event is set once it is ready."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kefu-tts", daemon=True)
                self._thread.start()
        return self._ready

    def submit(self, text: str, voice: str, rate: int, target: Path) -> Future:
        self.start()
        job = _Job(text, voice, rate, target, Future())
        self._jobs.put(job)
        return job.done

    def _run(self) -> None:
        try:
            engine = self._create_engine()
        except Exception as exc:  # no espeak-ng, broken driver: fail every request clearly
            failure = TTSError(f"cannot start the pyttsx3/espeak-ng engine: {exc}")
            self._ready.set()
            while True:
                self._jobs.get().done.set_exception(failure)
        self._ready.set()
        while True:
            job = self._jobs.get()
            if job.done.set_running_or_notify_cancel():
                try:
                    self._speak(engine, job)
                    job.done.set_result(job.target)
                except Exception as exc:
                    job.done.set_exception(exc if isinstance(exc, TTSError) else TTSError(str(exc)))

    def _create_engine(self):
        import pyttsx3

        engine = pyttsx3.init("espeak")
        engine.connect("finished-utterance", self._on_finished)
        engine.connect("error", self._on_error)
        # A fresh engine queues commands until its first loop has run; one empty run makes
        # later property changes apply immediately, before the next utterance starts. The
        # driver's own start-up settings must be applied first, or that run marks the driver
        # as "stopping" and it cancels the first real utterance (see _speak).
        self._espeak_idle()
        engine.runAndWait()
        return engine

    @staticmethod
    def _espeak_idle() -> None:
        from pyttsx3.drivers import _espeak  # pyttsx3 2.99's ctypes binding of libespeak-ng

        _espeak.Synchronize()

    def _check_voice(self, engine, voice: str) -> None:
        """Fail clearly on an unknown voice; espeak would silently keep the previous one."""
        if self._voices is None:
            self._voices = {name.casefold() for v in engine.getProperty("voices") for name in (v.id, v.name)}
        if voice.casefold() not in self._voices:
            raise TTSError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")

    def _on_finished(self, name=None, completed=True) -> None:
        self._completed = completed
        self._finished.set()

    def _on_error(self, name=None, exception=None) -> None:
        self._errors.append(exception or RuntimeError("unknown pyttsx3 error"))
        self._finished.set()

    def _speak(self, engine, job: _Job) -> None:
        self._check_voice(engine, job.voice)
        self._finished.clear()
        self._errors.clear()
        engine.setProperty("voice", job.voice)
        engine.setProperty("rate", job.rate)
        # In retrieval mode espeak-ng applies parameters on its own thread and reports "playing"
        # meanwhile; runAndWait() would then cancel the utterance it is about to start (and it
        # cuts the tail of the previous one the same way). Wait until espeak is idle first.
        self._espeak_idle()
        if self._errors:
            raise TTSError(f"espeak-ng rejected voice {job.voice!r} / rate {job.rate}: {self._errors[0]}")
        # pyttsx3's espeak driver print()s a line per saved file; keep it out of CLI output.
        with contextlib.redirect_stdout(io.StringIO()):
            engine.save_to_file(job.text, str(job.target))
            engine.runAndWait()
            finished = self._finished.wait(self._timeout)
        self._espeak_idle()
        if not finished:
            raise TTSError(f"speech synthesis did not finish within {self._timeout:g} s")
        if self._errors:
            raise TTSError(f"speech synthesis failed: {self._errors[0]}")
        if not self._completed or not job.target.is_file():
            raise TTSError("speech synthesis was interrupted before the file was written")


@lru_cache(maxsize=1)
def _speech_worker() -> _SpeechWorker:
    return _SpeechWorker()


class Pyttsx3Engine(TtsEngine):
    """espeak-ng through pyttsx3; many instances may exist, they share the one worker thread."""

    def __init__(self, voice: str, rate: int, cache_dir: Path | str) -> None:
        self.voice = voice
        self.rate = rate
        self.cache_dir = Path(cache_dir)
        self.cache_hits = 0
        self.cache_misses = 0

    @classmethod
    def from_settings(cls, settings=None) -> "Pyttsx3Engine":
        if settings is None:
            from bot.settings import get_settings

            settings = get_settings()
        return cls(settings.tts_voice, settings.tts_rate, settings.tts_cache_dir)

    async def warm(self) -> None:
        """Start the shared espeak-ng worker now (~2 s on a loaded 2-core machine) rather than on the
        first uncached prompt."""
        ready = _speech_worker().start()
        await asyncio.get_running_loop().run_in_executor(None, ready.wait, _SYNTH_TIMEOUT)

    def cache_path(self, text: str, sample_rate: int) -> Path:
        key = "\x00".join((text, self.voice, str(self.rate), str(sample_rate)))
        return self.cache_dir / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}.wav"

    async def synthesize(self, text: str, sample_rate: int = 8000) -> bytes:
        check_rate(sample_rate)
        text = speakable(text.strip())
        if not text:
            raise TTSError("nothing to synthesise: text is empty")
        loop = asyncio.get_running_loop()
        cached_at = self.cache_path(text, sample_rate)
        cached = await loop.run_in_executor(None, _read_if_exists, cached_at)
        if cached is not None:
            self.cache_hits += 1
            TTS_REQUESTS.labels("hit").inc()
            return cached
        self.cache_misses += 1
        TTS_REQUESTS.labels("miss").inc()
        raw = await loop.run_in_executor(None, _work_file, self.cache_dir)
        job = _speech_worker().submit(text, self.voice, self.rate, raw)
        try:
            # Shielded: a caller who gives up (a hung-up call) must not pull the file out from
            # under espeak mid-write — that breaks the shared engine for every later request.
            await asyncio.shield(asyncio.wrap_future(job))
            return await loop.run_in_executor(None, _convert_and_store, raw, sample_rate, cached_at)
        finally:
            job.cancel()  # only succeeds if the worker has not started on it
            job.add_done_callback(lambda _: raw.unlink(missing_ok=True))


def _work_file(cache_dir: Path) -> Path:
    """An owner-only file in the cache folder for espeak's 22.05 kHz output, before it is resampled.

    It holds the reply as spoken (a customer's balance, a bill), so it lives where the cache's expiry
    pass (:mod:`voice.tts_cache`) deletes it if the process dies before it is removed: not in the
    system temp folder, where nothing would. Dot-named, so it is never taken for a cache entry.
    """
    fd, name = tempfile.mkstemp(dir=private_dir(cache_dir), prefix=".speech-", suffix=".wav")
    os.close(fd)
    return Path(name)


def _read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _convert_and_store(raw: Path, sample_rate: int, cached_at: Path) -> bytes:
    """Resample espeak's 22.05 kHz output and write it to the cache atomically.

    espeak writes mono 16-bit WAV, resampled in process (:mod:`voice.resample`); any other
    layout goes through the general decoder (ffmpeg).
    """
    try:
        try:
            written = read_wav(raw)
            pcm = Pcm(resample_pcm(written.samples, written.sample_rate, sample_rate), sample_rate)
        except AudioError:
            pcm = decode_file(raw, "wav", target_rate=sample_rate, limits=_SYNTH_LIMITS)
    except AudioError as exc:
        raise TTSError(f"speech synthesis produced unusable audio: {exc}") from exc
    if rms_dbfs(pcm.samples) == float("-inf"):
        raise TTSError("speech synthesis produced only silence")
    wav = pcm.to_wav()
    write_private_file(cached_at, wav)  # spoken replies can name a customer's bill or ticket
    return wav


@lru_cache(maxsize=1)
def default_engine() -> Pyttsx3Engine:
    """The process's TTS engine, configured from settings."""
    return Pyttsx3Engine.from_settings()
