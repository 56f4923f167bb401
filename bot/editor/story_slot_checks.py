"""A slot placeholder in a reply a story or rule says, where nothing before it there fills the slot: an error.

Rasa fills a reply said from a story or rule with the slots only, and an empty slot is written as ``None``
(``rasa.core.nlg.interpolator``): "{customer_name}，再见" said by the goodbye rule reads "None，再见" to every
customer nobody identified. Kefu's slots do not influence the conversation, so the reply is predicted
whether or not the slot holds a value. Refused, not warned about, because it is refused only where the files
themselves show nothing fills the slot before the reply (and the variant has no ``condition`` on it): no earlier step of that story or rule is an action
or a form (which may set it: `kefu validate` does not read which slots an action sets), a ``slot_was_set`` of it
(a rule's condition included), an entity of its name, or a checkpoint (the story goes on from another). The
fix is the editor's either way: leave the placeholder out, or have the action that fills the slot say it.
"""
from __future__ import annotations

from pathlib import Path

from bot.editor.placeholder_checks import PLACEHOLDER
from bot.editor.problems import Problem
from bot.editor.reply_senders import PREFIX
from bot.editor.yaml_lines import YamlFileError, item_line, load


def unfilled_story_slots(settings, domain) -> list[Problem]:
    said = _said_unfilled(settings.root / "nlu_data", domain.slots)
    problems = []
    for path, line, name, text in domain.texts:
        for slot in dict.fromkeys(PLACEHOLDER.findall(text)):
            where = said.get((name, slot))
            if where is not None and slot not in domain.conditioned.get((path, line), ()):  # said only when it matches
                problems.append(Problem(path, line, f"{name}: {{{slot}}} would read \"None\" to a customer whose "
                                        f"{slot} is not known: {where} says this reply with nothing before it filling "
                                        f"that slot; leave {{{slot}}} out, or have the action that fills {slot} say it"))
    return problems


def _said_unfilled(folder: Path, slots: set[str]) -> dict[tuple[str, str], str]:
    """(reply, slot) -> "file:line (rule 'name')" of the first story or rule step saying that reply with
    nothing before it filling that slot."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("*.yml")):
        try:
            data = load(path)
        except YamlFileError:
            continue  # named by the checks that read these files
        for section, kind in (("rules", "rule"), ("stories", "story")):
            for block in (data.get(section) if isinstance(data, dict) else None) or []:
                if not hasattr(block, "get"):
                    continue
                filled: set[str] | None = _filled_by(block.get("condition") or [], slots, set())
                steps = block.get("steps") or []
                for index, step in enumerate(steps):
                    action = step.get("action") if hasattr(step, "get") else None
                    if filled is not None and isinstance(action, str) and action.startswith(PREFIX):
                        for slot in slots - filled:
                            found.setdefault((action, slot), f"{path.name}:{item_line(steps, index)} "
                                                             f"({kind} '{block.get(kind)}')")
                    filled = _filled_by([step], slots, filled) if filled is not None else None
    return found


def _filled_by(steps, slots: set[str], filled: set[str]) -> set[str] | None:
    """The slots known filled after ``steps``; None when any slot may be (an action, a form, a checkpoint)."""
    filled = set(filled)
    for step in steps:
        if not hasattr(step, "get"):
            return None  # not a step Kefu reads: say nothing of what follows
        action = step.get("action")
        if (isinstance(action, str) and not action.startswith(PREFIX)) or "active_loop" in step or "checkpoint" in step:
            return None
        for setting in step.get("slot_was_set") or []:
            if hasattr(setting, "items"):
                filled |= {str(slot) for slot, value in setting.items() if value is not None}
            elif isinstance(setting, str):
                filled.add(setting)
        for entity in step.get("entities") or []:
            filled |= {str(e) for e in (entity.keys() if hasattr(entity, "keys") else [entity])}
        if "or" in step:
            return None
    return filled
