"""Kefu's checks on IVR flows for `kefu validate`: schema, reachability, menus, references.

The flow loader already rejects malformed flows (naming file, node and field); these checks
add what only the whole project can tell: nodes no caller can reach, menu phrases used
twice, and references to skills, responses, intents or recordings that do not exist.
"""
from __future__ import annotations

import functools
import re
from collections import deque
from pathlib import Path
from typing import Callable

import yaml

from bot.editor.problems import ERROR, WARNING, Problem
from bot.editor.yaml_lines import YamlFileError, item_line, line_of, load
from bot.handoff.estimate import QUEUE_NOTICES
from bot.ivr.errors import FlowError
from bot.ivr.flow import ALL_SELFHELP, REPEAT_KEY, Flow, Node
from bot.ivr.flow_loader import load_flow_file, queue_waits
from bot.ivr.flow_variables import COUNT, COUNTED_FIELDS, on_entry, variables_at
from bot.outbound.sms import too_long_for_sms
from bot.yaml_load import safe_load


def node_lines(path: Path) -> Callable[[str], int | None]:
    """The line of a node of a flow file, for a problem to point at. The file is read keeping line
    numbers once, when a first line is asked for. Read again for every node (a slow round-trip
    parse), it made Kefu's own checks in `kefu validate` take 4.6 s instead of 0.9."""

    @functools.cache
    def nodes() -> tuple[dict, int | None]:
        try:
            return (load(path) or {}).get("nodes") or {}, None
        except YamlFileError as exc:
            return {}, exc.line

    def line(node_id: str, field: str = "") -> int | None:
        """The node's line, or its field's (``options[4].digits``) when the file has that field."""
        found, error_line = nodes()
        if error_line is not None:
            return error_line
        if node_id not in found:
            return None
        here, at = found[node_id], line_of(found, node_id)
        for part in re.findall(r"\[(\d+)\]|([^.\[\]]+)", field):
            index, key = part
            if index and isinstance(here, list) and int(index) < len(here):
                here, at = here[int(index)], item_line(here, int(index))
            elif key and isinstance(here, dict) and key in here:
                here, at = here[key], line_of(here, key)
            else:
                break
        return at

    return line


def reachable(flow: Flow) -> set[str]:
    """Nodes reachable from the start, or by a key pressed while waiting for an agent (``hold.keys``)."""
    roots = [flow.start] + [target for _, target in flow.hold.keys if target in flow.nodes]
    seen, todo = set(roots), deque(roots)
    while todo:
        for _, target in flow.nodes[todo.popleft()].targets():
            if target in flow.nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def menu_problems(path: Path, flow: Flow, node_line: Callable[[str], int | None]) -> list[Problem]:
    """A phrase shared by two options (the loader already refuses shared keys); a menu without the repeat key."""
    problems = []
    for node in flow.nodes.values():
        if node.kind == "menu" and not repeats_on_key(node):
            problems.append(Problem(str(path), node_line(node.id), f"node '{node.id}': key {REPEAT_KEY} does not repeat "
                                    f"this menu; give it an option with digits \"{REPEAT_KEY}\" and target '{node.id}', "
                                    "and say so in `say` (docs/editing.md 3a)", WARNING))
        owners: dict[str, int] = {}
        for index, option in enumerate(node.options, start=1):
            for phrase in option.phrases:
                if phrase in owners:
                    problems.append(Problem(str(path), node_line(node.id),
                                            f"node '{node.id}', option {index}: phrase '{phrase}' is already used by option {owners[phrase]}"))
                owners.setdefault(phrase, index)
    return problems


# What the engine sets for a flow's texts (bot/ivr/engine.py, bot/ivr/conditions.py), with a value of
# its kind, besides each collect_digits node's ``store_as`` (the digits keyed, text): the wait and place
# in the queue, a ticket and a callback booked, and in a number's invalid_say / too_short_say how many
# digits were keyed.
ENGINE_VARIABLES: dict[str, object] = {"wait_minutes": 3, "position": 2, "ticket_id": "T1", "callback_by": "18:00",
                                       "count": 7}
SPOKEN_FIELDS = ("say", "say_keys_only", "invalid_say", "too_short_say", "intro", "confirm_say", "saved_say",
                 "text", "tried_say", "value")


def variable_problems(path: Path, flow: Flow, node_line: Callable[[str, str], int | None]) -> list[Problem]:
    """A text naming a variable the flow never sets is said with nothing in its place ("预计等待约分钟"),
    as is one naming a variable no path to its node sets first ({position} before any transfer:
    ``bot.ivr.flow_variables``); one that does not fill ({position:d}), or written with full-width braces
    (｛position｝), is said as written, braces and name read out to the caller (bot.ivr.matching.fill)."""
    values = {**{n.store_as: "1" for n in flow.nodes.values() if n.kind == "collect_digits"}, **ENGINE_VARIABLES}
    arrived = variables_at(flow)
    problems, seen = [], set()
    for node in flow.nodes.values():
        texts = [(field, getattr(node, field)) for field in SPOKEN_FIELDS]
        if node.retry is not None:
            texts += [("no_input_say", node.retry.no_input_say), ("no_match_say", node.retry.no_match_say)]
        here = on_entry(node, arrived[node.id]) if node.id in arrived else frozenset(values)  # unreachable: named so
        for field, text in texts:
            if not text or (field == "intro" and text.startswith("/")):
                continue  # an intro "/intent{...}" is a payload
            names = here | {COUNT} if field in COUNTED_FIELDS else here - {COUNT}
            why = _unfilled(text, {name: value for name, value in values.items() if name in names}, values)
            if why and (field, text, why) not in seen:  # a default's text is named once
                seen.add((field, text, why))
                problems.append(Problem(str(path), node_line(node.id, field) or node_line(node.id),
                                        f"node '{node.id}': {field} {why}"))
    waiting = {name: value for name, value in values.items() if name != COUNT}
    for field in ("reminder", "long_wait_say"):
        text = getattr(flow.hold, field)
        if text and (why := _unfilled(text, waiting, values)):
            hold = (load(path) or {}).get("hold")
            problems.append(Problem(str(path), line_of(hold, field) if isinstance(hold, dict) else None,
                                    f"hold.{field} {why}"))
    return problems


def _unfilled(text: str, values: dict[str, object], anywhere: dict[str, object]) -> str | None:
    """Why ``text`` cannot be said whole with ``values`` (the call's variables where it is said;
    ``anywhere``: every variable the flow sets somewhere)."""
    from string import Formatter

    from bot.contacts.rules import wide_placeholder

    named = ", ".join("{" + name + "}" for name in sorted(values)) or "none"
    if (wide := wide_placeholder(text)) is not None:
        return f"writes {wide.group(0)} with full-width braces: callers would hear it read out; write {{{wide.group(1)}}}"
    try:
        unknown = sorted({name for _, name, _, _ in Formatter().parse(text) if name is not None} - set(values))
        if not unknown:
            text.format_map(values)
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        return f"cannot be filled in ({exc}): callers would hear it as written, braces and all; it may name {named}"
    if not unknown:
        return None
    # Every name, not just the first: an editor who fixes the one named would still leave a gap.
    count = [COUNT] if COUNT in unknown and COUNT in anywhere else []
    later = [name for name in unknown if name in anywhere and name not in count]
    never = [name for name in unknown if name not in anywhere]
    reasons = []
    if count:
        reasons.append(f"names {{{COUNT}}}, which only a number's invalid_say and too_short_say are given (how many "
                       "digits were keyed)")
    if later:
        reasons.append(f"names {_braced(later)}, which the call has not set yet when it reaches this node")
    if never:
        reasons.append(f"names {_braced(never)}, which the call never has")
    place = "here it may name" if count or later else "it may name"
    their = "its" if len(unknown) == 1 else "their"
    return f"{'; '.join(reasons)}: callers would hear nothing in {their} place; {place} {named}"


def _braced(names: list[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def repeats_on_key(node: Node) -> bool:
    """Whether the repeat key plays the menu again: a caller who missed a choice hears it once more
    (an accessibility audit found outbound calls where 9 was opt-out and nothing repeated)."""
    return any(o.digits == REPEAT_KEY and o.target == node.id and o.when.empty for o in node.options)


def reference_problems(path: Path, flow: Flow, settings, domain, node_line: Callable[[str], int | None]) -> list[Problem]:
    skills = set((safe_load((settings.content_dir / "handoff.yml").read_text(encoding="utf-8")) or {}).get("skills") or {})
    problems = []
    for node in flow.nodes.values():
        found: list[tuple[str, str]] = []
        if node.kind in ("transfer", "callback") and node.skill not in skills:
            found.append((f"node '{node.id}': skill '{node.skill}' is not a skill group in content/handoff.yml", ERROR))
        if node.intro.startswith("/") and node.intro[1:].split("{")[0] not in domain.intents:
            found.append((f"node '{node.id}': intro '{node.intro}' names an unknown intent", ERROR))
        named = [e for e in node.selfhelp if e != ALL_SELFHELP]
        known = selfhelp_ids(settings) if named else None
        unknown = [e for e in named if known is not None and e not in known]
        if unknown:
            found.append((f"node '{node.id}': selfhelp '{unknown[0]}' is not an entry of content/selfhelp.yml", ERROR))
        if node.kind == "notify" and (why := too_long_for_sms(node.text)):
            found.append((f"node '{node.id}': text: {why}", ERROR))
        if node.prompt and not (settings.prompts_dir / f"{node.prompt}.wav").exists():
            found.append((f"node '{node.id}': recording prompts/{node.prompt}.wav does not exist; the text will be spoken",
                          WARNING))
        problems += [Problem(str(path), node_line(node.id), message, severity) for message, severity in found]
    return problems


def unproven_number_problems(path: Path, flow: Flow, node_line: Callable[[str], int | None]) -> list[Problem]:
    """A notify or callback node with neither ``ask_number`` nor ``on_failure``: anyone can open the media
    stream and choose this flow, and a caller whose number nobody vouched for is sent no text or booked
    nothing there, told so (``prompts.unverified_not_sent`` / ``unverified_no_callback``), and sent on to
    ``next`` — where the flow says it was done (care.yml said 我们已为您预约人工回电 to them)."""
    done = {"notify": ("sent no text", "sent", "the number to text"),
            "callback": ("booked no callback", "booked", "the number to call")}
    return [Problem(str(path), node_line(node.id),
                    f"node '{node.id}': a caller whose number nobody vouched for (the softphone's, or any stream "
                    f"choosing this flow) is {done[node.kind][0]} here and goes on to '{node.next}' as if "
                    f"{done[node.kind][1]}; give it `ask_number` (they key {done[node.kind][2]}) or `on_failure` "
                    "(where they go instead)")
            for node in flow.nodes.values() if node.kind in done and not node.ask_number and not node.on_failure]


def refused_callback_problems(path: Path, flow: Flow, node_line: Callable[[str], int | None]) -> list[Problem]:
    """A callback node with ``ask_number`` but no ``on_failure``: when the database refuses the ticket nothing
    is booked, and its ``next`` says it was (已为您预约回电, with no time or ticket number). The engine ends such
    a call after ``prompts.callback_failed`` and ``technical_problem``; ``on_failure`` is where it should go."""
    return [Problem(str(path), node_line(node.id),
                    f"node '{node.id}': a callback the database cannot write (nothing booked) has nowhere to go but "
                    f"'{node.next}', which says it was booked; give it `on_failure` (where the caller goes instead, "
                    "such as a voice message), or the call ends after prompts.callback_failed")
            for node in flow.nodes.values() if node.kind == "callback" and node.ask_number and not node.on_failure]


def hold_line(path: Path, field: str) -> int | None:
    """The line of a field of the flow's ``hold`` (``hold.long_wait_over_s``), for a loader error to point at."""
    if not field.startswith("hold."):
        return None
    try:
        hold = (load(path) or {}).get("hold")
    except YamlFileError:
        return None
    return line_of(hold, field.split(".")[1]) if isinstance(hold, dict) else None


def repeated_wait_problems(path: Path, flow: Flow) -> list[Problem]:
    """``hold.long_wait_over_s`` written as the same seconds as the flow's one ``queue_wait_over_s`` (the peak
    offer's): left out, the hold reads that one (bot.ivr.flow_loader), so an editor changing the busy time there
    changes both; written twice, the two drift apart (main.yml had 180 in each)."""
    hold = flow.raw.get("hold") if isinstance(flow.raw, dict) else None
    waits = queue_waits(flow.nodes)
    if not isinstance(hold, dict) or "long_wait_over_s" not in hold or len(set(waits.values())) != 1:
        return []
    where, wait = next(iter(waits.items()))
    if flow.hold.long_wait_over_s != wait:
        return []  # a wait of its own, on purpose
    return [Problem(str(path), hold_line(path, "hold.long_wait_over_s"),
                    f"hold.long_wait_over_s repeats the {wait:g} s of node {where}'s `queue_wait_over_s`: leave it "
                    "out and the hold reads that one, so changing the busy time there changes both", WARNING)]


def hold_keys_told_problems(path: Path, flow: Flow, node_line: Callable) -> list[Problem]:
    """A ``transfer`` node's ``say`` (the caller is queued as they hear it, and the hold keys work from then) that
    names some of ``hold.keys`` and not the others: the caller learns of only those. Found in review: main.yml's
    transfer_general and wait_without_estimate named 1 and 2, and 3 (the self-help guide by SMS, which the reminder
    names) was left out."""
    problems = []
    for node in flow.nodes.values():
        if node.kind == "transfer" and (missing := hold_keys_left_out(flow, node.say or "")):
            problems.append(Problem(str(path), node_line(node.id, "say"),
                                    f"node '{node.id}' says which keys work while waiting but not {missing}", WARNING))
    return problems


def queue_notice_keys_problems(path: Path, flow: Flow, domain) -> list[Problem]:
    """The same of the waiting room's notices (``QUEUE_NOTICES``), which a queued caller hears on hold: found in
    review, the phone's "目前没有人工客服在线" named 1, 2 and * and not 3. Named at the variant's line."""
    return [Problem(where, line, f"{name}: says which keys work while waiting but not {missing} ({path.name})", WARNING)
            for where, line, name, text in domain.texts
            if name in QUEUE_NOTICES and (missing := hold_keys_left_out(flow, text))]


def hold_keys_left_out(flow: Flow, said: str) -> str:
    """What ``said`` leaves out of ``hold.keys`` when it names some of them ("" when it names all or none)."""
    keys = {key for key, _ in flow.hold.keys if key.isdigit()}
    named = set(re.findall(r"按([0-9])", said))
    if not named & keys or not keys - named:
        return ""
    left_out = sorted(keys - named)
    return (f"{'、'.join(left_out)} (hold.keys: {', '.join(dict(flow.hold.keys)[k] for k in left_out)}): "
            "name every hold key, as hold.reminder does, or none")


def selfhelp_ids(settings) -> set[str] | None:
    """The catalogue's entry ids; None when it cannot be read (the catalogue's own check says why)."""
    try:
        raw = safe_load(settings.selfhelp_catalogue.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    entries = raw.get("entries") if isinstance(raw, dict) else None
    return {str(e.get("id")) for e in entries or [] if isinstance(e, dict)}


def flow_problems(settings, domain) -> list[Problem]:
    problems: list[Problem] = []
    for path in sorted(settings.ivr_flows_dir.glob("*.yml")):
        node_line = node_lines(path)
        try:  # a node or key written twice: the flow loader keeps the last one without a word
            load(path)
        except YamlFileError as exc:
            problems.append(Problem(str(path), exc.line, exc.message))
            continue
        try:
            flow = load_flow_file(path)
        except FlowError as exc:
            line = node_line(exc.node, exc.field) if exc.node else hold_line(path, exc.field) or exc.line
            problems.append(Problem(str(path), line, str(exc)))
            continue
        for node_id in sorted(set(flow.nodes) - reachable(flow)):
            problems.append(Problem(str(path), node_line(node_id),
                                    f"node '{node_id}' cannot be reached from the start node '{flow.start}'"))
        problems += menu_problems(path, flow, node_line)
        problems += reference_problems(path, flow, settings, domain, node_line)
        problems += unproven_number_problems(path, flow, node_line)
        problems += refused_callback_problems(path, flow, node_line)
        problems += variable_problems(path, flow, node_line)
        problems += repeated_wait_problems(path, flow)
        problems += hold_keys_told_problems(path, flow, node_line)
        problems += queue_notice_keys_problems(path, flow, domain)
    return (problems + hold_audio_problems(settings) + number_prompt_problems(settings, domain)
            + link_text_problems(settings) + said_as_written_problems(settings))


FILLED_PROMPTS = ("link_line", "link_message")  # the text message of links (HotlineConfig.link_text)


def said_as_written_problems(settings) -> list[Problem]:
    """The hotline's other prompts (``content/ivr.yml`` ``prompts``: sent_to_phone, stopped_waiting...)
    are said as written, nothing filled in: a placeholder there ("已为您取消排队（第{position}位）") was
    read out to the caller, braces and name."""
    prompts = (load(settings.ivr_config_path) or {}).get("prompts") if settings.ivr_config_path.exists() else None
    if not isinstance(prompts, dict):
        return []  # the hotline's own check names it
    return [Problem(str(settings.ivr_config_path), line_of(prompts, name),
                    f"prompts.{name} names {{{found.group(1)}}}, but it is said as written: callers would hear the "
                    "braces and the name; nothing is filled in the hotline's prompts")
            for name, text in prompts.items() if name not in FILLED_PROMPTS
            and (found := re.search(r"\{(\w*)\}", str(text))) is not None]


def link_text_problems(settings) -> list[Problem]:
    """The text carrying a self-help entry's links to a caller's phone (``link_message``, a ``link_line``
    per link), measured for each catalogue entry with the links the assistant's answer gives: its page,
    and its video (counted before it is rendered too)."""
    from actions.selfhelp import selfhelp_message
    from bot.ivr.bot_turns import spoken_replies
    from bot.ivr.config import load_hotline_config
    from bot.ivr.errors import HotlineConfigError
    from bot.selfhelp import CatalogueError, parse_catalogue_file, public

    try:
        hotline = load_hotline_config(settings.ivr_config_path)
        entries = parse_catalogue_file(settings.selfhelp_catalogue).entries.values()
    except (HotlineConfigError, CatalogueError, OSError):
        return []  # reported by the hotline's and the catalogue's own checks
    prompts = (load(settings.ivr_config_path) or {}).get("prompts")
    line = line_of(prompts, "link_message") if isinstance(prompts, dict) and "link_message" in prompts else None
    problems = []
    for entry in entries:
        message = selfhelp_message(entry)
        message.setdefault("attachment", {"type": "video", "payload": {"title": entry.title, "src": public(entry.video_url)}})
        links = spoken_replies([message], hotline.button_template, hotline.max_buttons_read).links
        if why := too_long_for_sms(hotline.link_text(links)):
            problems.append(Problem(str(settings.ivr_config_path), line,
                                    f"prompts.link_message with the links of entry '{entry.id}': {why}"))
    return problems


def hold_audio_problems(settings) -> list[Problem]:
    """The hold audio ``content/ivr.yml`` names must exist, or waiting callers hear silence."""
    from bot.ivr.config import load_hotline_config
    from bot.ivr.errors import HotlineConfigError

    try:
        audio = load_hotline_config(settings.ivr_config_path).hold_audio
    except HotlineConfigError as exc:
        return [Problem(str(settings.ivr_config_path), None, str(exc))]
    if audio and not Path(audio).is_file():
        return [Problem(str(settings.ivr_config_path), None,
                        f"hold.audio {audio} does not exist; callers waiting for an agent will hear silence", WARNING)]
    return []


def number_prompt_problems(settings, domain) -> list[Problem]:
    """``speech.number_prompts`` and ``speech.goodbye_replies`` must name responses: a misspelt one leaves its 0
    to the agent key, or a caller who said goodbye waiting for the assistant."""
    from bot.ivr.config import load_hotline_config
    from bot.ivr.errors import HotlineConfigError

    try:
        config = load_hotline_config(settings.ivr_config_path)
    except HotlineConfigError:
        return []  # hold_audio_problems reports the file
    speech = (load(settings.ivr_config_path) or {}).get("speech") or {}
    problems = []
    for setting, names in (("number_prompts", config.number_prompts), ("goodbye_replies", config.goodbye_replies)):
        listed = speech.get(setting) or []
        problems += [Problem(str(settings.ivr_config_path), item_line(listed, listed.index(name)) if name in listed else None,
                             f"speech.{setting} names '{name}', which is not a response in domain/")
                     for name in names if name not in domain.responses]
    return problems
