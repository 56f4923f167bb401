"""The pages' texts (``content/ui/*.json``) that Kefu fills in: each fills with what it is given.

A text the browser fills (``{name}`` in a page's script) or Kefu fills (``str.format``) with full-width
braces (｛limit｝, a Chinese input method's) is shown as written, as is one naming what its page does not
give it ({place} where chat.js gives {position}). A text the server fills that does not
fill failed what it was for: the chat's ``notice_cut`` (a REST or WeChat customer's long message),
the report's labels (``kefu report``). Each is named at its line."""
from __future__ import annotations

import json
import re
from pathlib import Path

from bot.analytics.config import label_mistakes
from bot.channels.intake import MAX_MESSAGE_CHARS, notice_mistake
from bot.contacts.rules import wide_placeholder
from bot.editor.problems import WARNING, Problem


def ui_text_problems(settings, domain) -> list[Problem]:
    folder = settings.content_dir / "ui"
    problems: list[Problem] = []
    scripts = page_scripts()
    for path in sorted(folder.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        strings = json.loads(text)  # one that does not parse is named by the syntax check, which stops before
        if not isinstance(strings, dict):
            continue
        mistakes = [(key, f"'{key}' writes {wide.group(0)} with full-width braces, which would be shown as "
                          f"written: write {{{wide.group(1)}}}")
                    for key, value in strings.items()
                    if isinstance(value, str) and (wide := wide_placeholder(value)) is not None]
        if path.name == "report.zh.json":
            mistakes += [m for m in label_mistakes(strings) if m not in mistakes]
        elif path.name == "webchat.zh.json" and (why := notice_mistake(strings, MAX_MESSAGE_CHARS)):
            mistakes.append(("notice_cut", why))
        mistakes += [m for m in built_texts_missing(path.name, strings, scripts, settings.content_dir) if m not in mistakes]
        given = names_pages_give(path.name, [key for key, value in strings.items() if isinstance(value, str)], scripts)
        mistakes += [(key, f"'{key}' names {{{name}}}, which the page does not give it: shown as written "
                           f"(it is given {', '.join('{' + n + '}' for n in sorted(given[key])) or 'nothing'})")
                     for key, value in strings.items() if isinstance(value, str) and key in given
                     for name in dict.fromkeys(JS_PLACEHOLDER.findall(value)) if name not in given[key]]
        problems += [Problem(str(path), _line(text, key), why) for key, why in mistakes]
        if path.name == DESK_STRINGS:
            problems += [Problem(str(path), None, why, WARNING) for why in unnamed_intents(strings, domain)]
    return problems


DESK_STRINGS = "agent_desk.zh.json"


def unnamed_intents(strings: dict, domain) -> list[str]:
    """The desk names each intent of a customer's turns by ``intent_<intent>`` and a fault by
    ``fault_<fault intent>`` (agent.js ``t("intent_" + name)``): without it the agent reads the key,
    "intent_ask_modem_upgrade" (an intent added as docs/editing.md says, or opt_out as shipped)."""
    wanted = [f"intent_{i}" for i in sorted(domain.intents)] + [f"fault_{i}" for i in sorted(domain.intents)
                                                                if i.startswith("fault_")]
    return [f"'{key}' is missing: agents would read the key itself on the desk; give it the name agents know"
            for key in wanted if not isinstance(strings.get(key), str)]


WEB = Path(__file__).resolve().parents[1] / "web"  # the pages' scripts, which fill the texts in the browser
JS_PLACEHOLDER = re.compile(r"\{(\w+)\}")  # the pages' own pattern (chat.js t(), desk_common.js, live.js fill())
# A text filled with an object of values: t("key", {…}) or label("key", {…}), or fill(labels.key, {…}).
JS_FILLED = re.compile(r"""\b(?:t|label)\(\s*["']([A-Za-z0-9_]+)["']\s*,\s*\{|\bfill\(\s*labels\.([A-Za-z0-9_]+)\s*,\s*\{""")
# A text named at run time: t("notice_" + reason, {…}); every text of that family is filled with the object.
JS_BUILT = re.compile(r"""\b(?:t|label)\(\s*["']([A-Za-z0-9_]+)["']\s*\+""")
# A text read by its name: t("key"), t("key", {…}), label("key").
JS_NAMED = re.compile(r"""\b(?:t|label)\(\s*["']([A-Za-z0-9_]+)["']\s*[,)]""")
# One of two texts read by name: label(busy ? "line_busy" : "call_ended").
JS_CHOSEN = re.compile(r"""\b(?:t|label)\(\s*[^()"']*\?\s*["']([A-Za-z0-9_]+)["']\s*:\s*["']([A-Za-z0-9_]+)["']\s*\)""")
# A text read by name beside one named at run time: t(state === "failed" ? "turn_proof_failed" : "proof_state_" + state).
JS_CHOSEN_FIRST = re.compile(r"""\b(?:t|label)\(\s*[^()?:;]*\?\s*["']([A-Za-z0-9_]+)["']\s*:""")
# The start of a name built at run time, wherever it is built: t("channel_" + …), t(c ? "x" : "field_" + …),
# var key = "reason_" + reason; t(key).
JS_PREFIX = re.compile(r"""["']([A-Za-z0-9_]+_)["']\s*\+""")


def page_scripts() -> list[tuple[str, str]]:
    """The pages' scripts: (name, source)."""
    return [(script.name, script.read_text(encoding="utf-8")) for script in sorted(WEB.rglob("*.js"))]


def loading(strings_file: str, scripts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of ``scripts`` that load ``strings_file``'s texts."""
    return [(name, source) for name, source in scripts if strings_file in source]


def names_pages_give(strings_file: str, keys: list[str], scripts: list[tuple[str, str]]) -> dict[str, set[str]]:
    """The names each text of ``strings_file`` (whose texts are ``keys``) is filled with, by every script
    that loads it (a text filled in several places: every name any of them gives). A text named at run
    time with values ("notice_" + reason) counts as filled by that call whatever the run-time part, so
    every text of the family may name what it gives; one never given values is not there."""
    given: dict[str, set[str]] = {}
    for _, source in loading(strings_file, scripts):
        for call in JS_FILLED.finditer(source):
            given.setdefault(call.group(1) or call.group(2), set()).update(_object_keys(source, call.end()))
        for call in JS_BUILT.finditer(source):
            values = _values_after_name(source, call.end())
            if values is not None:
                for key in keys:
                    if key.startswith(call.group(1)):
                        given.setdefault(key, set()).update(values)
    return given


def built_text_values(content_dir: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per strings file, the families of texts its pages' scripts name at run time (``t("channel_" +
    entry.channel)``) with every value the code can build the name from, taken from the code's own lists
    (and the editors' files that add to them: content/voicemail.yml names a voice message's ticket kind).
    A family not here is not checked: its values are not known. (A family named from rows the script
    lists itself, ``field_`` + row[0], is read from the script: :func:`rows_walked`.)"""
    from bot.channels.names import contact_channels
    from bot.channels.wechat_api import NOT_DELIVERED
    from bot.contacts.rules import CHANNELS as CONTACT_CHANNELS
    from bot.contacts.schedule import STATUSES as CONTACT_STATUSES
    from bot.contacts.worker import ATTEMPT_RESULTS, CONTACT_RESULTS
    from bot.customers.records import BILL_STATUSES
    from bot.db.schema import TICKET_KINDS
    from bot.handoff.agents import STATUSES
    from bot.handoff.contact_details import CLEANERS as CONTACT_FIELDS
    from bot.handoff.context import SELFHELP_ANSWERS, SPEAKERS
    from bot.handoff.tickets import DISPOSITIONS
    from bot.handoff.desk_proof import state as proof_state
    from bot.handoff.glance import CALL_LOST_MIDWAY, OUTCOME_ORDER
    from bot.handoff.masking import AWAITING_PROOF
    from bot.handoff.packet import HANDOFF_REASONS
    from bot.handoff.supervisor import agent_state
    from voice.errors import VoicemailConfigError
    from voice.voicemail.policy import UNCLEAR_REASONS, load_policy

    states = {agent_state(status, online, active, 1) for status in STATUSES for online in (True, False)
              for active in (0, 1)}
    try:
        voicemail = load_policy(content_dir / "voicemail.yml")
    except VoicemailConfigError:  # named as a file the bot refuses (bot.editor.live_file_checks): it adds nothing
        voicemail = None
    rules = [voicemail.selfhelp, voicemail.default, voicemail.unclear, *voicemail.routes.values()] if voicemail else []
    kinds = tuple(dict.fromkeys(TICKET_KINDS + tuple(rule.kind for rule in rules)))
    # why a person listens to a voice message: what was not understood, or the intent it was routed on
    voice_reasons = UNCLEAR_REASONS + tuple(intent for intent, rule in (voicemail.routes if voicemail else {}).items()
                                            if rule.needs_human)
    proof_states = {proof_state(slots) for slots in ({"awaiting": AWAITING_PROOF}, {"awaiting": "identity"},
                                                     {"verified_customer_id": 1}, {})}
    return {DESK_STRINGS: {
        # a queue entry's, a ticket's, a conversation's, a contact's on the glance ("" none recorded)
        "channel_": tuple(dict.fromkeys(contact_channels() + CONTACT_CHANNELS + ("",))),
        "state_": tuple(sorted(states)),  # an agent's on the supervisor's page
        # what a contact came to ("" still going), or Kefu's own call or text's latest result
        "glance_outcome_": OUTCOME_ORDER + (CALL_LOST_MIDWAY,) + tuple(f"contact_{result}" for result in ATTEMPT_RESULTS)
        + ("",),
        "ticket_kind_": kinds,  # a work item's, a customer's open ticket, a ledger item on the glance
        "disposition_": DISPOSITIONS,  # how an agent closed a past contact (the glance)
        "reason_": HANDOFF_REASONS,  # why the customer was handed over (a missing one read 其他)
        "reason_voicemail_": voice_reasons,  # a voice message's work item (a missing one read the general words)
        "proof_state_": tuple(sorted(proof_states)),  # where the proof the agent asked for stands
        "glance_bill_": BILL_STATUSES,  # a bill's on the glance (the import takes no other)
        "glance_field_": tuple(CONTACT_FIELDS),  # a contact detail agents correct, and its history
        "who_": SPEAKERS,  # who said a turn of the transcript
        "undelivered_": NOT_DELIVERED,  # why WeChat did not take an agent's message
        "answer_": SELFHELP_ANSWERS + ("none",),  # the customer's answer to self-help (none: no answer)
        "close_confirm_": DISPOSITIONS,  # the agent's close, asked before it is done
        "closed_": DISPOSITIONS,  # and done (one with a ticket names the ticket instead)
    }, "ledger.zh.json": {
        "kind_": kinds,
        "followup_": CONTACT_STATUSES,  # where a ticket's follow-up stands
        "result_": CONTACT_RESULTS + DISPOSITIONS,  # and what its last attempt came to
    }}


def built_texts_missing(strings_file: str, strings: dict, scripts: list[tuple[str, str]],
                        content_dir: Path) -> list[tuple[str, str]]:
    """(key, why) for each text a script of ``strings_file`` reads that is missing, by its name (t("call_ended"))
    or of a family it names at run time: the page showed the key itself ("call_ended", "channel_sms",
    "state_full") where the word belonged."""
    families = dict(built_text_values(content_dir).get(strings_file, {}))
    built: dict[str, str] = {}  # prefix -> the script naming it
    named: dict[str, str] = {}  # key -> the script reading it by name
    for script, source in loading(strings_file, scripts):
        code = _without_comments(source)
        for prefix, rows in rows_walked(code).items():
            families[prefix] = tuple(dict.fromkeys(families.get(prefix, ()) + rows))
        for call in JS_PREFIX.finditer(code):
            built.setdefault(call.group(1), script)
        for call in JS_NAMED.finditer(code):
            named.setdefault(call.group(1), script)
        for call in JS_CHOSEN.finditer(code):
            for key in call.groups():
                named.setdefault(key, script)
        for call in JS_CHOSEN_FIRST.finditer(code):
            named.setdefault(call.group(1), script)
    missing = [(key, f"'{key}' is missing: {script} shows it by name and would show the key itself")
               for key, script in sorted(named.items()) if not isinstance(strings.get(key), str)]
    missing += [(key, f"'{key}' is missing: bot/web/{page} shows it (data-i18n=\"{key}\") and would show the key itself")
                for page, key in page_markup(strings_file) if not isinstance(strings.get(key), str)]
    missing += [(key, f"'{key}' is missing: {module} refuses with it, and the page shows the refusal by its code "
                      "(t(e.code)): the key itself where the words belonged")
                for key, module in server_codes(strings_file, families) if not isinstance(strings.get(key), str)]
    return missing + [(prefix + value, f"'{prefix + value}' is missing: {built[prefix]} names it at run time "
                                       f"({prefix}<{value or 'nothing'}>) and would show the key itself")
                      for prefix, values in families.items() if prefix in built
                      for value in values if not isinstance(strings.get(prefix + value), str)]


# The pages whose markup names texts (data-i18n="key", data-i18n-placeholder…), with the strings file their
# script fills them from (applyStrings in desk_common.js and chat.js, softphone.js's own loop).
PAGES = {"agent/index.html": DESK_STRINGS, "agent/supervisor.html": DESK_STRINGS, "agent/ledger.html": "ledger.zh.json",
         "chat/index.html": "webchat.zh.json", "softphone/index.html": "softphone.zh.json"}
MARKUP_NAMED = re.compile(r"""\bdata-i18n(?:-[a-z-]+)?=["']([A-Za-z0-9_]+)["']""")


def page_markup(strings_file: str) -> list[tuple[str, str]]:
    """(page, key) for each text a page's markup names from ``strings_file``."""
    return [(page, key) for page, source in PAGES.items() if source == strings_file
            for key in dict.fromkeys(MARKUP_NAMED.findall((WEB / page).read_text(encoding="utf-8")))]


# The server modules whose refusals ({"error": "error_…"}) each page shows by their code (showError: t(e.code)).
REFUSING = {DESK_STRINGS: ("bot/handoff/desk.py", "bot/handoff/contact_details.py", "bot/channels/agent_desk.py",
                           "bot/channels/glance_desk.py", "bot/channels/wechat_media_desk.py"),
            "ledger.zh.json": ("bot/channels/ledger_desk.py",),
            "knowledge_panel.zh.json": ("bot/channels/knowledge_desk.py",)}
# Codes built at run time (desk.py: f"error_not_delivered_{reason}"), with every value they are built from.
REFUSAL_FAMILIES = {"error_not_delivered_": "undelivered_"}  # the same reasons as the transcript's marks


def server_codes(strings_file: str, families: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(code, module) for each refusal code the page's server modules write, one built at run time
    (``f"error_not_delivered_{reason}"``) with each value of its family (``families``: those of
    :func:`built_text_values`)."""
    import ast

    root = WEB.parents[1]
    codes: dict[str, str] = {}
    for module in REFUSING.get(strings_file, ()):
        for node in ast.walk(ast.parse((root / module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"error_\w*[^\W_]", node.value):
                codes.setdefault(node.value, module)
            elif (isinstance(node, ast.JoinedStr) and len(node.values) == 2 and isinstance(node.values[0], ast.Constant)
                  and node.values[0].value in REFUSAL_FAMILIES):
                prefix = node.values[0].value
                for value in families.get(REFUSAL_FAMILIES[prefix], ()):
                    codes.setdefault(prefix + value, module)
    return sorted(codes.items())


# A list the script walks row by row: [["name", customer.name], …].forEach(function (row) {
WALKED = re.compile(r"""\]\s*\.forEach\(\s*function\s*\(\s*(\w+)\s*\)""")


def rows_walked(code: str) -> dict[str, tuple[str, ...]]:
    """Families named from rows a script lists itself (agent.js: ``[["name", customer.name], …].forEach(
    function (row) { … t("field_" + row[0]) … })``): each prefix with the rows' first words."""
    families: dict[str, tuple[str, ...]] = {}
    for walk in WALKED.finditer(code):
        start = _opening(code, walk.start())
        names, depth = [], 0
        for index in range(start, walk.start() + 1):
            depth += code[index] in "([{"
            depth -= code[index] in ")]}"
            if depth == 2 and code[index] == "[" and (first := re.match(r"""\s*["'](\w+)["']""", code[index + 1:])):
                names.append(first.group(1))
        body = code[walk.end():_closing(code, walk.end())]
        for built in re.finditer(r"""["']([A-Za-z0-9_]+_)["']\s*\+\s*""" + walk.group(1) + r"\[0\]", body):
            families[built.group(1)] = tuple(dict.fromkeys(families.get(built.group(1), ()) + tuple(names)))
    return families


def _opening(code: str, end: int) -> int:
    """Where the bracket closing at ``end`` opens."""
    depth = 0
    for index in range(end, -1, -1):
        depth += code[index] in ")]}"
        depth -= code[index] in "([{"
        if depth == 0:
            return index
    return 0


def _closing(code: str, start: int) -> int:
    """Where the call open at ``start`` (inside its parentheses) closes."""
    depth = 1
    for index in range(start, len(code)):
        depth += code[index] in "([{"
        depth -= code[index] in ")]}"
        if depth == 0:
            return index
    return len(code)


def _without_comments(source: str) -> str:
    """A script without its comments (they show calls as examples: t("key", {name: value}))."""
    return re.sub(r"(^|\s)//[^\n]*", r"\1", re.sub(r"/\*.*?\*/", "", source, flags=re.S))


def _values_after_name(source: str, start: int) -> set[str] | None:
    """The keys of the object literal given after a name built from ``start`` on (``+ reason, {…}``),
    or None when the call gives none."""
    depth = 0
    for index in range(start, len(source)):
        char = source[index]
        if depth == 0 and char in ",)":
            rest = source[index + 1:].lstrip() if char == "," else ""
            return _object_keys(rest, 1) if rest.startswith("{") else None
        depth += char in "([{"
        depth -= char in ")]}"
    return None


def _object_keys(source: str, start: int) -> set[str]:
    """The keys of the object literal whose ``{`` ends just before ``start``."""
    keys, depth, part = set(), 0, ""
    for char in source[start:]:
        if depth == 0 and char in ",}":
            name = part.split(":", 1)[0].strip().strip("\"'")
            if re.fullmatch(r"[A-Za-z_$][\w$]*", name):
                keys.add(name)
            if char == "}":
                return keys
            part = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        part += char if depth == 0 else ""
    return keys


def _line(text: str, key: str) -> int | None:
    quoted = json.dumps(key, ensure_ascii=False) + ":"
    return next((number for number, line in enumerate(text.splitlines(), start=1) if quoted in line.replace('" :', '":')),
                None)
