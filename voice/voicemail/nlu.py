"""Classify a transcript with the project's Rasa NLU, over HTTP or in-process.

Both implementations return the same :class:`NluResult` and raise :class:`NluError` for
every failure, so the voice-message pipeline can flag the message for a person instead of
losing it.

- :class:`RasaHttpNlu` calls a running server's documented ``POST /model/parse`` (the
  server must run with ``--enable-api``, which ``bot/stack.py`` passes).
- :class:`LocalRasaNlu` loads the trained model with ``rasa.core.agent.Agent.load`` and calls
  ``await agent.parse_message(text)``. Rasa runs the inference graph synchronously inside that
  coroutine, so it would block the caller's event loop for the length of the TensorFlow call:
  the agent lives on one dedicated worker thread, which runs each parse in its own short-lived
  loop. One thread also keeps every TensorFlow call on the thread that loaded the model.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from voice.errors import NluError

logger = logging.getLogger(__name__)

_ENTITY_KEYS = ("entity", "value", "start", "end")


@dataclass(frozen=True)
class NluResult:
    """The top intent of a text, its confidence and the entities found (JSON-ready dicts)."""

    intent: str | None
    confidence: float
    entities: tuple[dict, ...] = field(default_factory=tuple)

    @classmethod
    def from_rasa(cls, parsed: dict) -> "NluResult":
        """From Rasa's parse result (``{"intent": {"name", "confidence"}, "entities": [...]}``)."""
        if not isinstance(parsed, dict):
            raise NluError(f"unexpected Rasa parse result: {type(parsed).__name__}")
        intent = parsed.get("intent") or {}
        entities = tuple(
            {key: entity[key] for key in _ENTITY_KEYS if key in entity}
            for entity in parsed.get("entities") or ()
            if isinstance(entity, dict) and "entity" in entity
        )
        return cls(intent=intent.get("name"), confidence=float(intent.get("confidence") or 0.0),
                   entities=entities)

    def entity(self, name: str) -> str | None:
        """The first value of entity ``name``, if any."""
        return next((str(e["value"]) for e in self.entities if e.get("entity") == name), None)


class NluParser(ABC):
    """Turns a customer's sentence into an intent and entities."""

    @abstractmethod
    async def parse(self, text: str) -> NluResult:
        """Classify ``text``; raises :class:`NluError` when no answer can be had."""


class RasaHttpNlu(NluParser):
    """A running Rasa server's ``POST /model/parse`` (needs ``--enable-api``)."""

    def __init__(self, rasa_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = f"{rasa_url.rstrip('/')}/model/parse"
        self.token = token
        self.timeout = timeout

    async def parse(self, text: str) -> NluResult:
        params = {"token": self.token} if self.token else None
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.post(self.url, json={"text": text}, params=params) as response:
                    if response.status != 200:
                        raise NluError(f"Rasa answered HTTP {response.status} at {self.url}")
                    parsed = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise NluError(f"cannot get a parse from Rasa at {self.url}: {exc or type(exc).__name__}") from exc
        return NluResult.from_rasa(parsed)


class LocalRasaNlu(NluParser):
    """The trained model loaded in this process (slow to load, ~10-20 s; then fast)."""

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = Path(model_path)
        self._agent = None
        self._load_lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-nlu")

    def load(self) -> None:
        """Blocking: load the model now (a no-op once loaded). Call it off the event loop."""
        with self._load_lock:
            if self._agent is not None:
                return
            if not self.model_path.is_file():
                raise NluError(f"Rasa model not found: {self.model_path}; run `kefu train`")
            from rasa.core.agent import Agent  # importing Rasa takes seconds: only when needed

            from bot import fast_model_load

            fast_model_load.install()
            try:
                agent = Agent.load(str(self.model_path))
            except Exception as exc:  # Rasa raises many unrelated types for a bad model file
                raise NluError(f"cannot load Rasa model {self.model_path}: {exc}") from exc
            if not agent.is_ready():
                raise NluError(f"Rasa model {self.model_path} loaded but is not ready")
            self._agent = agent
            logger.info("voice.nlu.loaded model=%s", self.model_path.name)

    async def parse(self, text: str) -> NluResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._parse_blocking, text)

    def close(self) -> None:
        self._worker.shutdown(wait=False)

    def _parse_blocking(self, text: str) -> NluResult:
        self.load()
        try:
            parsed = asyncio.run(self._agent.parse_message(text))
        except Exception as exc:  # an inference failure must flag the message, not lose it
            raise NluError(f"Rasa could not parse the text: {exc}") from exc
        return NluResult.from_rasa(parsed)
