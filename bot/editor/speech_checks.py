"""`kefu validate`: menu phrases the configured Vosk model cannot recognise.

A spoken menu only hears phrases made of the model's own words (:mod:`voice.grammar`); a phrase
with a word outside ``graph/words.txt`` is silently dropped from the grammar, so a caller who
says it is never understood. Each such phrase is a warning at its own line in the flow file.
Without a configured model there is nothing to check against.
"""
from __future__ import annotations

from pathlib import Path

from bot.editor.problems import WARNING, Problem
from bot.editor.yaml_lines import YamlFileError, item_line, line_of, load
from voice.errors import ModelMissingError


def unrecognisable_phrases(settings, domain=None) -> list[Problem]:
    if settings.vosk_model_path is None:
        return []
    from voice.grammar import model_vocabulary
    from voice.model_layout import validate_model_dir

    try:
        vocabulary = model_vocabulary(validate_model_dir(settings.vosk_model_path))
    except ModelMissingError as exc:
        return [Problem(str(settings.vosk_model_path), None, f"menu phrases not checked: {exc}", WARNING)]
    if vocabulary is None:
        return []
    problems = []
    for path in sorted(settings.ivr_flows_dir.glob("*.yml")):
        for node_id, phrase, line in _menu_phrases(path):
            if vocabulary.segment(phrase) is None:
                problems.append(Problem(str(path), line, f"node '{node_id}': phrase '{phrase}' has words the "
                                        f"speech model does not know; callers saying it will not be understood",
                                        WARNING))
    return problems


def _menu_phrases(path: Path):
    """(node id, phrase, 1-based line) of every option phrase in a flow file."""
    try:
        nodes = (load(path) or {}).get("nodes") or {}
    except (YamlFileError, AttributeError):
        return  # the flow checks report unreadable files
    for node_id, node in nodes.items():
        for option in (node or {}).get("options") or [] if hasattr(node, "get") else []:
            phrases = option.get("phrases") or [] if hasattr(option, "get") else []
            for index, phrase in enumerate(phrases):
                yield node_id, str(phrase), item_line(phrases, index) or line_of(option, "phrases")
