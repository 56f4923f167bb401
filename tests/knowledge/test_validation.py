"""`kefu validate` reports broken knowledge articles and ledger rules by file."""
from __future__ import annotations

import shutil

from bot.editor.reference_checks import Domain
from bot.knowledge.validation import knowledge_problems
from bot.ledger.validation import ledger_problems
from bot.settings import from_environment
from tests.conftest import PROJECT_ROOT


def settings_with_content(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content" / "knowledge", content / "knowledge")
    shutil.copy(PROJECT_ROOT / "content" / "ledger.yml", content / "ledger.yml")
    return from_environment({"KEFU_CONTENT_DIR": str(content), "KEFU_DATA_DIR": str(tmp_path / "var")})


def domain_with(*intents: str) -> Domain:
    domain = Domain()
    domain.intents.update(intents)
    return domain


def test_the_shipped_articles_and_ledger_rules_are_valid(tmp_path):
    settings = settings_with_content(tmp_path)
    from bot.editor.reference_checks import read_domain

    domain = read_domain(PROJECT_ROOT / "domain", [])
    assert knowledge_problems(settings, domain) == []
    assert ledger_problems(settings, domain) == []


def test_broken_articles_and_rules_are_reported_by_file(tmp_path):
    settings = settings_with_content(tmp_path)
    knowledge = settings.content_dir / "knowledge"
    (knowledge / "invoice.md").write_text("---\nid: invoice\ntitle: 发票\n---\n正文", encoding="utf-8")
    (knowledge / "copy.md").write_text((knowledge / "wifi_weak.md").read_text(encoding="utf-8"), encoding="utf-8")
    problems = {(p.file.rsplit("/", 1)[-1], p.severity): p.message
                for p in knowledge_problems(settings, domain_with("fault_tv"))}
    assert "summary" in problems[("invoice.md", "error")]
    assert "copy.md" in problems[("wifi_weak.md", "error")]
    assert "fault_broadband" in problems[("broadband_outage.md", "warning")]

    (settings.content_dir / "ledger.yml").write_text("due_hours: {}\nrepeat_window_days: 7\n", encoding="utf-8")
    [problem] = ledger_problems(settings, domain_with())
    assert problem.file.endswith("ledger.yml") and "default" in problem.message
