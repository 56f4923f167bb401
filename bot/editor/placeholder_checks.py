"""A reply's ``{placeholder}`` must be something Kefu fills: a slot, or a value its sender passes by name.

Rasa sends a reply whose placeholder it cannot fill as written, so a typo (``{customer_nmae}``) reaches
customers as braces (found by a tester: validate let it through), as does a value another reply is
given (``{phone_masked}`` in the arrears reply, which ``actions/accounts.py`` sends with
``amount_owed`` only). Each reply's senders, and the values each passes, are read from the code
(``bot.editor.reply_senders``: the project's ``actions/``, Kefu's own ``bot/`` and ``voice/``) and the
stories and rules; where they cannot be told, any keyword argument or string dictionary key some code
passes counts, so no reply that is filled is refused.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import json
import re
from contextvars import ContextVar
from pathlib import Path

import yaml

from bot.editor.problems import Problem
from bot.editor.reply_helpers import code_helpers
from bot.editor.reply_reads import lookups
from bot.editor.reply_senders import Sender, module_sends, parsed, senders_of
from bot.editor.yaml_lines import YamlFileError, item_line, load
from bot.yaml_load import safe_load

PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")  # the pattern of Rasa's own interpolation (rasa.core.nlg.interpolator)
KEFU = Path(__file__).resolve().parents[2]  # where the bot and voice packages are installed
EDITOR = Path(__file__).resolve().parent


def names_code_passes(settings) -> frozenset[str]:
    names: set[str] = set()
    kefu = _kefu_modules(*(_stamp(KEFU / folder, own_words=True) for folder in ("bot", "voice")))
    for _, source in action_modules(settings) + kefu:
        names |= names_in(source)
    return frozenset(names)


@functools.lru_cache(maxsize=4096)
def names_in(source: str) -> frozenset[str]:
    """Keyword arguments and string dictionary keys of one module. Cached by its text: parsing every
    module of ``bot/`` and ``voice/`` took 1.5 s, for each project validated in a process (the editor
    tests validate dozens of copies whose modules are the same text)."""
    names: set[str] = set()
    for node in ast.walk(parsed(source)):
        if isinstance(node, ast.Call):
            names.update(k.arg for k in node.keywords if k.arg)
        elif isinstance(node, ast.Dict):
            names.update(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return frozenset(names)


def unfilled_placeholders(settings, domain) -> list[Problem]:
    from bot.contacts.rules import wide_placeholder

    anywhere = domain.slots | names_code_passes(settings)
    senders = reply_senders(settings, domain)
    kept = kept_by_name(settings)
    problems = []
    for path, line, name, text in domain.texts:
        for placeholder in dict.fromkeys(PLACEHOLDER.findall(text)):
            if senders.get(name) is None and name in kept:
                if placeholder not in domain.slots:
                    problems.append(Problem(path, line, f"{name}: nothing fills {{{placeholder}}}: {kept[name]} keeps "
                                                        "this reply by name and what says it later cannot be read, so "
                                                        "only a slot is known to fill it; customers would see it as "
                                                        "written"))
                elif placeholder not in domain.conditioned.get((path, line), ()):  # said only when the slot matches
                    problems.append(Problem(path, line, f"{name}: {{{placeholder}}} would read \"None\" to a customer "
                                                        f"whose {placeholder} is empty: {kept[name]} keeps this reply "
                                                        "by name and says it later, whatever the conversation filled "
                                                        f"by then; leave {{{placeholder}}} out, or put it in a variant "
                                                        f"with a condition on {placeholder} (said only when it matches)"))
                continue
            if senders.get(name) is None:
                if placeholder not in anywhere:
                    problems.append(Problem(path, line, f"{name}: nothing fills {{{placeholder}}}; customers would see "
                                                        "it as written (a slot's name, or a value the code passes)"))
                continue
            short = next((s for s in senders[name] if placeholder not in s.names
                          and not (s.fills_slots and placeholder in domain.slots)), None)
            if short is not None:
                given = ", ".join(sorted(short.names)) or "nothing"
                problems.append(Problem(path, line, f"{name}: nothing fills {{{placeholder}}} where {short.where} "
                                        f"sends it (it gives {given}{' and the slots' if short.fills_slots else ''}); "
                                        "customers would see the reply as written"))
    return problems + [
        Problem(path, line, f"{name}: {wide.group(0)} is written with full-width braces, which Rasa does not fill: "
                            f"customers would see it as written; write {{{wide.group(1)}}}")
        for path, line, name, text in domain.texts if (wide := wide_placeholder(text)) is not None]


def kept_by_name(settings) -> dict[str, str]:
    """Replies the code keeps by name (a constant, a collection, a mapping's values: ``handback.SAID``), with
    where. One whose senders cannot be read (kept in Redis and read back, chosen from a mapping by conditions)
    is said by Kefu's own ways of saying one, each through Rasa's NLG: the slots fill it, nothing else is known
    to (every name some code passes let a placeholder nothing passes there through). Nor is any slot known to be
    set then (the hand-back clears some as it says ``handback.SAID``'s), and Rasa writes an empty one as "None":
    a slot counts only in a variant whose ``condition`` names it."""
    modules = code_modules(settings)
    helpers, lookup = code_helpers(modules), lookups(tuple(source for _, source in modules))
    kept: dict[str, str] = {}
    for label, source in modules:
        for name, where in module_sends(source, label, helpers, lookup).held:
            kept.setdefault(name, where)
    return kept


def reply_senders(settings, domain) -> dict[str, list[Sender] | None]:
    """Who sends each reply with which values (``bot.editor.reply_senders``): the project's actions,
    Kefu's own code, and the stories and rules (which say a reply with the slots only)."""
    modules = code_modules(settings)
    elsewhere = "\n".join(_naming_text(path, settings)
                          for folder in (settings.content_dir, settings.ivr_flows_dir) if folder.is_dir()
                          for path in sorted(folder.rglob("*")) if path.suffix in (".yml", ".yaml", ".json"))
    return senders_of(modules, sorted(domain.responses), elsewhere, story_senders(settings.root / "nlu_data"),
                      code_helpers(modules))


def _naming_text(path: Path, settings) -> str:
    """The values of a content file, where a reply named there may be sent under a name read from it. Its
    comments name nothing the code reads (handoff.yml's comment on the waiting buttons "in utter_queued"
    left that reply checked only loosely); nor does the hotline's ``speech.number_prompts``: the phone only
    compares what was said with it."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        return text
    try:
        values = safe_load(text)
    except yaml.YAMLError:
        return text  # named by the syntax check; every reply named in it counts
    speech = values.get("speech") if isinstance(values, dict) else None
    if path.resolve() == settings.ivr_config_path.resolve() and isinstance(speech, dict):
        speech.pop("number_prompts", None)
    return json.dumps(values, ensure_ascii=False, default=str)


def code_modules(settings) -> list[tuple[str, str]]:
    """(label, text) of each module that may send a reply: the project's actions, Kefu's bot and voice."""
    return list(action_modules(settings)) + list(_kefu_modules(*(_stamp(KEFU / folder) for folder in ("bot", "voice"))))


# The project's actions as one validation read them (:func:`one_reading`): root -> (label, text) of each module.
_READ: ContextVar[dict | None] = ContextVar("kefu_validate_actions", default=None)


@contextlib.contextmanager
def one_reading():
    """Within it, the project's ``actions/`` are read from disk once, for every check that reads them (five
    did, each reading every module again). Not kept past it: an editor's next validation reads their change."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def action_modules(settings) -> tuple[tuple[str, str], ...]:
    """(label, text) of each module of the project's ``actions/``."""
    read = _READ.get()
    if read is not None and settings.root in read:
        return read[settings.root]
    modules = tuple((_label(path, settings.root), path.read_text(encoding="utf-8"))
                    for path in sorted((settings.root / "actions").rglob("*.py")))
    if read is not None:
        read[settings.root] = modules
    return modules


def _stamp(folder: Path, own_words: bool = False) -> tuple:
    """Each module of Kefu's own ``folder`` with its size and modification time: what it holds is read again
    only when one changed (read twice per validation, it was a tenth of a validation's time). ``own_words``:
    this check's own modules too (the names any code passes count theirs)."""
    return tuple((path, (stat := path.stat()).st_size, stat.st_mtime_ns) for path in sorted(folder.rglob("*.py"))
                 if own_words or EDITOR not in path.parents)


@functools.lru_cache(maxsize=4)
def _kefu_modules(*stamps: tuple) -> tuple[tuple[str, str], ...]:
    return tuple((_label(path, KEFU), path.read_text(encoding="utf-8")) for stamp in stamps for path, _, _ in stamp)


def reply_name_problems(settings, domain) -> list[Problem]:
    """Both ways a reply's name and the code part: the code sends one the domain lacks, and (a warning)
    the domain has one nothing sends (``bot.editor.unsent_replies``). The code is read once for both."""
    from bot.editor.unsent_replies import unsent_replies

    modules = code_modules(settings)
    helpers, lookup = code_helpers(modules), lookups(tuple(source for _, source in modules))
    return (missing_replies(settings, domain, modules, helpers, lookup)
            + unsent_replies(settings, domain, modules, helpers, lookup))


def missing_replies(settings, domain, modules, helpers, lookup) -> list[Problem]:
    """A reply Kefu's own code sends by name that the domain lacks (renamed or deleted): Rasa's NLG gives
    nothing for it, so the customer is told nothing there (a request timed out in the queue, an agent
    joining, a WeChat picture). The project's actions are checked by ``check_responses_used_by_code``,
    but for a name a call builds (``recorded(…, "utter_new_install_recorded")``: ``…_registered_phone``). A name
    the code keeps whole (a constant, a collection's, a dictionary's value: ``handback.SAID``) must be there too,
    the project's actions' included: who says it later is not read, but something does or looks for it."""
    problems = []
    for label, source in modules:
        sends = module_sends(source, label, helpers, lookup)
        told: set[str] = set()
        for sender in sends.senders:
            if label.startswith("actions/") and not sender.through:  # but a name the call builds
                continue
            if any(re.fullmatch(sender.pattern, name) for name in domain.responses):
                continue
            name = sender.pattern.replace("\\", "") if ".+" not in sender.pattern else sender.pattern.replace(".+", "…")
            told.add(name)
            problems.append(Problem(str(settings.root / "domain"), None,
                                    f"reply '{name}' is not in the domain, and {sender.where} sends it"
                                    f"{f' (through {sender.through})' if sender.through else ''}: customers "
                                    "would be told nothing there; put it back (or its new name in the code)"))
        for name, where in sends.held:  # kept by name (SAID, CHASED, TRANSFERRED): said or looked for later
            if name not in domain.responses and name not in told:
                told.add(name)
                problems.append(Problem(str(settings.root / "domain"), None,
                                        f"reply '{name}' is not in the domain, and {where} names it for the code to "
                                        "say or look for: customers would be told nothing there, or the code would "
                                        "never find it said; put it back (or its new name in the code)"))
    return problems


def story_senders(folder: Path) -> dict[str, list[Sender]]:
    """Replies the stories and rules say (Rasa fills in the slots only)."""
    said: dict[str, list[Sender]] = {}
    for path in sorted(folder.glob("*.yml")):
        try:
            data = load(path)
        except YamlFileError:
            continue  # named by the checks that read these files
        for section in ("rules", "stories"):
            for block in (data.get(section) if isinstance(data, dict) else None) or []:
                steps = block.get("steps") if hasattr(block, "get") else None
                for index, step in enumerate(steps or []):
                    action = step.get("action") if hasattr(step, "get") else None
                    if isinstance(action, str) and action.startswith("utter_"):
                        said.setdefault(action, []).append(
                            Sender(re.escape(action), f"{path.name}:{item_line(steps, index)}", frozenset(), True))
    return said


def _label(path: Path, root: Path) -> str:
    for base in (root, KEFU):
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)
