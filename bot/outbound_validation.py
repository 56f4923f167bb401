"""`kefu validate` for content/outbound.yml: every template Kefu sends is there and fills.

A template that does not fill fails only when a customer's message is queued, long after the
editor saved it: a repair's SMS would be lost while the chat says it was sent.
"""
from __future__ import annotations

from bot.contacts.rules import wide_placeholder
from bot.editor.problems import Problem
from bot.notify import OUTBOUND_TEMPLATES, NotifyError, load_templates, render_selfhelp
from bot.outbound.sms import LONGEST_VALUES, too_long_for_sms
from bot.selfhelp import CatalogueError, parse_catalogue_file

# Each template's placeholders; the starred ones must appear (the SMS is about that ticket).
FIELDS = {
    "selfhelp": ("title", "steps", "link", "video_url"),
    "step_line": ("number", "step"),
    "repair_registered": ("*ticket_id",),
    "repair_chased": ("*ticket_id",),
    "agent_ticket_filed": ("*ticket_id",),  # a lost call's close (bot.handoff.lost_calls)
    "agent_callback_booked": ("*ticket_id", "*callback_by"),
}


def outbound_problems(settings, domain) -> list[Problem]:
    path = settings.content_dir / OUTBOUND_TEMPLATES
    try:
        templates = load_templates(path)
    except NotifyError as exc:
        return [Problem(str(path), None, str(exc))]
    problems = []
    for kind, fields in FIELDS.items():
        names = [name.lstrip("*") for name in fields]
        template = templates.get(kind)
        if not isinstance(template, str) or not template.strip():
            problems.append(Problem(str(path), None, f"`{kind}` is missing: Kefu sends it"))
            continue
        if (wide := wide_placeholder(template)) is not None:  # sent as written: "图文和视频指引：｛link｝"
            problems.append(Problem(str(path), None, f"`{kind}` writes {wide.group(0)} with full-width braces, "
                                                     f"which customers would read as written: write {{{wide.group(1)}}}"))
            continue
        try:
            template.format(**{name: "x" for name in names})
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:  # {step.text}: validate's traceback
            problems.append(Problem(str(path), None, f"`{kind}` does not fill ({exc!r}); "
                                                     f"its placeholders are {', '.join('{' + n + '}' for n in names)}"))
            continue
        problems += [Problem(str(path), None, f"`{kind}` must name {{{name[1:]}}}")
                     for name in fields if name.startswith("*") and "{" + name[1:] + "}" not in template]
        if kind.startswith(("repair_", "agent_")) and (why := too_long_for_sms(template.format(**LONGEST_VALUES))):
            problems.append(Problem(str(path), None, f"`{kind}`: {why}"))
    return problems + _selfhelp_texts_too_long(settings, templates)


def _selfhelp_texts_too_long(settings, templates: dict) -> list[Problem]:
    """Each catalogue entry as its SMS reads, measured: an entry with many steps can outgrow one."""
    try:
        entries = parse_catalogue_file(settings.selfhelp_catalogue).entries.values()
        texts = {entry.id: render_selfhelp(entry, templates) for entry in entries}
    except (CatalogueError, NotifyError, OSError):
        return []  # reported by the catalogue's and the templates' own checks
    return [Problem(str(settings.selfhelp_catalogue), None, f"entry '{entry_id}': {why} (its steps, or the "
                    f"`selfhelp` wording in {OUTBOUND_TEMPLATES})")
            for entry_id, text in texts.items() if (why := too_long_for_sms(text))]
