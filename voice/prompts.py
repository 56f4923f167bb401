"""Audio for a named prompt: a recorded file when an editor provided one, TTS otherwise.

Editors drop ``<prompt_id>.wav`` into ``settings.prompts_dir`` to replace the synthetic voice
for that prompt without touching code; any WAV layout and length (up to 10 minutes) is accepted and
converted to the rate the caller needs. A recording that cannot be used (cut short, not a WAV) is
logged and the prompt's text is spoken instead: the caller never gets silence in its place.
"""
from __future__ import annotations

import asyncio
import logging
import re
from functools import lru_cache
from pathlib import Path

from voice.audio import AudioLimits, decode_file
from voice.errors import AudioError
from voice.pcm import check_rate
from voice.tts import TtsEngine, default_engine

logger = logging.getLogger(__name__)

# An editor's file, not an upload: the uploads' 10 MB / 120 s limits refused a one-minute CD-quality announcement.
_RECORDING_LIMITS = AudioLimits(max_bytes=200 * 1024 * 1024, max_seconds=600.0)
_PROMPT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class PromptPlayer:
    """Resolves prompt ids to WAV bytes; recorded conversions are memoised per file version."""

    def __init__(self, tts: TtsEngine, prompts_dir: Path | str) -> None:
        self.tts = tts
        self.prompts_dir = Path(prompts_dir)
        self._recorded: dict[tuple[Path, int, int, int], bytes] = {}

    @classmethod
    def from_settings(cls, settings=None, tts: TtsEngine | None = None) -> "PromptPlayer":
        if settings is None:
            from bot.settings import get_settings

            settings = get_settings()
        return cls(tts or default_engine(), settings.prompts_dir)

    def recorded_path(self, prompt_id: str) -> Path | None:
        """The editor's recording for ``prompt_id``, if there is one."""
        if not _PROMPT_ID.fullmatch(prompt_id) or ".." in prompt_id:
            raise ValueError(f"invalid prompt id {prompt_id!r}")
        path = self.prompts_dir / f"{prompt_id}.wav"
        return path if path.is_file() else None

    async def audio(self, prompt_id: str, text: str, sample_rate: int = 8000) -> bytes:
        """WAV bytes at ``sample_rate`` for the prompt; ``text`` is spoken only without a recording."""
        check_rate(sample_rate)
        loop = asyncio.get_running_loop()
        recorded = await loop.run_in_executor(None, self.recorded_path, prompt_id)
        if recorded is not None:
            try:
                return await loop.run_in_executor(None, self._convert, recorded, sample_rate)
            except AudioError as exc:
                logger.error("voice.prompt.recording_unusable prompt=%s path=%s error=%s", prompt_id, recorded, exc)
        return await self.tts.synthesize(text, sample_rate)

    def _convert(self, path: Path, sample_rate: int) -> bytes:
        version = path.stat()
        key = (path, version.st_mtime_ns, version.st_size, sample_rate)
        if key not in self._recorded:
            self._recorded[key] = decode_file(path, "wav", target_rate=sample_rate,
                                                 limits=_RECORDING_LIMITS).to_wav()
        return self._recorded[key]


@lru_cache(maxsize=1)
def default_player() -> PromptPlayer:
    return PromptPlayer.from_settings()


async def prompt_audio(prompt_id: str, text: str, sample_rate: int = 8000,
                       player: PromptPlayer | None = None) -> bytes:
    """Audio for one prompt with the process's default player (or the one given)."""
    return await (player or default_player()).audio(prompt_id, text, sample_rate)
