"""Checks on NLU examples: duplicates, conflicts across intents, intents with too few examples."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from bot.editor.problems import ERROR, WARNING, Problem
from bot.editor.yaml_lines import YamlFileError, item_line, line_of, load

ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")
# The entity an annotation names: "[E301](fault_code)" or '[E301]{"entity": "fault_code", ...}'.
ANNOTATED_ENTITY = re.compile(r'\]\(([^):]+)[^)]*\)|\]\{[^}]*"entity"\s*:\s*"([^"]+)"')
NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    file: Path
    line: int | None
    intent_line: int | None = None  # where its `- intent:` is

    @property
    def key(self) -> str:
        return example_key(self.text)


def example_key(text: str) -> str:
    """What makes two examples the same to the classifier: words, not spacing or punctuation."""
    plain = ANNOTATION.sub(lambda m: m.group(1) or m.group(2), text)
    return NOISE.sub("", plain).lower()


def read_examples(nlu_dir: Path) -> tuple[list[Example], list[Problem]]:
    examples: list[Example] = []
    problems: list[Problem] = []
    for path in sorted(nlu_dir.rglob("*.yml")):
        try:
            data = load(path)
        except YamlFileError as exc:
            problems.append(Problem(str(path), exc.line, exc.message))
            continue
        if data is not None and not isinstance(data, dict):
            from bot.editor.reference_checks import NOT_A_MAPPING

            problems.append(Problem(str(path), 1, NOT_A_MAPPING))
            continue
        for index, item in enumerate((data or {}).get("nlu") or []):
            if not hasattr(item, "get") or "intent" not in item:
                continue
            block = item.get("examples") or ""
            start = line_of(item, "examples") or item_line(data["nlu"], index) or 0
            for offset, raw in enumerate(str(block).splitlines(), start=1):
                text = raw.strip()
                if text.startswith("- "):
                    examples.append(Example(str(item["intent"]), text[2:].strip(), path, start + offset,
                                            item_line(data["nlu"], index)))
                elif text:  # Rasa skips it, with a warning naming the file only
                    problems.append(Problem(str(path), start + offset, f"'{text}' under intent '{item['intent']}' "
                                            "does not start with '- ': it is not an example, nothing learns it"))
    return examples, problems


def unknown_entities(examples: list[Example], entities: set[str]) -> list[Problem]:
    """An annotation naming no entity of the domain (a typo such as ``fault_cod``) trains an entity nobody reads."""
    problems = []
    for example in examples:
        for match in ANNOTATED_ENTITY.finditer(example.text):
            name = (match.group(1) or match.group(2)).strip()
            if name not in entities:
                problems.append(Problem(str(example.file), example.line,
                                        f"'{example.text}' marks an unknown entity '{name}' (the domain has: "
                                        f"{', '.join(sorted(entities))})"))
    return problems


def unknown_intents(examples: list[Example], intents: set[str]) -> list[Problem]:
    """Examples of an intent the domain does not list (a misspelt name): they train an intent no rule answers."""
    first: dict[str, Example] = {}
    for example in examples:
        if example.intent not in intents:
            first.setdefault(example.intent, example)
    return [Problem(str(e.file), e.intent_line or e.line, f"intent '{e.intent}' is not in the domain (domain/*.yml "
                    "`intents:`): its examples would teach the bot an intent nothing answers")
            for e in first.values()]


def duplicate_and_conflicting(examples: list[Example]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, Example] = {}
    for example in examples:
        if not example.key:
            continue
        first = seen.get(example.key)
        if first is None:
            seen[example.key] = example
        elif first.intent == example.intent:
            problems.append(Problem(str(example.file), example.line,
                                    f"duplicate example '{example.text}' (already at line {first.line} of {first.file.name})",
                                    WARNING))
        else:
            problems.append(Problem(str(example.file), example.line,
                                    f"example '{example.text}' of intent '{example.intent}' also appears as intent "
                                    f"'{first.intent}' ({first.file.name}:{first.line}); the bot cannot learn both"))
    return problems


def minimum_for(intent: str, minimums: dict[str, int]) -> int:
    for pattern, count in minimums.items():
        if pattern != "default" and fnmatch.fnmatch(intent, pattern):
            return count
    return minimums.get("default", 0)


def too_few(examples: list[Example], domain_intents: list[str], minimums: dict[str, int]) -> list[Problem]:
    counts: dict[str, int] = {}
    files: dict[str, Example] = {}
    for example in examples:
        counts[example.intent] = counts.get(example.intent, 0) + 1
        files.setdefault(example.intent, example)
    problems = []
    for intent in domain_intents:
        if intent == "nlu_fallback":
            continue
        need, have = minimum_for(intent, minimums), counts.get(intent, 0)
        if have < need:
            where = files.get(intent)
            problems.append(Problem(str(where.file) if where else "nlu_data", where.line if where else None,
                                    f"intent '{intent}' has {have} examples; at least {need} are needed", ERROR))
    return problems
