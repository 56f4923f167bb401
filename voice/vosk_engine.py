"""Vosk (Kaldi) implementation of :mod:`voice.asr`, fully offline.

Relies on the vosk Python API as documented and shipped in vosk 0.3.45
(alphacep/vosk-api ``python/vosk/__init__.py`` and ``python/example/test_simple.py``):
``Model(path)`` raises a plain ``Exception`` when loading fails; ``KaldiRecognizer(model, rate)``
or ``KaldiRecognizer(model, rate, grammar_json)`` where the grammar is a JSON list of phrases that
may include ``"[unk]"``; ``SetWords(True)`` adds ``result: [{word, start, end, conf}]`` to
``Result()``/``FinalResult()``; ``AcceptWaveform(bytes)`` returns true at an endpoint, after which
``Result()`` holds the utterance, otherwise ``PartialResult()`` gives ``{"partial": ...}``.
The recogniser resamples when told the input rate, so 8 kHz phone audio is fed as is.

The folder layout is checked by :mod:`voice.model_layout` (Vosk's own rules), and grammar
phrases are put into the model's words by :mod:`voice.grammar` before Vosk sees them.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from voice.asr import AsrEngine, Partial, Recognizer, Result, Word, join_words
from voice.errors import ModelMissingError
from voice.grammar import Vocabulary, model_vocabulary
from voice.model_layout import validate_model_dir
from voice.pcm import check_rate

logger = logging.getLogger(__name__)

_models: dict[Path, object] = {}
_models_lock = threading.Lock()


def load_model(model_dir: Path | str | None):
    """The process-wide ``vosk.Model`` for ``model_dir``, loaded on first use (slow, ~1-2 s)."""
    model_dir = validate_model_dir(model_dir)
    with _models_lock:
        if model_dir not in _models:
            import vosk  # imported lazily: loading libvosk is not free

            vosk.SetLogLevel(-1)
            try:
                _models[model_dir] = vosk.Model(str(model_dir))
            except Exception as exc:  # vosk signals every load failure with a bare Exception
                raise ModelMissingError.corrupt(model_dir) from exc
        return _models[model_dir]


class VoskRecognizer(Recognizer):
    """One ``KaldiRecognizer``; collects the words of every utterance it closes."""

    def __init__(self, model, sample_rate: int, phrases: list[str] | None = None) -> None:
        import vosk

        self._words: list[Word] = []
        self._closed: list[str] = []
        self._last_partial = ""
        if phrases:
            grammar = json.dumps(list(phrases) + ["[unk]"], ensure_ascii=False)
            self._kaldi = vosk.KaldiRecognizer(model, sample_rate, grammar)
        else:
            self._kaldi = vosk.KaldiRecognizer(model, sample_rate)
        self._kaldi.SetWords(True)

    def accept(self, pcm: bytes) -> Partial | None:
        if self._kaldi.AcceptWaveform(pcm):
            utterance = self._absorb(self._kaldi.Result())
            self._last_partial = ""
            return Partial(utterance, endpoint=True)
        partial = json.loads(self._kaldi.PartialResult()).get("partial", "")
        partial = join_words(w for w in partial.split() if w != "[unk]")  # "[unk]" is not words heard
        if partial == self._last_partial:
            return None
        self._last_partial = partial
        return Partial(join_words(self._closed + [partial]))

    def final(self) -> Result:
        self._absorb(self._kaldi.FinalResult())
        return Result.from_words(self._words)

    def _absorb(self, result_json: str) -> str:
        result = json.loads(result_json)
        words = [Word(w["word"], float(w["start"]), float(w["end"]), float(w["conf"]))
                 for w in result.get("result", []) if w.get("word") and w["word"] != "[unk]"]
        self._words.extend(words)
        text = join_words(w.word for w in words)
        if text:
            self._closed.append(text)
        return text


class VoskEngine(AsrEngine):
    """ASR engine over one Vosk model folder; the model is loaded once per process, lazily."""

    def __init__(self, model_dir: Path | str | None) -> None:
        self.model_dir = validate_model_dir(model_dir)

    @classmethod
    def from_settings(cls, settings=None) -> "VoskEngine":
        if settings is None:
            from bot.settings import get_settings

            settings = get_settings()
        return cls(settings.vosk_model_path)

    def load(self) -> None:
        """Load the model now (e.g. at server start) instead of on the first stream."""
        load_model(self.model_dir)

    @property
    def vocabulary(self) -> Vocabulary | None:
        """The words this model can recognise (None when the model ships no words.txt)."""
        return model_vocabulary(self.model_dir)

    def grammar(self, phrases: list[str] | None) -> list[str] | None:
        """``phrases`` in the model's words; None (free speech) when none of them can be said."""
        vocabulary = self.vocabulary
        if not phrases or vocabulary is None:
            return list(phrases) if phrases else None
        usable, unknown = vocabulary.grammar(phrases)
        if unknown:
            logger.debug("voice.asr.grammar_unknown phrases=%s", ",".join(unknown))
        return usable or None

    def new_stream(self, sample_rate: int, phrases: list[str] | None = None) -> VoskRecognizer:
        return VoskRecognizer(load_model(self.model_dir), check_rate(sample_rate), self.grammar(phrases))
