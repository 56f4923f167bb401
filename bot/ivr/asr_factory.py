"""The phone's ASR engine, chosen by name in settings (``KEFU_IVR_ASR_ENGINE="module:Class"``).

Loaded once per process. Without a usable engine (no Vosk model on this machine) the phone
line still works: keys drive every menu and speech is treated as unclear.
"""
from __future__ import annotations

import asyncio
import importlib
import logging

from voice.asr import AsrEngine
from voice.errors import VoiceError

logger = logging.getLogger(__name__)


async def load_asr_engine(spec: str, settings) -> AsrEngine | None:
    module_name, _, class_name = spec.partition(":")
    try:
        engine_class = getattr(importlib.import_module(module_name), class_name)
        factory = getattr(engine_class, "from_settings", None)
        engine = factory(settings) if factory else engine_class()
        if hasattr(engine, "load"):
            await asyncio.get_running_loop().run_in_executor(None, engine.load)
    except (ImportError, AttributeError, ValueError, VoiceError) as exc:
        logger.error("ivr.asr.unavailable engine=%s error=%s", spec, exc)
        return None
    except Exception:  # a custom engine's own error while loading: the line still answers, on keys
        logger.exception("ivr.asr.unavailable engine=%s", spec)
        return None
    logger.info("ivr.asr.loaded engine=%s", spec)
    return engine
