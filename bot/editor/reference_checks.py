"""Everything an editor's file refers to must exist: intents, responses, actions, catalogue ids, media."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from bot.editor.problems import WARNING, Problem
from bot.media import media_file
from bot.selfhelp import LIST_FIELDS
from bot.editor.yaml_lines import YamlFileError, item_line, line_of, load

DEFAULT_ACTIONS = {
    "action_listen", "action_restart", "action_session_start", "action_default_fallback",
    "action_deactivate_loop", "action_revert_fallback_events", "action_default_ask_affirmation",
    "action_default_ask_rephrase", "action_two_stage_fallback", "action_unlikely_intent",
    "action_back", "action_extract_slots", "...",
}
RASA_CANNOT_READ = "Rasa cannot read the domain"
DOMAIN_SHAPES = (("intents", list), ("actions", list), ("entities", list), ("slots", dict), ("responses", dict))
RESPONSE_IN_CODE = re.compile(r"""response\s*=\s*f?["'](utter_[A-Za-z0-9_{}]+)["']""")
PAYLOAD_INTENT = re.compile(r"^/([A-Za-z0-9_]+)")


@dataclass
class Domain:
    intents: set[str] = field(default_factory=set)
    responses: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    actions: set[str] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)
    slots: set[str] = field(default_factory=set)
    # (file, line, response name, text) of every reply variant, for checks on what customers read
    texts: list[tuple[str, int | None, str, str]] = field(default_factory=list)
    # (file, line) of a variant's text -> the slots its ``condition`` names with a value (Rasa says it only when
    # they match: set)
    conditioned: dict[tuple[str, int | None], frozenset[str]] = field(default_factory=dict)
    # entity -> (slot, intents) of each ``from_entity`` mapping filling a slot from it; (slot, intents) of each
    # mapping filling one from the message itself (from_text, from_intent, from_trigger_intent): the intents of
    # the user messages it fills on (:func:`fills_on`); form -> the slots it requests (``required_slots``)
    entity_slots: dict[str, list[tuple[str, "Intents"]]] = field(default_factory=dict)
    message_slots: list[tuple[str, "Intents"]] = field(default_factory=list)
    forms: dict[str, frozenset[str]] = field(default_factory=dict)


# A mapping's ``intent`` and ``not_intent`` (Rasa's ``SlotMapping.intent_is_desired``): it fills its slot on a
# message of one of the first when there are any, else on one of any intent but the second's.
Intents = tuple[frozenset[str], frozenset[str]]


def fills_on(intents: Intents, intent: str | None) -> bool:
    """Whether a mapping may fill its slot on a user message of ``intent`` (None: not known, any)."""
    only, never = intents
    return intent is None or (intent in only if only else intent not in never)


NOT_A_MAPPING = "the file must be a mapping (`key: value` lines at the top, e.g. `nlu:`, `responses:`), not a list"


def load_or_report(path: Path, problems: list[Problem]):
    """The file's YAML mapping, or None after recording why it could not be read."""
    try:
        data = load(path) or {}
    except YamlFileError as exc:
        problems.append(Problem(str(path), exc.line, exc.message))
        return None
    if not isinstance(data, dict):  # its first key line deleted: every check would stop at `.get`
        problems.append(Problem(str(path), 1, NOT_A_MAPPING))
        return None
    return data


def read_domain(domain_dir: Path, problems: list[Problem]) -> Domain:
    domain = Domain()
    files = sorted(domain_dir.rglob("*.yml")) if domain_dir.is_dir() else [domain_dir]
    for path in files:
        data = load_or_report(path, problems)
        if data is None:
            continue
        shapes = [(key, kind) for key, kind in DOMAIN_SHAPES if data.get(key) is not None and not isinstance(data[key], kind)]
        for key, kind in shapes:
            problems.append(Problem(str(path), line_of(data, key), f"'{key}' must be a "
                                    f"{'list' if kind is list else 'mapping'}; {RASA_CANNOT_READ}"))
        if shapes:
            continue
        for intent in data.get("intents") or []:
            domain.intents.add(next(iter(intent)) if hasattr(intent, "keys") else str(intent))
        domain.actions.update(str(a) for a in data.get("actions") or [])
        domain.entities.update(next(iter(e)) if hasattr(e, "keys") else str(e) for e in data.get("entities") or [])
        domain.slots.update(str(name) for name in data.get("slots") or {})
        _read_mappings(data.get("slots") or {}, domain)
        forms = data.get("forms")
        for form, spec in (forms.items() if isinstance(forms, dict) else ()):
            required = spec.get("required_slots") if hasattr(spec, "get") else None
            domain.forms[str(form)] = frozenset(map(str, required if isinstance(required, list) else []))
        responses = data.get("responses") or {}
        for name in responses:
            domain.responses[str(name)] = (str(path), line_of(responses, name))
            for variant in responses[name] or []:  # Rasa's rule: refused at training otherwise
                if hasattr(variant, "get") and variant.get("text") is None and not variant.get("custom"):
                    problems.append(Problem(str(path), line_of(variant), f"response '{name}': a variant needs "
                                            f"'text' (or 'custom'), it has {', '.join(map(str, variant))}; "
                                            f"{RASA_CANNOT_READ}"))
            domain.texts += [(str(path), line_of(variant, "text"), str(name), str(variant.get("text") or ""))
                             for variant in responses[name] or [] if hasattr(variant, "get")]
            domain.conditioned.update(  # a condition's value null matches the slot empty: it says nothing set
                ((str(path), line_of(variant, "text")), frozenset(str(c.get("name")) for c in variant["condition"]
                                                                  if hasattr(c, "get") and c.get("value") is not None))
                for variant in responses[name] or [] if hasattr(variant, "get") and isinstance(variant.get("condition"), list))
    return domain


def _read_mappings(slots: dict, domain: Domain) -> None:
    """Which user steps may fill each slot (Rasa's ``action_extract_slots``, after every user message)."""
    for slot, spec in slots.items():
        for mapping in (spec.get("mappings") if hasattr(spec, "get") else None) or []:
            kind = mapping.get("type") if hasattr(mapping, "get") else None
            intents = (_names(mapping.get("intent")), _names(mapping.get("not_intent"))) if kind else None
            if kind == "from_entity" and mapping.get("entity") is not None:
                domain.entity_slots.setdefault(str(mapping["entity"]), []).append((str(slot), intents))
            elif kind in ("from_text", "from_intent", "from_trigger_intent"):
                domain.message_slots.append((str(slot), intents))


def _names(value) -> frozenset[str]:
    """A mapping's ``intent`` or ``not_intent``: one name or a list of them (Rasa's ``SlotMapping.to_list``)."""
    return frozenset(map(str, value if isinstance(value, list) else [] if value is None else [value]))


def check_payloads(domain_dir: Path, domain: Domain) -> list[Problem]:
    """Buttons whose payload names an intent the bot does not have."""
    problems: list[Problem] = []
    for path in sorted(domain_dir.rglob("*.yml")):
        responses = (load_or_report(path, []) or {}).get("responses") or {}
        for name, variants in responses.items():
            for variant in variants or []:
                for button in variant.get("buttons") or []:
                    match = PAYLOAD_INTENT.match(str(button.get("payload", "")))
                    if match and match.group(1) not in domain.intents:
                        problems.append(Problem(str(path), line_of(button),
                                                f"button '{button.get('title')}' of {name} sends unknown intent '{match.group(1)}'"))
    return problems


def check_wechat_menu(path: Path, domain: Domain) -> list[Problem]:
    """WeChat menu clicks, QR-code scenes and the welcome (``content/wechat_menu.yml``) naming an intent the
    bot does not have: Rasa reads such a "/intent" as text the follower typed."""
    if not path.exists():
        return []
    problems: list[Problem] = []
    menu = load_or_report(path, problems) or {}
    entries = [("subscribe", menu, "subscribe")]
    for part, what in (("clicks", "menu key"), ("scans", "QR-code scene")):
        keyed = menu.get(part)
        entries += [(f"{what} {key}", keyed, key) for key in (keyed if isinstance(keyed, dict) else {})]
    for what, node, key in entries:
        match = PAYLOAD_INTENT.match(str(node.get(key) or ""))
        if match and match.group(1) not in domain.intents:
            problems.append(Problem(str(path), line_of(node, key), f"{what} sends unknown intent '{match.group(1)}'"))
    return problems + _with_agent_problems(path, menu.get("with_agent"))


def _with_agent_problems(path: Path, wordings) -> list[Problem]:
    """``with_agent`` wordings of a place or a link naming what WeChat does not send."""
    from bot.channels.wechat_followers import MEDIA_VALUES

    problems = []
    for kind, names in MEDIA_VALUES.items():
        wording = (wordings or {}).get(kind) if isinstance(wordings, dict) else None
        try:
            str(wording or "").format(**{name: "" for name in names})
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            allowed = ", ".join("{" + name + "}" for name in names)
            problems.append(Problem(str(path), line_of(wordings, kind), f"with_agent.{kind} cannot be filled in "
                                    f"({exc!r}): it may name {allowed}"))
    return problems


def check_stories_and_rules(paths: list[Path], domain: Domain) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        data = load_or_report(path, problems)
        if data is None:
            continue
        for section in ("rules", "stories"):
            for block in data.get(section) or []:
                for index, step in enumerate(block.get("steps") or []):
                    line = item_line(block["steps"], index)
                    intent, action = step.get("intent"), step.get("action")
                    if intent and intent not in domain.intents:
                        problems.append(Problem(str(path), line, f"unknown intent '{intent}' in {section[:-1]} '{block.get(section[:-1]) or block.get('story') or block.get('rule')}'"))
                    if (action and action not in domain.actions and action not in domain.responses
                            and action not in DEFAULT_ACTIONS and action not in domain.forms):  # a form is an action
                        problems.append(Problem(str(path), line, f"unknown action or response '{action}'"))
    return problems


def check_responses_used_by_code(root: Path, modules, domain: Domain) -> list[Problem]:
    """Custom actions name responses by string: each must exist in the domain. ``modules``: (label, text) of
    each module of the project's actions (``placeholder_checks.action_modules``), labelled from ``root``."""
    fault_intents = sorted(i for i in domain.intents if i.startswith("fault_"))
    problems = []
    for label, source in modules:
        path = root / label
        for number, text in enumerate(source.splitlines(), start=1):
            for name in RESPONSE_IN_CODE.findall(text):
                names = [re.sub(r"\{[^}]*\}", f, name) for f in fault_intents] if "{" in name else [name]
                for expanded in names:
                    if expanded not in domain.responses:
                        problems.append(Problem(str(path), number, f"the code uses response '{expanded}', which the domain does not define"))
    return problems


def placeholder_host(host: str) -> bool:
    """Names reserved for examples (RFC 2606): no customer's browser reaches a page there."""
    labels = host.lower().rstrip(".").split(".")
    return labels[-1] in ("example", "invalid", "test", "localhost") or labels[-2:] in (
        ["example", "com"], ["example", "net"], ["example", "org"])


def check_catalogue(path: Path, domain: Domain, media_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    data = load_or_report(path, problems)
    if data is None:
        return problems
    entries = data.get("entries")
    if not isinstance(entries, list):  # the bot refuses the whole file
        return problems + [Problem(str(path), line_of(data) or 1, "the catalogue needs an 'entries' list "
                                   "(`entries:` then one `- id: ...` per entry)")]
    ids = {str(e.get("id")) for e in entries if hasattr(e, "get")}
    seen_links: dict[str, int | None] = {}
    seen_ids: dict[str, int | None] = {}
    for index, entry in enumerate(entries):
        line = item_line(entries, index)
        if not hasattr(entry, "get"):
            problems.append(Problem(str(path), line, "each catalogue entry must be a mapping"))
            continue
        if str(entry.get("id")) in seen_ids:  # the server refuses the whole file for it (bot.selfhelp)
            problems.append(Problem(str(path), line_of(entry, "id"), f"duplicate entry id '{entry.get('id')}' "
                                    f"(first at line {seen_ids[str(entry.get('id'))]}); the bot would keep "
                                    "its last good catalogue and ignore every edit until it is renamed"))
        seen_ids.setdefault(str(entry.get("id")), line_of(entry, "id"))
        for key in ("id", "fault_type", "title", "steps", "video", "spoken"):  # no link: Kefu's own page
            if not entry.get(key):
                problems.append(Problem(str(path), line, f"entry '{entry.get('id')}' has no '{key}'"))
        for key in LIST_FIELDS:
            if entry.get(key) is not None and not isinstance(entry[key], list):
                problems.append(Problem(str(path), line_of(entry, key), f"entry '{entry.get('id')}': '{key}' must be "
                                        "a list: [a, b], or one '- item' per line"))
        if entry.get("fault_type") and entry["fault_type"] not in domain.intents:
            problems.append(Problem(str(path), line_of(entry, "fault_type"), f"entry '{entry.get('id')}': unknown intent '{entry['fault_type']}'"))
        if entry.get("next") and str(entry["next"]) not in ids:
            problems.append(Problem(str(path), line_of(entry, "next"), f"entry '{entry.get('id')}': next entry '{entry['next']}' does not exist"))
        link = str(entry.get("link") or "")
        if link:
            parsed = urlparse(link)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems.append(Problem(str(path), line_of(entry, "link"), f"entry '{entry.get('id')}': link '{link}' is not a full web address"))
            elif placeholder_host(parsed.hostname or ""):
                problems.append(Problem(str(path), line_of(entry, "link"), f"entry '{entry.get('id')}': link '{link}' is a placeholder address that goes nowhere; remove it to use Kefu's own page for the entry"))
            elif link in seen_links:
                problems.append(Problem(str(path), line_of(entry, "link"), f"entry '{entry.get('id')}': link '{link}' is already used at line {seen_links[link]}"))
            seen_links.setdefault(link, line_of(entry, "link"))
        problems.extend(_check_video(path, entry, media_dir))
    return problems


def _check_video(path: Path, entry, media_dir: Path) -> list[Problem]:
    video = entry.get("video")
    line, name = line_of(entry, "video"), entry.get("id")
    if not hasattr(video, "get") or not video.get("url"):
        return []  # reported above as a missing field
    problems = []
    for key in ("url", "poster"):
        url = str(video.get(key) or "")
        if url and not url.startswith("/media/"):
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems.append(Problem(str(path), line, f"entry '{name}': video {key} '{url}' must be a full web address or a /media/ path"))
    poster = str(video.get("poster") or "")  # written by `kefu content render` as the video is
    if poster.startswith("/media/") and media_file(media_dir, poster) is None:
        problems.append(Problem(str(path), line, f"entry '{name}': {poster} points outside the media folder"))
    url = str(video["url"])
    file = media_file(media_dir, url)
    if url.startswith("/media/") and file is None:
        problems.append(Problem(str(path), line, f"entry '{name}': {url} points outside the media folder"))
    elif file is not None and not file.exists():
        problems.append(Problem(str(path), line, f"entry '{name}': {url} does not exist yet; "
                                                  f"run `kefu content render {name}` or add the file", WARNING))
    elif (picture := media_file(media_dir, poster)) is not None and not picture.exists():  # a filmed video, no poster
        problems.append(Problem(str(path), line_of(video, "poster") or line, f"entry '{name}': poster {poster} does not "
                                "exist: the chat's video and the WeChat card would show a picture that does not load; "
                                "add the picture, or leave `poster` out", WARNING))
    return problems
