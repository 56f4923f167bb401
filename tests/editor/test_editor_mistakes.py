"""`kefu validate` on the mistakes an editor following docs/editing.md makes: each is named once, at its line,
with what to do."""
from __future__ import annotations

import pytest

from tests.editor.conftest import edit
from tests.editor.test_validate import errors_for, line_of, problems_for


def test_an_nlu_file_that_does_not_parse_is_the_one_error(project):
    """Trying it: a lost `|` after `examples:` in faults.yml came back with four "intent 'fault_tv' has 4 examples;
    at least 40 are needed" errors beside the real one, counting without the file that did not parse."""
    faults = project / "nlu_data" / "nlu" / "faults.yml"
    text = faults.read_text(encoding="utf-8")
    faults.write_text(text.replace("examples: |", 'examples: "|', 1), encoding="utf-8")
    problems = errors_for(project)
    assert len(problems) == 1 and problems[0].startswith("nlu_data/nlu/faults.yml:") and "not valid YAML" in problems[0], problems


def test_an_error_the_desk_shows_from_the_server_is_named_when_missing(project):
    """The desk shows the server's refusal by its code, t(e.code) (agent.js showError): deleting
    `error_not_delivered_quota` (WeChat's quota used up, desk.py's error_not_delivered_<reason>) or
    `error_not_waiting` passed `kefu validate`, and the agent read the code itself."""
    import json

    desk = project / "content" / "ui" / "agent_desk.zh.json"
    strings = json.loads(desk.read_text(encoding="utf-8"))
    del strings["error_not_delivered_quota"], strings["error_not_waiting"]
    desk.write_text(json.dumps(strings, ensure_ascii=False, indent=2), encoding="utf-8")
    problems = [p for p in errors_for(project) if p.startswith("content/ui/agent_desk.zh.json")]
    assert any("'error_not_delivered_quota' is missing" in p and "bot/handoff/desk.py" in p for p in problems), problems
    assert any("'error_not_waiting' is missing" in p for p in problems), problems
    assert len(problems) == 2, problems


def test_a_misspelt_article_field_is_named_at_its_line_with_the_field_it_meant(project):
    """Trying it: `anwsers: [ask_how_to]` passed `kefu validate` and the assistant never answered with the
    article; `sumary:` came back as "missing summary" at line 1, naming neither the line nor the slip."""
    knowledge = project / "content" / "knowledge"
    edit(knowledge / "invoice.md", "answers: [ask_how_to]", "anwsers: [ask_how_to]")
    edit(knowledge / "bill_arrears.md", "summary:", "sumary:")
    edit(knowledge / "tv_no_signal.md", "intents: [", "intents: [ask_how_too, ")
    problems = [p for p in problems_for(project) if p.startswith("content/knowledge/")]
    invoice_line = line_of(project, "content/knowledge/invoice.md", "anwsers:")
    assert any(p.startswith(f"content/knowledge/invoice.md:{invoice_line}: ") and "'anwsers'" in p
               and "did you mean 'answers'" in p for p in problems), problems
    summary_line = line_of(project, "content/knowledge/bill_arrears.md", "sumary:")
    assert any(p.startswith(f"content/knowledge/bill_arrears.md:{summary_line}: ") and "'sumary'" in p
               and "did you mean 'summary'" in p for p in problems), problems
    intents_line = line_of(project, "content/knowledge/tv_no_signal.md", "intents:")
    assert any(p.startswith(f"content/knowledge/tv_no_signal.md:{intents_line}: ") and "'ask_how_too'" in p
               for p in problems), problems


def test_a_status_name_deleted_from_labels_is_named_at_its_section(project):
    """Trying it: deleting `resolved: 已处理完成` under `ticket_status` passed `kefu validate`, and a ticket
    progress answer told the customer 工单状态：resolved. A line that does not fill is named at its line too."""
    labels = project / "content" / "labels.yml"
    edit(labels, "  resolved: 已处理完成\n", "")
    edit(labels, 'visit_time: "上门时间：{when}。"', 'visit_time: "上门时间：{whn}。"')
    problems = [p for p in errors_for(project) if p.startswith("content/labels.yml")]
    section = line_of(project, "content/labels.yml", "ticket_status:")
    assert any(p.startswith(f"content/labels.yml:{section}: ") and "ticket_status.resolved" in p for p in problems), problems
    visit_time = line_of(project, "content/labels.yml", 'visit_time: "上门时间')
    assert any(p.startswith(f"content/labels.yml:{visit_time}: ") and "{whn}" not in p and "{when}" in p
               for p in problems), problems


def test_a_misspelt_renewal_article_and_a_date_that_does_not_fill_are_named_at_their_lines(project):
    """The plan's end date is told, then how to renew (the article `plan_end_renewal_article`): an id no
    article has would leave the renewal unsaid, a `date` naming a value Kefu does not give would fail it."""
    labels = project / "content" / "labels.yml"
    edit(labels, "plan_end_renewal_article: payment_methods", "plan_end_renewal_article: payment_method")
    edit(labels, 'date: "{year}年{month}月{day}日"', 'date: "{year}年{month}月{dya}日"')
    problems = [p for p in errors_for(project) if p.startswith("content/labels.yml")]
    article = line_of(project, "content/labels.yml", "plan_end_renewal_article:")
    assert any(p.startswith(f"content/labels.yml:{article}: ") and "'payment_method'" in p for p in problems), problems
    date = line_of(project, "content/labels.yml", 'date: "{year}')
    assert any(p.startswith(f"content/labels.yml:{date}: ") and "{day}" in p for p in problems), problems


@pytest.mark.parametrize("name, old, new, hint", [
    ("content/selfhelp.yml", "    fault_type: fault_tv\n", "\tfault_type: fault_tv\n", "tab"),
    ("content/labels.yml", "  open: 已受理", '  open: "已受理', "quote"),
    ("ivr_flows/main.yml", "    type: play\n", "\ttype: play\n", "tab"),
    ("ivr_flows/main.yml", "    say: 您好，欢迎致电", '    say: "您好，欢迎致电', "quote"),
    ("domain/responses.yml", '    - text: "{customer_name}，您好', '\t- text: "{customer_name}，您好', "tab"),
    ("nlu_data/nlu/faults.yml", "- intent: fault_tv\n", "- intent: 'fault_tv\n", "quote"),
    ("content/knowledge/invoice.md", "title: 发票开具", 'title: "发票开具', "quote"),
    ("content/knowledge/invoice.md", "title: 发票开具", '\ttitle: 发票开具', "tab"),
])
def test_a_tab_or_an_unclosed_quote_is_named_at_its_line_with_what_to_do(project, name, old, new, hint):
    """Trying it: a tab came back as "found character '\\t' that cannot start any token" and an unclosed quote
    as "expected <block end>, but found '<scalar>'" some lines further down: neither says what to do."""
    edit(project / name, old, new)
    line = line_of(project, name, new.rstrip("\n"))
    [problem] = errors_for(project)
    assert problem.startswith(f"{name}:{line}: ") or f"(line {line})" in problem, problem
    if hint == "tab":
        assert "indent with spaces" in problem, problem
    else:
        assert "not closed" in problem, problem


def test_a_text_a_page_shows_by_its_markup_is_named_when_missing(project):
    """Trying it: deleting `header_title` from webchat.zh.json passed `kefu validate`, and the chat's header
    read "header_title" (chat/index.html names it, data-i18n="header_title", not the script)."""
    import json

    for name, key in (("webchat.zh.json", "header_title"), ("ledger.zh.json", "filter_all")):
        path = project / "content" / "ui" / name
        strings = json.loads(path.read_text(encoding="utf-8"))
        del strings[key]
        path.write_text(json.dumps(strings, ensure_ascii=False, indent=2), encoding="utf-8")
    problems = errors_for(project)
    assert any(p.startswith("content/ui/webchat.zh.json") and "'header_title' is missing" in p
               and "chat/index.html" in p for p in problems), problems
    assert any(p.startswith("content/ui/ledger.zh.json") and "'filter_all' is missing" in p for p in problems), problems


def test_every_page_naming_texts_in_its_markup_is_looked_at():
    from bot.editor.ui_text_checks import PAGES, WEB

    named = {str(page.relative_to(WEB)) for page in WEB.rglob("*.html") if "data-i18n" in page.read_text(encoding="utf-8")}
    assert named == set(PAGES)


def test_a_poster_missing_beside_a_filmed_video_is_named(project):
    """Trying it: a filmed video saved as docs/editing.md says, with its poster not saved, passed `kefu validate`;
    the chat's video and the WeChat card (its picture is the poster) would show a picture that does not load."""
    from bot.settings import get_settings

    video = get_settings().media_dir / "selfhelp" / "tv_mosaic.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"\0")
    line = line_of(project, "content/selfhelp.yml", "poster: /media/selfhelp/tv_mosaic.jpg")
    problems = problems_for(project)
    assert any(p.startswith(f"content/selfhelp.yml:{line}: warning: ") and "/media/selfhelp/tv_mosaic.jpg" in p
               for p in problems), problems


@pytest.mark.parametrize("folder, name, logger", [("ivr_flows", "main.yml", "bot.ivr.registry"),
                                                  ("content/knowledge", "invoice.md", "bot.knowledge.index")])
def test_a_flow_or_article_saved_as_gbk_is_logged_at_its_line_in_validates_words(tmp_path, caplog, folder, name, logger):
    """A phone flow or knowledge article saved as GBK was logged by the running bot as "not UTF-8 text (byte
    213)": an offset no editor's tool shows, where every other editor's file is named at its line, as `kefu
    validate` names it (bot/editor/encoding_checks.py)."""
    import logging
    import os
    import shutil
    from pathlib import Path

    from bot.editor.encoding_checks import not_utf8
    from bot.ivr.registry import FlowRegistry
    from bot.knowledge.index import KnowledgeIndex

    shipped = Path(__file__).resolve().parents[2] / folder
    copy = tmp_path / "files"
    shutil.copytree(shipped, copy)
    reader = (FlowRegistry(copy, recheck_every_s=0).load() if logger == "bot.ivr.registry"
              else KnowledgeIndex(copy, tmp_path / "kb.sqlite3"))
    saved = copy / name
    lines = saved.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(number for number, line in enumerate(lines) if not line.isascii())
    saved.write_bytes("".join(lines[:first]).encode("utf-8") + "".join(lines[first:]).encode("gbk"))
    stat = saved.stat()
    os.utime(saved, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with caplog.at_level(logging.ERROR, logger=logger):
        reader.refresh()
    [validate_says] = not_utf8([saved])
    assert validate_says.line == first + 1
    assert f"{name}:{first + 1}: {validate_says.message}" in caplog.text, caplog.text
