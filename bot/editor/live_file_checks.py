"""`kefu validate` reads every content file the way the running bot does.

The bot loads its content files live (bot/snapshot.py): a save it cannot use is logged and ignored,
the last good version serving on, so an edit that `kefu validate` passed could silently never go
live. And a content file that did not parse stopped `kefu validate` itself with a traceback naming
no file. So: every YAML and JSON file under the content folder must parse (named at the line), and
the files loaded live are given to the parser the bot loads them with; whatever it refuses is named.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import yaml

from bot.editor.encoding_checks import utf8_mistake
from bot.editor.problems import Problem
from bot.editor.reference_checks import NOT_A_MAPPING
from bot.editor.yaml_lines import syntax_error
from bot.yaml_load import safe_load


def _live_files(settings) -> list[tuple[Path, Callable[[Path], object], bool]]:
    """Every content file the bot loads live, with the parser it loads it with, and whether `kefu validate`
    needs this parser to name its problems (the others have checks of their own that name the line)."""
    from bot.analytics.config import kpi_file
    from bot.channels.wechat import parse_menu
    from bot.contacts.rules import load_rules as load_contact_rules
    from bot.handoff.rules import parse_rules_file
    from bot.handoff.waiting_settings import parse_waiting_room_file
    from bot.ivr.config import load_hotline_config
    from bot.labels import parse_labels
    from bot.ledger.rules import parse_rules_file as parse_ledger_rules
    from bot.selfhelp import parse_catalogue_file
    from voice.voicemail.policy import load_policy

    content = settings.content_dir
    return [(content / "handoff.yml", parse_rules_file, True),
            (content / "waiting_room.yml", parse_waiting_room_file, True),
            (content / "kpi.yml", kpi_file, True),
            (content / "voicemail.yml", load_policy, True),
            (content / "labels.yml", parse_labels, False),
            (content / "contacts.yml", load_contact_rules, False),
            (content / "ledger.yml", parse_ledger_rules, False),
            (content / "wechat_menu.yml", parse_menu, False),
            (settings.ivr_config_path, load_hotline_config, False),
            (settings.selfhelp_catalogue, parse_catalogue_file, False)]


def _refusals(files) -> list[tuple[Path, int | None, str]]:
    """Each file its parser refuses, with the line and the reason in `kefu validate`'s words."""
    refused = []
    for path, parse in files:
        if not path.exists():
            continue
        try:
            parse(path)
        except Exception as exc:  # noqa: BLE001 - each parser's own errors, and what a bad file makes them raise
            refused.append((path, *why_refused(path, exc)))
    return refused


def why_refused(path: Path, error: BaseException) -> tuple[int | None, str]:
    """(line, message) for a save ``path``'s parser refused, worded as `kefu validate` words that mistake: a
    YAML mistake or a byte that is not UTF-8 at the line to change (the parsers raise their own error from
    the YAML or decoding one, whose message is the parser's, not an editor's), else the parser's reason.
    The running bot logs a refused save with it too (bot/snapshot.py)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, (yaml.YAMLError, UnicodeDecodeError)):
        cause = cause.__cause__
    try:
        if isinstance(cause, UnicodeDecodeError) and (mistake := utf8_mistake(path.read_bytes())) is not None:
            return mistake
        if isinstance(cause, yaml.YAMLError):
            return syntax_error(cause, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):  # saved again, or moved away, since the parser read it
        pass
    return None, str(error).removeprefix(f"{path}: ").removeprefix(f"{path.name}: ") or type(error).__name__


def syntax_problems(content_dir: Path) -> list[Problem]:
    """Each YAML or JSON file under ``content_dir`` that does not parse, at the line where it stops."""
    problems = []
    for path in sorted(p for p in content_dir.rglob("*") if p.is_file()):
        if path.suffix in (".yml", ".yaml"):
            text = path.read_text(encoding="utf-8")
            try:
                data = safe_load(text)
            except yaml.YAMLError as exc:
                problems.append(Problem(str(path), *syntax_error(exc, text)))
                continue
            if data is not None and not isinstance(data, dict):  # every content file is settings by name
                problems.append(Problem(str(path), 1, NOT_A_MAPPING))
        elif path.suffix == ".json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                problems.append(Problem(str(path), exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})"))
    return problems


def refused_problems(settings) -> list[Problem]:
    """What the bot's own parser refuses in each live-loaded file (it would keep its last good version)."""
    files = [(path, parse) for path, parse, validate_needs_it in _live_files(settings) if validate_needs_it]
    return [Problem(str(path), line, f"the bot refuses this file (and keeps its last good version): {reason}")
            for path, line, reason in _refusals(files)]


def refused_at_start(settings) -> list[str]:
    """The content files the running bot loads live that its own parser refuses, as ``file: why``. At a
    first start there is no last good version to keep: every answer reading such a file would fail (found
    in review: a refused labels.yml failed every bill, plan and ticket answer), so ``kefu run`` says so."""
    return [Problem(str(path), line, reason).format()
            for path, line, reason in _refusals((path, parse) for path, parse, _ in _live_files(settings))]
