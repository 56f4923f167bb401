"""A slot placeholder in a reply a story or rule says, where nothing before it there fills the slot: an error.

Rasa fills a reply said from a story or rule with the slots only, and an empty slot is written as ``None``
(``rasa.core.nlg.interpolator``): "{customer_name}，再见" said by the goodbye rule reads "None，再见" to every
customer nobody identified. Kefu's slots do not influence the conversation, so the reply is predicted
whether or not the slot holds a value. Refused, not warned about, because it is refused only where the files
and the code show nothing fills the slot before the reply (and the variant has no ``condition`` on it). An
earlier step fills it when it is a ``slot_was_set`` of it to a value (a rule's condition included; one to
``null`` empties it), a user step with an
entity a ``from_entity`` mapping fills it from (or any user step, for a slot mapped from the text or intent;
either only on the intents the mapping's ``intent``/``not_intent`` let it fill on),
a form that requests it, or a custom action that can set it (``bot.editor.action_slots``: read from the
code; an action whose ``SlotSet`` names its slot at run time may set any, and is named in a warning). After a
checkpoint, an ``or``, or an action the code does not define, the story may have filled anything. The fix is
the editor's either way: leave the placeholder out, or have the action that fills the slot say it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.editor.action_slots import ActionSlots, action_slots
from bot.editor.placeholder_checks import PLACEHOLDER, action_modules
from bot.editor.problems import WARNING, Problem
from bot.editor.reference_checks import DEFAULT_ACTIONS, fills_on
from bot.editor.reply_senders import PREFIX
from bot.editor.yaml_lines import YamlFileError, item_line, load

ANY = None  # the slots filled after a step that may fill any
EXTRACTS = "action_validate_slot_mappings"  # Rasa runs it after every user message when the code defines it


@dataclass
class Fillers:
    """What can fill which slot: the domain's mappings and forms, and the actions read from the code."""
    domain: object
    code: ActionSlots
    loose: dict[str, tuple[Path, int | None]] = field(default_factory=dict)  # action -> (file, line) of its first step


def unfilled_story_slots(settings, domain) -> list[Problem]:
    fillers = Fillers(domain, action_slots(action_modules(settings)))
    said = _said_unfilled(settings.root / "nlu_data", fillers)
    problems = []
    for path, line, name, text in domain.texts:
        for slot in dict.fromkeys(PLACEHOLDER.findall(text)):
            where = said.get((name, slot))
            if where is not None and slot not in domain.conditioned.get((path, line), ()):  # said only when it matches
                problems.append(Problem(path, line, f"{name}: {{{slot}}} would read \"None\" to a customer whose "
                                        f"{slot} is not known: {where} says this reply with nothing before it filling "
                                        f"that slot; leave {{{slot}}} out, or have the action that fills {slot} "
                                        "say it"))
    return problems + [
        Problem(str(path), line, f"{action}: which slots it fills is not known ({fillers.code.unknown[action]} names the slot it "
                f"sets at run time), so every slot counts as filled after it; a reply said after it that shows a "
                f"slot it does not fill would read \"None\"", WARNING)
        for action, (path, line) in fillers.loose.items()]


def _said_unfilled(folder: Path, fillers: Fillers) -> dict[tuple[str, str], str]:
    """(reply, slot) -> "file:line (rule 'name')" of the first story or rule step saying that reply with
    nothing before it filling that slot."""
    slots = fillers.domain.slots
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
                filled: set[str] | None = _filled_by(block.get("condition") or [], fillers, set(), None)
                steps = block.get("steps") or []
                for index, step in enumerate(steps):
                    at = (path, item_line(steps, index))
                    action = step.get("action") if hasattr(step, "get") else None
                    if filled is not None and isinstance(action, str) and action.startswith(PREFIX):
                        for slot in slots - filled:
                            found.setdefault((action, slot), f"{path.name}:{at[1]} ({kind} '{block.get(kind)}')")
                    filled = _filled_by([step], fillers, filled, at) if filled is not None else None
    return found


def _filled_by(steps, fillers: Fillers, filled: set[str], at: tuple | None) -> set[str] | None:
    """The slots known filled after ``steps``; None when any slot may be (a checkpoint, an ``or``, an action
    whose slots are not known, noted at ``at``: the step's file and line)."""
    filled = set(filled)
    domain = fillers.domain
    for step in steps:
        if not hasattr(step, "get") or "checkpoint" in step or "or" in step:
            return ANY  # not a step Kefu reads, or the story goes on from another: say nothing of what follows
        action = step.get("action")
        if isinstance(action, str) and not action.startswith(PREFIX):
            if (more := _action_fills(action, fillers, at)) is ANY:
                return ANY
            filled |= more
        if "active_loop" in step and step["active_loop"] is not None:
            if (more := _action_fills(str(step["active_loop"]), fillers, at)) is ANY:
                return ANY
            filled |= more
        for setting in step.get("slot_was_set") or []:
            if hasattr(setting, "items"):  # set to null: the story says it is empty there
                filled |= {str(slot) for slot, value in setting.items() if value is not None}
                filled -= {str(slot) for slot, value in setting.items() if value is None}
            elif isinstance(setting, str):
                filled.add(setting)
        if "intent" in step or "user" in step:
            named = step.get("intent")  # a text only: any intent; a retrieval intent's is its first part
            intent = named.split("/")[0] if isinstance(named, str) else None
            for entity in _entities(step.get("entities") or []):
                filled |= {slot for slot, intents in domain.entity_slots.get(entity, ()) if fills_on(intents, intent)}
            filled |= {slot for slot, intents in domain.message_slots if fills_on(intents, intent)}
            if EXTRACTS in fillers.code.fills:
                if (more := _action_fills(EXTRACTS, fillers, at)) is ANY:
                    return ANY
                filled |= more
    return filled


def _action_fills(action: str, fillers: Fillers, at: tuple | None) -> set[str] | None:
    """The slots an action or form can fill; None when not known (noted once per action read from the code)."""
    if action in fillers.domain.forms:  # a form asks for its slots (its validation action may set others)
        validation = f"validate_{action}"
        more = _action_fills(validation, fillers, at) if validation in fillers.code.fills else set()
        return None if more is None else set(fillers.domain.forms[action]) | more
    if action in fillers.code.fills:
        slots = fillers.code.fills[action]
        if slots is None and at is not None:
            fillers.loose.setdefault(action, at)
        return None if slots is None else set(slots)
    return set() if action in DEFAULT_ACTIONS and action != "..." else None


def _entities(entities) -> list[str]:
    """The entities of a user step: ``[phone_number]``, ``[{phone_number: "…"}]``, ``[{entity: …, value: …}]``."""
    names = []
    for entity in entities:
        if hasattr(entity, "get") and "entity" in entity:
            names.append(str(entity["entity"]))
        elif hasattr(entity, "keys"):
            names += [str(key) for key in entity.keys() if key not in ("role", "group", "value")]
        else:
            names.append(str(entity))
    return names
