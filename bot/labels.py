"""content/labels.yml: the words Kefu fills into sentences, and the ticket summaries agents read.

Read by the actions (status names, line templates) and by the waiting room, the phone and the
voice-message pipeline, which write tickets too: the summary line on the agent desk and in the
ledger is in the agents' language and the editors' wording, never a Python string. The machine
reads a ticket's ``kind`` and ``details``, never its summary. A ticket's history notes are kept as a
kind and its values and read through the ``ticket_history`` lines (bot/ticket_notes.py).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from string import Formatter

import yaml

from bot.contacts.rules import wide_placeholder
from bot.denial import NOT_ASKED_BEFORE, said_not_denied
from bot.yaml_load import safe_load

# The summary lines every ticket writer needs, with the values each may use.
SUMMARY_FIELDS: dict[str, frozenset[str]] = {
    "fault": frozenset({"fault", "code", "selfhelp", "said_done"}),
    "fault_repeat": frozenset({"fault", "code", "selfhelp", "said_done"}),  # a fault the customer says keeps coming back
    "said_done": frozenset({"selfhelp"}),  # the fault lines' {said_done}: steps the customer did, not sent
    "visit": frozenset({"said"}),
    "service_change": frozenset({"service", "said"}),
    "complaint": frozenset({"said"}),
    "callback": frozenset({"said"}),
    "left_message": frozenset({"said"}),
    "phone_callback": frozenset({"skill"}),
    "voice_message": frozenset({"said"}),
    # How an agent closed, when they wrote no note of their own (bot/handoff/tickets.py).
    "agent_resolved": frozenset(),
    "agent_ticket": frozenset(),
    "agent_callback": frozenset(),
}


# A ticket history note's kinds (bot/ticket_notes.py), with the values each line may use: channel is
# where the customer asked (a name from content/handoff.yml ``channels``), said their words, agent who
# wrote the note, note an agent's (or the dispatch system's) own words.
HISTORY_FIELDS: dict[str, frozenset[str]] = {
    "reported_again": frozenset({"channel", "said"}),          # a fault reported while its repair is open
    "complaint_again": frozenset({"channel", "said"}),         # a complaint made while one is open
    "complaint_more": frozenset({"channel", "said"}),          # more said in the chat that filed it
    "complaint_withdraw": frozenset({"channel", "said"}),      # taken back in the chat that filed it
    "change_withdraw": frozenset({"channel", "said"}),         # a service change taken back likewise
    "said_more": frozenset({"channel", "said"}),               # words not understood, said right after filing
    "callback_again": frozenset({"channel", "said"}),          # a callback asked for while one is promised
    "hurried": frozenset({"channel", "said"}),                 # "能不能快点" right after its progress was told
    "visit_change": frozenset({"channel", "said"}),            # a change of the visit booked, asked for
    "visit_time_changed": frozenset({"channel", "when"}),      # ... which named a day: the visit's new time
    "visit_change_requested": frozenset({"channel"}),          # ... which named none: the technician rings
    "visit_cancel": frozenset({"channel", "said"}),            # the visit booked, called off
    "followup_held": frozenset({"ticket_id"}),                 # bot/contacts/complaints.py
    "followup_fixed": frozenset(),                             # the follow-up contact's answer: fixed,
    "followup_not_fixed": frozenset(),                         # ... or not (the ticket reopens)
    "step_closed": frozenset({"agent", "note"}),               # a ledger step closed (desk or kefu ledger done)
    "work_item_done": frozenset({"agent", "note"}),            # 已处理 on a work item
    "agent_resolved": frozenset({"agent", "note"}),            # a conversation closed as 已解决
    "agent_followup": frozenset({"agent", "note"}),            # 转工单跟进 onto the open ticket
    "told_in_conversation": frozenset({"agent"}),              # the customer heard the result from the agent
    "callback_requeued": frozenset({"agent"}),                 # the agent who took the callback left it (departures)
    "callback_transferred": frozenset({"agent", "group"}),     # ... or transferred it to another group (the desk)
    "dispatch": frozenset({"ref", "note"}),                    # the dispatch system moved it (bot/dispatch/)
    "sms_withheld_opt_out": frozenset(),                       # its SMS notice not sent: the customer opted out,
    "sms_withheld_dnd": frozenset(),                           # ... or is on the do-not-disturb list (bot/notify.py)
    "selfhelp_withheld_opt_out": frozenset({"ticket"}),        # a voice message's self-help reply held back when sent,
    "selfhelp_withheld_dnd": frozenset({"ticket"}),            # ... the message handed to a person (``ticket``)
    "selfhelp_undelivered": frozenset({"ticket"}),             # ... or given up by the outbox: the same
    "selfhelp_dropped": frozenset({"ticket"}),                 # ... or dropped by a person (kefu outbox drop)
}


# The lines the answers fill in (actions/), with a value of the kind each is given: a line that does not
# fill failed every bill, plan or visit answer (found in review: `kefu validate` passed "{amout}").
FILLED_LINES: dict[tuple[str, ...], dict[str, object]] = {
    ("month",): {"year": "2026", "month": 11},
    ("date",): {"year": 2026, "month": 12, "day": 31},
    ("bill_line",): {"period": "", "amount": "", "status": ""},
    ("plan_line",): {"name": "", "monthly_fee": "", "description": ""},
    ("plan_choice",): {"name": "", "monthly_fee": ""},
    ("plan_change_said",): {"name": "", "monthly_fee": ""},
    ("visit_when", "date"): {"month": 12, "day": 5, "weekday": ""},
}
OPTIONAL_FILLED_LINES: dict[tuple[str, ...], dict[str, object]] = {("ticket_progress", "visit_time"): {"when": ""}}


# The sections of names the answers look a code up in (a ticket's status and kind, a service, a bill's
# status): one missing, or a list, failed every ticket, service or bill answer.
NAME_SECTIONS = ("ticket_status", "ticket_kind", "service_action", "bill_status")


# The lists of words the answers look for in what the customer said (``word in text``), each as a list,
# or per part (a bill's, a plan category's) a list: one written as a single text ("visit_named: 上门,
# 师傅") became a list of its characters, and a message with any of them (门, 师) matched.
WORD_LISTS = ("selfhelp_not_fixed_words", "selfhelp_fixed_words", "nothing_more_words", "never_mind_words", "goodbye_words", "visit_question", "visit_progress_question", "visit_change_words",
              "visit_named", "visit_cancel_words", "visit_kept_words", "not_visit_words", "hurry_words", "complaint_words", "complaint_withdrawn_words", "complaint_denied_words", "complaint_despite_words", "message_request_words", "message_request_fillers", "message_withdrawn_words", "message_left_before_words", "change_withdrawn_words",
              "fault_still_failing_words", "visit_not_coming_words", "plan_others_words", "code_not_received_words", "how_words", "plan_end_words", "account_number_words",
              "account_password_words", "account_money_words", "login_name_words", "question_filler_words",
              "person_declined_words", "person_asked_words", "cheaper_plan_words", "plan_change_words",
              "plan_rules_words", "plan_pick_fillers", "bill_whole_words", "plan_pick_generic_words", "proof_wait_words",
              "another_fault_words", "number_declined_words")
WORD_LISTS_BY_PART = ("bill_question", "plan_question", "fault_named_by", "ticket_question", "cheaper_plan_categories",
                      "requests_named_with_a_number", "number_why_question")


def _check_word_lists(path: Path, labels: dict) -> None:
    lists = [(key, labels[key]) for key in WORD_LISTS if labels.get(key) is not None]
    for key in WORD_LISTS_BY_PART:
        parts = labels.get(key)
        if parts is not None and not isinstance(parts, dict):
            raise ValueError(f"{path}: `{key}` must map each part to a list of words")
        lists += [(f"{key}.{part}", words) for part, words in (parts or {}).items() if words is not None]
    for where, words in lists:
        if not isinstance(words, list):
            raise ValueError(f"{path}: `{where}` must be a list of words in brackets, [词一, 词二]: as one text "
                             "each of its characters would be a word")
        # A number is a word as customers type it ("1000兆": [宽带, 1000]); the answers look for text.
        words[:] = [str(word) if isinstance(word, (int, float)) and not isinstance(word, bool) else word
                    for word in words]
        if not all(isinstance(word, str) for word in words):
            raise ValueError(f"{path}: `{where}` has an item that is not a word "
                             f"({next(w for w in words if not isinstance(w, str))!r}): write each word, [词一, 词二]")


def _check_names(path: Path, labels: dict) -> None:
    _check_word_lists(path, labels)
    inside = labels.get("fault_not_named_inside")
    if inside is not None and not (isinstance(inside, dict) and all(
            isinstance(lists, list) and all(name in WORD_LISTS for name in lists) for lists in inside.values())):
        raise ValueError(f"{path}: `fault_not_named_inside` must map each fault to a list of word lists' names "
                         f"([account_password_words]), each one of {', '.join(WORD_LISTS)}")
    for section in NAME_SECTIONS:
        if not isinstance(labels.get(section), dict):
            raise ValueError(f"{path}: `{section}` must map each code to its name (`code: 名称` lines under it)")
    if labels.get("ticket_progress") is not None and not isinstance(labels["ticket_progress"], dict):
        raise ValueError(f"{path}: `ticket_progress` must map each line to its wording (visit_time:, visit_no_time:)")
    weekdays = (labels.get("visit_when") or {}).get("weekdays") if isinstance(labels.get("visit_when"), dict) else None
    if not isinstance(weekdays, list) or len(weekdays) != 7 or not all(isinstance(day, str) for day in weekdays):
        raise ValueError(f"{path}: `visit_when.weekdays` must list the seven days' names, Monday first: "
                         "a visit on a day it lacks could not be told")


def _check_filled(path: Path, labels: dict) -> None:
    """Every line an answer fills in is there (when it must be) and fills with what Kefu gives it."""
    for keys, values in {**FILLED_LINES, **OPTIONAL_FILLED_LINES}.items():
        line = labels
        for key in keys:
            line = line.get(key) if isinstance(line, dict) else None
        where = ".".join(keys)
        if line is None and keys in OPTIONAL_FILLED_LINES:
            continue
        if not isinstance(line, str):
            raise ValueError(f"{path}: `{where}` is missing: the answers fill it in")
        try:
            line.format(**values)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"{path}: `{where}` cannot be filled in ({exc!r}): it may name "
                             f"{', '.join('{' + name + '}' for name in values)}") from None


def _check_lines(path: Path, labels: dict, section: str, allowed: dict[str, frozenset[str]]) -> None:
    """Every line of ``section`` is there and uses only the values Kefu fills into it."""
    lines = labels.get(section)
    if not isinstance(lines, dict):
        raise ValueError(f"{path}: '{section}' must map each line to its wording")
    for key, fields in allowed.items():
        template = lines.get(key)
        if not isinstance(template, str) or not template.strip():
            raise ValueError(f"{path}: {section} has no '{key}' line")
        try:
            used = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise ValueError(f"{path}: {section} '{key}': {exc}") from exc
        if used - fields:
            raise ValueError(f"{path}: {section} '{key}' uses {sorted(used - fields)}; "
                             f"it may use {sorted(fields)}")
        if (wide := wide_placeholder(template)) is not None:
            raise ValueError(f"{path}: {section} '{key}' writes {wide.group(0)} with full-width braces, which "
                             f"agents would read as written: write {{{wide.group(1)}}}")
        try:  # found in review: {said:d} named a value it may use, and every such ticket failed
            template.format(**{name: "" for name in fields})  # the values are text
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"{path}: {section} '{key}' cannot be filled in ({exc!r}): it may name "
                             f"{', '.join('{' + name + '}' for name in sorted(fields))}") from None


def parse_labels(path: Path) -> dict:
    labels = safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(labels, dict):
        raise ValueError(f"{path}: expected a mapping of labels")
    _check_lines(path, labels, "ticket_summary", SUMMARY_FIELDS)
    _check_lines(path, labels, "ticket_history", HISTORY_FIELDS)
    _check_filled(path, labels)
    _check_names(path, labels)
    return labels


def labels() -> dict:
    """The editors' label file: its last good version."""
    from bot.settings import get_settings
    from bot.snapshot import editor_file

    return editor_file(get_settings().content_dir / "labels.yml", parse_labels, (ValueError, yaml.YAMLError)).get()


def names_any(text: str, words: list[str] | None, whole: Sequence[str] = ()) -> bool:
    """Whether ``text`` has any of ``words`` (one of the editors' lists in content/labels.yml) in it, as written;
    not where a word is part of one of ``whole`` (words read as one): where it straddles one (带什么 is not in
    宽带什么时候, which it reads across 宽带) or lies inside a longer one (怎么 is not in 怎么贵了)."""
    return first_named(text, words, whole) is not None


def first_named(text: str, words: list[str] | None, whole: Sequence[str] = ()) -> int | None:
    """Where in ``text`` the first of ``words`` is, as ``names_any`` reads them (none that is part of one of
    ``whole``); None when there is none: a message naming two faults takes them in the order said."""
    held = [span for other in whole if other for span in _spans(text, other)]
    found = [span[0] for word in words or () if word for span in _spans(text, word)
             if not any(_part_of(span, other) for other in held)]
    return min(found, default=None)


def _spans(text: str, word: str) -> list[tuple[int, int]]:
    """Where ``word`` is in ``text``: every (start, end), overlapping ones too."""
    spans, at = [], text.find(word)
    while at >= 0:
        spans.append((at, at + len(word)))
        at = text.find(word, at + 1)
    return spans


def _part_of(span: tuple[int, int], other: tuple[int, int]) -> bool:
    """Whether the word at ``span`` is part of the word at ``other``: they overlap, ``other`` not wholly inside
    ``span`` (a word holding another, or the same word, is still itself)."""
    (start, end), (other_start, other_end) = span, other
    return start < other_end and other_start < end and not (start <= other_start and other_end <= end)


def listed_words(words: dict, leaving: str) -> list[str]:
    """Every word of the editors' word lists (``WORD_LISTS``, ``WORD_LISTS_BY_PART``) but ``leaving``'s."""
    lists = [words.get(key) for key in WORD_LISTS if key != leaving]
    lists += [part for key in WORD_LISTS_BY_PART for part in (words.get(key) or {}).values()]
    return [word for listed in lists for word in listed or ()]


def asks_how(text: str) -> bool:
    """Whether ``text`` asks how to do something (``how_words``), letters in any case. A how-to word only counts
    where it is no part of a word of the editors' other lists: 宽[带什么]时候能装好 asks when, not what to bring
    (带什么), while 办宽带要带什么证件 does ask it (found in review); 月费[怎么]贵了 asks why the bill grew
    (the bill's 怎么贵了), not how to do something (found in review)."""
    words = labels()
    lowered = [word.lower() for word in words.get("how_words") or ()]
    return names_any(text.lower(), lowered, whole=[word.lower() for word in listed_words(words, "how_words")])


def asks_for_a_person(text: str) -> bool:
    """Whether ``text`` asks for a person (``person_asked_words``), letters in any case; not by a word inside one
    that declines a person (``person_declined_words``: 转人工 in 不用转人工), nor by one said right after a denial
    (不想转人工, 先不转人工, 别找人工了: found in review, they queued a customer who had just said no to a person)."""
    words, lowered = labels(), text.lower()
    asked = [word.lower() for word in words.get("person_asked_words") or ()]
    return names_any(lowered, [word for word in asked if said_not_denied(lowered, word, NOT_ASKED_BEFORE)],
                     whole=[word.lower() for word in words.get("person_declined_words") or ()])


def parts_named(text: str, parts: dict[str, list[str]]) -> set[str]:
    """The parts of an editors' per-part word list (``bill_question``, ``plan_question`` in content/labels.yml)
    that ``text`` names: any of a part's words in it, as written."""
    return {part for part, words in parts.items() if any(word in text for word in words or ())}


def ticket_summary(key: str, **values: object) -> str:
    """A ticket's summary line in the editors' words (``ticket_summary`` in content/labels.yml)."""
    line = labels()["ticket_summary"][key].format(**{name: values.get(name, "") for name in SUMMARY_FIELDS[key]})
    return line.strip().rstrip("：:，, ")  # a button's request has no words of its own


def labels_problems(settings, domain) -> list:
    """`kefu validate`: the label file parses and every ticket summary and history line is there."""
    from bot.editor.problems import Problem

    path = settings.content_dir / "labels.yml"
    try:
        words = parse_labels(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        message = str(exc).removeprefix(f"{path}: ")
        problems = [Problem(str(path), _line_named(path, message), message)]
        try:  # the names are looked at too: one slip should not hide another
            raw = safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return problems
        if not isinstance(raw, dict):
            return problems
        return problems + unnamed_codes(path, raw) + unknown_articles(path, raw, settings.content_dir / "knowledge")
    return (unnamed_codes(path, words) + unnamed_services(settings.root, words["service_action"])
            + unknown_articles(path, words, settings.content_dir / "knowledge"))


# The knowledge articles an answer says, by id (actions/plan_end.py: how to renew; actions/accounts.py: how a plan's
# allowance works).
ARTICLE_KEYS = ("plan_end_renewal_article", "plan_rules_article")


def unknown_articles(path: Path, labels: dict, folder: Path) -> list:
    """An article named here that no file of content/knowledge/ has: the answer would leave it out unsaid."""
    from bot.editor.problems import Problem
    from bot.knowledge.articles import ArticleError, article_files, read_article

    ids = set()
    for article_path in article_files(folder):
        try:
            ids.add(read_article(article_path).id)
        except ArticleError:
            continue  # said by the knowledge checks
    return [Problem(str(path), _line_named(path, f"`{key}`"), f"`{key}` names the article '{labels[key]}', which "
                    f"no file of {folder.name}/ has: the answer would leave it out; give an article's id")
            for key in ARTICLE_KEYS if labels.get(key) is not None and labels[key] not in ids]


def unnamed_codes(path: Path, labels: dict) -> list:
    """A ticket status or kind, or a bill status, Kefu's code gives that its section does not name: the
    answers fall back to the code, and the customer reads 工单状态：resolved."""
    from bot.customers.records import BILL_STATUSES
    from bot.db.repository import TICKET_TRANSITIONS
    from bot.db.schema import TICKET_KINDS
    from bot.editor.problems import Problem

    codes = {"ticket_status": tuple(TICKET_TRANSITIONS), "ticket_kind": TICKET_KINDS, "bill_status": BILL_STATUSES}
    return [Problem(str(path), _line_named(path, f"`{section}`"), f"`{section}.{code}` is missing: the answers would "
                    f"show the code '{code}' itself; add `  {code}: 名称` under `{section}:`")
            for section, wanted in codes.items() if isinstance(labels.get(section), dict)
            for code in wanted if not isinstance(labels[section].get(code), str)]


def _line_named(path: Path, message: str) -> int | None:
    """The line of what a problem names first: `section.key` in backticks, or "section has no 'key' line" /
    "section 'key' …"; None when it names none (the file's own shape)."""
    from bot.editor.yaml_lines import YamlFileError, line_of, load

    named = re.match(r"`([\w.]+)`", message) or re.match(r"'?(\w+)'? (?:has no '(\w+)'|'(\w+)')", message)
    if named is None:
        return None
    keys = [key for part in named.groups() if part for key in part.split(".")]
    try:
        node = load(path)
    except (OSError, YamlFileError):
        return None
    line = None
    for key in keys:
        if not hasattr(node, "get") or key not in node:
            break
        line, node = line_of(node, key), node[key]
    return line


# A service the NLU marks ("[开通](service_action:open)", or "[过户](service_action)": the words themselves)
# or a button sends ('/manage_service{"service_action": "open"}').
MARKED_SERVICE = re.compile(r"\[([^\]]+)\]\(service_action(?::([^)]+))?\)")
SENT_SERVICE = re.compile(r'"service_action"\s*:\s*"([^"]*)"')


# Any entity marked with a value other than its words ("[提速](service_action:upgrade)").
MARKED_WITH_VALUE = re.compile(r"\[([^\]]+)\]\(\w+:([^)]+)\)")


def _synonyms(nlu_dir: Path, examples: list) -> dict[str, str]:
    """The words Rasa's synonym mapper turns into another value, lower-cased as it looks them up: those of
    ``- synonym: open`` blocks, and the words any example marks with another value (found in review:
    "[提速](service_action)" beside "[提速](service_action:upgrade)" reaches the answer as "upgrade")."""
    found = {words.strip().lower(): value.strip()
             for e in examples for words, value in MARKED_WITH_VALUE.findall(e.text) if words.strip() != value.strip()}
    for path in sorted(nlu_dir.rglob("*.yml")):
        try:
            data = safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue  # named by the NLU checks
        for item in (data.get("nlu") or []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and item.get("synonym") is not None:
                found.update({line.strip()[2:].strip().lower(): str(item["synonym"])
                              for line in str(item.get("examples") or "").splitlines() if line.strip().startswith("- ")})
    return found


def unnamed_services(root: Path, names: dict) -> list:
    """A service the NLU or a button gives that ``service_action`` does not name: the answer looks it up
    there, and a customer asking for it was asked which service they meant, again and again (found in
    review: a new service's examples and button, without its name, passed `kefu validate`)."""
    from bot.editor.nlu_checks import read_examples
    from bot.editor.problems import Problem

    why = "which `service_action` in content/labels.yml does not name: customers asking for it are asked again which service they mean"
    examples, _ = read_examples(root / "nlu_data" / "nlu")  # a file that does not read is named by its own check
    synonyms = _synonyms(root / "nlu_data", examples)  # "[开通](service_action)" is "open" when a synonym says so
    problems = [Problem(str(e.file), e.line, f"'{e.text}' marks the service '{value}', {why}")
                for e in examples for marked in MARKED_SERVICE.finditer(e.text)
                if synonyms.get((value := (marked.group(2) or marked.group(1)).strip()).lower(), value) not in names]
    for path in sorted((root / "domain").rglob("*.yml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            problems += [Problem(str(path), number, f"a button sends the service '{value}', {why}")
                         for value in SENT_SERVICE.findall(line) if value not in names]
    return problems
