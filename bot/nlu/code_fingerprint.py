"""Our components' code in Rasa's training-cache key, so a retrain never restores a stale output.

Rasa restores a component's trained output from its cache (``.rasa/cache``) when the component's
class source, config and inputs are unchanged. Much of our components' code lives outside their
classes (the encoders, the cut of long texts), and a change there made Kefu train a new model file
(``bot/training.py`` hashes this folder) that Rasa could fill with the old outputs. With this mixin
a component's cache key also holds the hash of this folder's code.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from bot.training import COMPONENTS, content_hash


@lru_cache(maxsize=1)
def components_code() -> str:
    """Hash of the pipeline components' Python files (this folder), as the model name uses it."""
    return content_hash(COMPONENTS, inputs=(), components=COMPONENTS)


class CodeFingerprinted:
    """Mixin for a graph component: put it before ``GraphComponent`` among the bases."""

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        return components_code()
