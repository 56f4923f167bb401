"""`kefu validate` for content/contacts.yml, and the phone flows its rules name."""
from __future__ import annotations

from bot.contacts.rules import ContactRulesError, load_rules
from bot.contacts.worker import message_text
from bot.editor.problems import Problem
from bot.outbound.sms import LONGEST_VALUES, too_long_for_sms


def contact_problems(settings, domain) -> list[Problem]:
    path = settings.content_dir / "contacts.yml"
    if not path.exists():
        return [Problem(str(path), None, "missing: the contact worker needs its rules")]
    try:
        rules = load_rules(path)
    except ContactRulesError as exc:
        return [Problem(str(path), None, str(exc).removeprefix(f"{path}: "))]
    problems = [Problem(str(path), None, f"rules.{rule.name}.flow: no file ivr_flows/{rule.flow}.yml")
                for rule in rules.rules.values()
                if rule.flow and not (settings.ivr_flows_dir / f"{rule.flow}.yml").exists()]
    for rule in rules.rules.values():
        contact = {"ticket_id": LONGEST_VALUES["ticket_id"], "details": LONGEST_VALUES}
        if "sms" in rule.channels and (why := too_long_for_sms(message_text(rule, contact, rules.opt_out_footer))):
            problems.append(Problem(str(path), None, f"rules.{rule.name}.message (with opt_out_footer): {why}"))
    return problems
