"""`kefu validate`: Rasa's validation plus Kefu's own checks over everything editors own."""
from __future__ import annotations

from pathlib import Path

from bot.editor import live_file_checks, nlu_checks, reference_checks
from bot.editor.encoding_checks import is_not_utf8, not_utf8
from bot.editor.placeholder_checks import action_modules, one_reading
from bot.editor.problems import Problem
from bot.settings import Settings
from bot.yaml_load import safe_load


def kefu_problems(settings: Settings) -> list[Problem]:
    with one_reading():  # the project's actions, read once for every check reading them
        return _kefu_problems(settings)


def _kefu_problems(settings: Settings) -> list[Problem]:
    root = settings.root
    problems: list[Problem] = not_utf8([root / "config.yml", root / "domain", root / "nlu_data", settings.content_dir,
                                        settings.ivr_flows_dir])
    if problems:  # every check below reads these files as UTF-8: it would stop at the first, naming none
        return problems
    problems = live_file_checks.syntax_problems(settings.content_dir)
    if problems:  # the checks below read content files too: they would stop at a broken one, or cry wolf
        return problems
    reference_checks.load_or_report(root / "config.yml", problems)
    if problems:  # Rasa cannot read its pipeline: nothing trains
        return problems
    domain = reference_checks.read_domain(root / "domain", problems)
    if problems:  # a domain file that does not parse: every check reading the domain would cry wolf
        return problems  # (a tester's one ASCII colon came back as 52 errors, the real one in the middle)
    problems += live_file_checks.refused_problems(settings)
    problems += reference_checks.check_payloads(root / "domain", domain)
    problems += reference_checks.check_wechat_menu(settings.content_dir / "wechat_menu.yml", domain)
    story_files = [p for p in sorted((root / "nlu_data").glob("*.yml"))]
    e2e = root / "tests" / "test_conversations.yml"
    problems += reference_checks.check_stories_and_rules(story_files + ([e2e] if e2e.exists() else []), domain)
    problems += reference_checks.check_responses_used_by_code(root, action_modules(settings), domain)
    problems += reference_checks.check_catalogue(settings.selfhelp_catalogue, domain, settings.media_dir)
    examples, read_problems = nlu_checks.read_examples(root / "nlu_data" / "nlu")
    problems += read_problems
    problems += nlu_checks.duplicate_and_conflicting(examples)
    problems += nlu_checks.unknown_entities(examples, domain.entities)
    problems += nlu_checks.unknown_intents(examples, domain.intents)
    if not read_problems:  # counted without a file that did not parse, every intent in it would be "too few"
        limits = safe_load((settings.content_dir / "validation.yml").read_text(encoding="utf-8")) or {}
        problems += nlu_checks.too_few(examples, sorted(domain.intents), limits.get("min_examples", {}))
    for check in extra_checks():
        problems += check(settings, domain)
    return problems


def extra_checks():
    """Checks contributed by other parts (IVR flows, channel menus) when they are present."""
    checks = []
    try:
        from bot.ivr.validation import flow_problems  # noqa: F401
    except ImportError:
        pass
    else:
        checks.append(flow_problems)
    from bot.editor.placeholder_checks import reply_name_problems, unfilled_placeholders
    from bot.editor.speech_checks import unrecognisable_phrases
    from bot.editor.story_slot_checks import unfilled_story_slots

    checks += [unrecognisable_phrases, unfilled_placeholders, unfilled_story_slots, reply_name_problems]
    from bot.security.validation import policy_problems

    checks.append(policy_problems)
    from bot.knowledge.validation import knowledge_problems
    from bot.ledger.validation import ledger_problems
    from bot.contacts.validation import contact_problems

    from bot.outbound_validation import outbound_problems
    from bot.labels import labels_problems
    from bot.editor.notice_checks import notice_problems
    from bot.editor.ui_text_checks import ui_text_problems

    checks += [knowledge_problems, ledger_problems, contact_problems, outbound_problems, labels_problems,
               notice_problems, ui_text_problems]
    return checks


def validate(settings: Settings, *, with_rasa: bool = True) -> list[Problem]:
    problems = kefu_problems(settings)
    if with_rasa and not unreadable(problems):
        from bot.editor.rasa_checks import rasa_problems

        problems += rasa_problems(settings.root)
    return problems


def unreadable(problems: list[Problem]) -> bool:
    """Whether a file Rasa reads did not parse (or has the wrong shape); its checks would only repeat it, vaguer."""
    return any(is_not_utf8(p) or any(mark in p.message for mark in (
        "not valid YAML", reference_checks.RASA_CANNOT_READ, reference_checks.NOT_A_MAPPING)) for p in problems)


def report(problems: list[Problem], root: Path) -> str:
    return "\n".join(p.format(root) for p in sorted(problems, key=lambda p: (p.severity != "error", p.file, p.line or 0)))
