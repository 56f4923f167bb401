"""Runtime grammars in the model's own words.

A Vosk grammar is a JSON list of phrases whose *space-separated* words must each be in the
model's ``graph/words.txt``; Vosk drops a phrase with an unknown word without a sound. Editors
write Chinese without spaces ("语音留言"), which to Vosk is one unknown word. So every phrase is
segmented into the loaded model's words first: the segmentation with the fewest words (so the
longest words the model knows win), e.g. ``上不了网`` stays one word where the model has it and
``报停`` becomes ``报 停`` where it only knows the characters. A phrase with a character the
model has never seen cannot be recognised at all; :meth:`Vocabulary.segment` says so with None.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Kaldi's own symbols, never words a caller says.
_SPECIAL = {"<eps>", "!SIL", "<s>", "</s>", "[unk]", "<unk>", "#0"}


@dataclass(frozen=True)
class Vocabulary:
    """The words a model can output, read once per model from ``graph/words.txt``."""

    words: frozenset[str]
    longest: int

    @classmethod
    def from_words(cls, words) -> "Vocabulary":
        known = frozenset(w for w in words if w and w not in _SPECIAL and not w.startswith("#"))
        return cls(known, max((len(w) for w in known), default=0))

    def segment(self, phrase: str) -> str | None:
        """``phrase`` as space-separated model words, or None when some part is unknown.

        Already spaced text is segmented piece by piece, so "转 人工" and "转人工" both work.
        """
        pieces = []
        for chunk in phrase.split():
            words = self._fewest_words(chunk)
            if words is None:
                return None
            pieces.extend(words)
        return " ".join(pieces) or None

    def grammar(self, phrases) -> tuple[list[str], list[str]]:
        """(segmented phrases for Vosk, phrases the model cannot recognise), order kept."""
        usable, unknown = [], []
        for phrase in phrases:
            segmented = self.segment(phrase)
            if segmented is None:
                unknown.append(phrase)
            elif segmented not in usable:
                usable.append(segmented)
        return usable, unknown

    def _fewest_words(self, text: str) -> list[str] | None:
        # best[i]: fewest-word segmentation of text[i:]; ties go to the longer first word.
        best: list[list[str] | None] = [None] * len(text) + [[]]
        for start in range(len(text) - 1, -1, -1):
            for end in range(min(len(text), start + self.longest), start, -1):
                rest = best[end]
                if rest is not None and text[start:end] in self.words:
                    if best[start] is None or len(rest) + 1 < len(best[start]):
                        best[start] = [text[start:end], *rest]
        return best[0]


def read_vocabulary(words_file: Path) -> Vocabulary:
    """Kaldi's ``words.txt`` is ``<word> <id>`` per line."""
    with open(words_file, encoding="utf-8") as lines:
        return Vocabulary.from_words(line.split()[0] for line in lines if line.strip())


@lru_cache(maxsize=8)
def model_vocabulary(model_dir: Path) -> Vocabulary | None:
    """The vocabulary of a validated model folder; None when it ships no ``words.txt``."""
    from voice.model_layout import words_path

    path = words_path(model_dir)
    return read_vocabulary(path) if path else None
