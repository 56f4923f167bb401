"""`kefu validate`: each rule, on a deliberately broken copy of the shipped files."""
from __future__ import annotations

import collections
from pathlib import Path

import pytest

from bot.editor.validate import kefu_problems, report
from bot.settings import get_settings
from tests.editor.conftest import edit


def problems_for(project) -> list[str]:
    return report(kefu_problems(get_settings()), project).splitlines()


def errors_for(project) -> list[str]:
    return [line for line in problems_for(project) if ": warning: " not in line]


def test_shipped_content_has_no_errors(project):
    assert errors_for(project) == []


def test_conflicting_example_across_intents_names_both_places(project):
    faults = project / "nlu_data" / "nlu" / "faults.yml"
    text = faults.read_text(encoding="utf-8").splitlines()
    line = text.index("- intent: fault_tv") + 3  # first example of the intent (1-based)
    example = text[line - 1].strip()[2:]
    chitchat = project / "nlu_data" / "nlu" / "chitchat.yml"
    edit(chitchat, "- intent: greet\n  examples: |\n", f"- intent: greet\n  examples: |\n    - {example}\n")
    [problem] = [p for p in errors_for(project) if "also appears as intent" in p]
    assert problem.startswith(f"nlu_data/nlu/faults.yml:{line}:")
    assert "'fault_tv'" in problem and "'greet' (chitchat.yml:" in problem


def test_duplicate_example_is_a_warning(project):
    chitchat = project / "nlu_data" / "nlu" / "chitchat.yml"
    edit(chitchat, "- intent: greet\n  examples: |\n", "- intent: greet\n  examples: |\n    - 你好呀呀呀\n    - 你好呀呀呀！\n")
    assert any("duplicate example '你好呀呀呀！'" in p and ": warning: " in p for p in problems_for(project))


def test_too_few_examples(project):
    (project / "content" / "validation.yml").write_text('min_examples:\n  "fault_*": 400\n  default: 1\n', encoding="utf-8")
    problems = errors_for(project)
    assert sum("at least 400 are needed" in p for p in problems) == 4


def test_rule_with_unknown_action_and_intent(project):
    rules = project / "nlu_data" / "rules.yml"
    edit(rules, "steps: [{intent: greet}, {action: utter_greet}]", "steps: [{intent: greet}, {action: utter_greeet}]")
    edit(rules, "steps: [{intent: thanks}, {action: action_handle_thanks}]", "steps: [{intent: thankz}, {action: action_handle_thanks}]")
    problems = errors_for(project)
    assert any(p.startswith("nlu_data/rules.yml:") and "unknown action or response 'utter_greeet'" in p for p in problems)
    assert any("unknown intent 'thankz'" in p for p in problems)


def test_button_payload_with_unknown_intent(project):
    edit(project / "domain" / "responses.yml", "payload: /query_bill}", "payload: /query_bil}")
    assert any(p.startswith("domain/responses.yml:") and "unknown intent 'query_bil'" in p for p in errors_for(project))


def test_response_used_by_an_action_must_exist(project):
    edit(project / "domain" / "responses.yml", "  utter_ok:\n", "  utter_okay:\n")
    assert any(p.startswith("actions/escalation.py:") and "'utter_ok'" in p for p in errors_for(project))


def test_a_validation_reads_each_action_once_and_the_next_one_reads_the_change(project, monkeypatch):
    """Five checks each read every module of the project's actions again (120 reads of 24 files a validation).
    Read once per validation, and again by the next: an editor's edit to an action between two is seen."""
    reads = collections.Counter()
    read_text = Path.read_text

    def counted(path, *args, **kwargs):
        if project / "actions" in path.parents:
            reads[path] += 1
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    assert errors_for(project) == []
    assert reads and set(reads.values()) == {1}, reads
    edit(project / "actions" / "escalation.py", 'response="utter_ok"', 'response="utter_okk"')
    reads.clear()
    assert any(p.startswith("actions/escalation.py:") and "'utter_okk'" in p for p in errors_for(project))
    assert reads and set(reads.values()) == {1}, reads


MOSAIC_TITLE = "    title: 画面出现马赛克、卡顿\n"


@pytest.mark.parametrize(
    "old, new, message",
    [
        (MOSAIC_TITLE, f"{MOSAIC_TITLE}    link: www.kefu-demo.cn/help\n", "is not a full web address"),
        (MOSAIC_TITLE, f"{MOSAIC_TITLE}    link: https://www.example.com/help/tv/mosaic\n", "is a placeholder address"),
        ("next: tv_general_reset\n\n  - id: tv_mosaic", "next: tv_nothing\n\n  - id: tv_mosaic", "next entry 'tv_nothing' does not exist"),
        ("fault_type: fault_remote\n    general: true", "fault_type: fault_radio\n    general: true", "unknown intent 'fault_radio'"),
        ("video: {url: /media/selfhelp/wifi_weak.mp4", "video: {url: ftp:/x.mp4", "must be a full web address or a /media/ path"),
        ("    spoken: 请先给遥控器换", "    unspoken: 请先给遥控器换", "has no 'spoken'"),
        # Found by a tester: validate was clean, and the running bot ignored every catalogue edit after it.
        ("  - id: tv_channels_missing\n", "  - id: tv_mosaic\n", "duplicate entry id 'tv_mosaic' (first at line"),
    ],
    ids=["malformed-link", "placeholder-link", "dangling-next", "unknown-intent", "bad-video-url", "missing-field",
         "duplicate-id"],
)
def test_catalogue_rules(project, old, new, message):
    edit(project / "content" / "selfhelp.yml", old, new)
    assert any(p.startswith("content/selfhelp.yml:") and message in p for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("old, new, key", [
    ("    symptoms: [马赛克, 花屏, 卡顿, 画面卡, 一卡一卡, 停顿, 画面不清楚, 雪花]\n", "    symptoms: 马赛克, 花屏\n", "symptoms"),
    ("    fault_codes: [E106]\n", "    fault_codes: E106\n", "fault_codes"),
    ("    steps:\n      - 检查信号线接头是否松动、弯折或进水。\n", "    steps: 检查信号线接头是否松动、弯折或进水。\n    old_steps:\n"
     "      - 检查信号线接头是否松动、弯折或进水。\n", "steps"),
])
def test_a_catalogue_list_written_as_text_is_named_and_never_served_letter_by_letter(project, old, new, key):
    """Found in review: `symptoms: 马赛克, 花屏` (brackets forgotten) passed validation and went live as one
    symptom per character — any message with 花 or 卡 picked the mosaic entry — and steps written as one
    line were sent to customers one character per step."""
    from bot.selfhelp import CatalogueError, parse_catalogue_file

    catalogue = project / "content" / "selfhelp.yml"
    edit(catalogue, old, new)
    line = next(n for n, text in enumerate(catalogue.read_text(encoding="utf-8").splitlines(), 1)
                if text.startswith(new.splitlines()[0]))
    assert any(p.startswith(f"content/selfhelp.yml:{line}: ") and f"'{key}' must be a list" in p
               for p in errors_for(project)), errors_for(project)
    with pytest.raises(CatalogueError, match=f"'{key}' must be a list"):
        parse_catalogue_file(catalogue)


def test_an_entry_without_a_link_is_fine_and_two_with_the_same_link_are_not(project):
    assert not any("content/selfhelp.yml" in p for p in errors_for(project)), "no link: Kefu's own page"
    catalogue = project / "content" / "selfhelp.yml"
    edit(catalogue, MOSAIC_TITLE, f"{MOSAIC_TITLE}    link: https://help.kefu-demo.cn/tv\n")
    edit(catalogue, "    title: 频道变少或搜不到台\n", "    title: 频道变少或搜不到台\n    link: https://help.kefu-demo.cn/tv\n")
    assert any(p.startswith("content/selfhelp.yml:") and "is already used at line" in p for p in errors_for(project))


def test_flow_and_hotline_mistakes_point_at_their_own_line(project):
    """Found by a tester: a key used by two menu options pointed at the menu, 18 lines above it,
    and a misspelt number prompt in content/ivr.yml had no line at all."""
    edit(project / "ivr_flows" / "main.yml", "      - digits: \"2\"\n        phrases: [话费", "      - digits: \"1\"\n        phrases: [话费")
    edit(project / "content" / "ivr.yml", "utter_verification_wrong,", "utter_verification_wrnog,")
    flow = (project / "ivr_flows" / "main.yml").read_text(encoding="utf-8").splitlines()
    option = next(n for n, text in enumerate(flow, 1) if text == '      - digits: "1"' and "话费" in flow[n])
    hotline = (project / "content" / "ivr.yml").read_text(encoding="utf-8").splitlines()
    prompt = next(n for n, text in enumerate(hotline, 1) if "utter_verification_wrnog" in text)
    errors = errors_for(project)
    assert any(p.startswith(f"ivr_flows/main.yml:{option}:") and "used by two options" in p for p in errors), errors
    assert f"content/ivr.yml:{prompt}: speech.number_prompts names 'utter_verification_wrnog', which is not a response in domain/" in errors



def test_a_menu_without_the_repeat_key_is_a_warning_at_its_line(project):
    """Accessibility audit: the outbound calls' menus had no repeat key (9 opted out instead), where every
    menu of main.yml repeats on 9. An editor adding a menu is told, as for the shipped flows."""
    assert not [p for p in problems_for(project) if "does not repeat" in p], "every shipped menu repeats on 9"
    edit(project / "ivr_flows" / "arrears.yml", '      - digits: "9"\n        phrases: [重听, 再说一遍]\n        target: ask_heard\n', "")
    flow = (project / "ivr_flows" / "arrears.yml").read_text(encoding="utf-8").splitlines()
    line = flow.index("  ask_heard:") + 1
    [problem] = [p for p in problems_for(project) if "does not repeat" in p]
    assert problem.startswith(f"ivr_flows/arrears.yml:{line}: warning: node 'ask_heard': key 9 does not repeat"), problem

def test_yaml_syntax_error_points_at_the_line(project):
    (project / "nlu_data" / "nlu" / "broken.yml").write_text('version: "3.1"\nnlu:\n  - intent: greet\n    examples: [\n', encoding="utf-8")
    assert any(p.startswith("nlu_data/nlu/broken.yml:") and "not valid YAML" in p for p in errors_for(project))


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("      - digits: \"2\"\n        phrases: [话费", "      - digits: \"1\"\n        phrases: [话费", "key '1' is used by two options"),
        ("phrases: [留言, 语音留言]", "phrases: [留言, 故障]", "phrase '故障' is already used by option 1"),
        ("    next: selfhelp_sent", "    next: goodbye", "node 'selfhelp_sent' cannot be reached"),
        ("    skill: general\n    priority: 1", "    skill: gardening\n    priority: 1", "skill 'gardening' is not a skill group"),
        ("    on_handoff: wait_for_agent\n    keys: {\"0\": agent_route, \"*\": main_menu}\n    next: anything_else\n\n  fault_bot",
         "    on_handoff: wait_for_queue\n    keys: {\"0\": agent_route, \"*\": main_menu}\n    next: anything_else\n\n  fault_bot",
         "names no node: 'wait_for_queue'"),
        ("intro: /manage_service", "intro: /manage_services", "intro '/manage_services' names an unknown intent"),
        ("    selfhelp: all", "    selfhelp: [bb_restart, bb_reboot]", "selfhelp 'bb_reboot' is not an entry"),
        ("    type: hangup\n    say: 感谢您的来电，再见。", "    type: hangup\n    colour: red\n    say: 感谢您的来电，再见。", "not a field"),
        # Found by a tester: a node pasted twice gave seven "cannot be reached" errors, none naming it.
        ("\n  goodbye:\n", "\n  main_menu:\n    type: hangup\n    say: 再见。\n\n  goodbye:\n", 'duplicate key "main_menu"'),
    ],
    ids=["duplicate-key", "duplicate-phrase", "unreachable-node", "unknown-skill", "unknown-wait-node", "unknown-intent",
         "unknown-selfhelp", "schema",
         "node-twice"],
)
def test_flow_rules(project, old, new, message):
    edit(project / "ivr_flows" / "main.yml", old, new)
    problems = errors_for(project)
    assert any(p.startswith("ivr_flows/main.yml:") and message in p for p in problems), problems


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("repair_chased: 【客服】您的报修工单{ticket_id}", "repair_chased: 【客服】您的报修工单{ticket}", "`repair_chased` does not fill"),
        ("工单号{ticket_id}，", "工单号，", "`repair_registered` must name {ticket_id}"),
        ("step_line: ", "step_lines: ", "`step_line` is missing"),
        ("图文和视频指引：{link}", "图文和视频指引：｛link｝", "`selfhelp` writes ｛link｝ with full-width braces"),
        ('step_line: "{number}. {step}"', 'step_line: "{number}. {step.text}"', "`step_line` does not fill"),
    ],
    ids=["unknown-placeholder", "no-ticket-number", "missing-template", "full-width-braces", "attribute"],
)
def test_outbound_templates_must_fill(project, old, new, message):
    edit(project / "content" / "outbound.yml", old, new)
    problems = errors_for(project)
    assert any(p.startswith("content/outbound.yml:") and message in p for p in problems), problems


def test_a_ticket_summary_line_missing_or_with_an_unknown_value(project):
    labels = project / "content" / "labels.yml"
    text = labels.read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.strip().startswith("visit:") and "{said}" in l)
    edit(labels, line + "\n", "")
    assert any(p.startswith("content/labels.yml") and "no 'visit' line" in p for p in errors_for(project))
    labels.write_text(text.replace("{said}", "{customer}", 1), encoding="utf-8")
    assert any(p.startswith("content/labels.yml") and "['customer']" in p for p in errors_for(project))


def test_a_ticket_history_line_missing_or_with_an_unknown_value(project):
    """The lines the ledger page reads each ticket's notes through (bot/ticket_notes.py)."""
    labels = project / "content" / "labels.yml"
    text = labels.read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.strip().startswith("reported_again:"))
    edit(labels, line + "\n", "")
    assert any(p.startswith("content/labels.yml") and "ticket_history has no 'reported_again' line" in p
               for p in errors_for(project))
    labels.write_text(text.replace(line, line.replace("{said}", "{words}")), encoding="utf-8")
    assert any(p.startswith("content/labels.yml") and "ticket_history 'reported_again' uses ['words']" in p
               for p in errors_for(project))


@pytest.mark.parametrize("old, new, named", [
    ('complaint: "客户投诉：{said}"', 'complaint: "客户投诉：{said:d}"', "ticket_summary 'complaint'"),
    ('complaint: "客户投诉：{said}"', 'complaint: "客户投诉：{said!a}{said!q}"', "ticket_summary 'complaint'"),
    ('complaint: "客户投诉：{said}"', 'complaint: "客户投诉：｛said｝"', "ticket_summary 'complaint'"),
])
def test_a_ticket_summary_line_that_does_not_fill_is_named(project, old, new, named):
    """Found in review: a summary line naming a value it may use with a format the customer's words do
    not take ({said:d}) passed `kefu validate`, and every complaint then failed as it was written (the
    ticket's ValueError); one with full-width braces was shown to agents as written."""
    edit(project / "content" / "labels.yml", old, new)
    assert any(p.startswith("content/labels.yml") and named in p for p in errors_for(project)), errors_for(project)


def test_a_number_in_a_word_list_is_a_word(project):
    """Customers ask for "1000兆的宽带": an editor adding 1000 to plan_question.broadband wrote a list in
    brackets, and kefu validate said it must be a list in brackets (the bot kept its last good labels; at a
    first start every answer reading them failed). A number is read as its text, as a customer types it."""
    from actions.accounts import plans_asked_about
    from bot.labels import parse_labels

    edit(project / "content" / "labels.yml", "  broadband: [宽带, 光纤, 网速, 千兆, 百兆, 兆的]",
         "  broadband: [宽带, 光纤, 网速, 千兆, 百兆, 兆的, 1000]")
    assert not any("plan_question" in p for p in errors_for(project)), errors_for(project)
    words = parse_labels(project / "content" / "labels.yml")["plan_question"]
    plans = [{"name": "电视", "category": "tv"}, {"name": "宽带", "category": "broadband"}]
    assert plans_asked_about(plans, "有1000的吗", words) == [{"name": "宽带", "category": "broadband"}]


def test_a_ticket_history_line_that_does_not_fill_is_named(project):
    """The ledger page reads every note through its line: {note:>10d} failed the page of such a ticket."""
    labels = project / "content" / "labels.yml"
    line = next(l for l in labels.read_text(encoding="utf-8").splitlines() if l.strip().startswith("step_closed:"))
    edit(labels, line, line.replace("{note}", "{note:>10d}"))
    assert any(p.startswith("content/labels.yml") and "ticket_history 'step_closed'" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("old, new, named", [
    ('bill_line: "{period}：{amount}元（{status}）"', 'bill_line: "{period}：{amout}元（{status}）"', "`bill_line`"),
    ('plan_line: "{name}：', 'plan_line: "{plan}：', "`plan_line`"),
    ('date: "{month}月{day}日（{weekday}）"', 'date: "{month}月{day}日（{weekday:d}）"', "`visit_when.date`"),
    ('visit_time: "上门时间：{when}。"', 'visit_time: "上门时间：{time}。"', "`ticket_progress.visit_time`"),
])
def test_a_line_an_answer_fills_in_that_does_not_fill_is_named(project, old, new, named):
    """Found in review: `kefu validate` passed a bill line naming {amout}; every bill answer then failed
    (the action's KeyError), as would every plan list or visit time told with such a line."""
    labels = project / "content" / "labels.yml"
    edit(labels, old, new)
    assert any(p.startswith("content/labels.yml") and named in p and "cannot be filled in" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("old, new, named", [
    ("weekdays: [周一, 周二, 周三, 周四, 周五, 周六, 周日]", "weekdays: [周一, 周二, 周三, 周四, 周五, 周六]", "`visit_when.weekdays`"),
    ("weekdays: [周一, 周二, 周三, 周四, 周五, 周六, 周日]", "weekdays: 周一二三四五六日", "`visit_when.weekdays`"),
    ("ticket_status:\n", "ticket_states:\n", "`ticket_status`"),
    ("bill_status:\n  paid: 已缴\n  unpaid: 未缴\n", "bill_status: [已缴, 未缴]\n", "`bill_status`"),
    ("visit_named: [上门, 师傅, 师父, 维修人员, 装机]", "visit_named: 上门、师傅、师父、维修人员、装机", "`visit_named`"),
    ("  minutes: [通话, 分钟, 打电话]", "  minutes: 通话 分钟 打电话", "`bill_question.minutes`"),
    # as one text its characters would be the words, 包 not among them: "电视包" would pick 4K超清电视包
    # (actions/plan_named.py)
    ("plan_pick_generic_words: [套餐, 宽带, 电视, 融合, 包]", "plan_pick_generic_words: 套餐电视",
     "`plan_pick_generic_words`"),
    ('ticket_progress:\n  visit_time: "上门时间：{when}。"\n  visit_no_time: "上门时间未定，师傅上门前会先电话联系您确认。"   '
     '# a visit with no time promised yet\n  visit_cancel_requested: ',
     'ticket_progress:\n  - "上门时间：{when}。"\n  - "上门时间未定。"\n  - ', "`ticket_progress`"),
])
def test_names_an_answer_looks_up_are_named_when_they_cannot_be(project, old, new, named):
    """Found in review: six weekdays failed every visit booked for a Sunday (IndexError in the answer);
    a renamed ticket_status section every ticket progress answer, a bill_status list every bill answer.
    A word list written as one text is looked through character by character: with visit_named so,
    any message with 门 or 师 was taken as about a visit; "话费还剩多少" heard the minutes used."""
    edit(project / "content" / "labels.yml", old, new)
    assert any(p.startswith("content/labels.yml") and named in p for p in errors_for(project)), errors_for(project)


def test_a_service_the_nlu_or_a_button_gives_without_a_name_is_named(project):
    """The service answer looks what the customer asked for up in labels' service_action: a new service's
    examples and button without a name there asked the customer again which service, however they said it."""
    edit(project / "nlu_data" / "nlu" / "account.yml", "    - 我要[开通](service_action:open)宽带\n",
         "    - 我要[开通](service_action:open)宽带\n    - 我要[携号转网](service_action:port_out)\n    - 帮我[换号](service_action)\n")
    edit(project / "domain" / "responses.yml", '"service_action": "transfer"}', '"service_action": "transfer_owner"}')
    errors = errors_for(project)
    lines = (project / "nlu_data" / "nlu" / "account.yml").read_text(encoding="utf-8").splitlines()
    port_out, close = lines.index("    - 我要[携号转网](service_action:port_out)") + 1, lines.index("    - 帮我[换号](service_action)") + 1
    button = next(n for n, text in enumerate((project / "domain" / "responses.yml").read_text(encoding="utf-8")
                                             .splitlines(), 1) if "transfer_owner" in text)
    for where, value in ((f"nlu_data/nlu/account.yml:{port_out}:", "port_out"), (f"nlu_data/nlu/account.yml:{close}:", "换号"),
                         (f"domain/responses.yml:{button}:", "transfer_owner")):
        assert any(p.startswith(where) and f"the service '{value}'" in p and "service_action" in p for p in errors), errors


def test_a_service_marked_with_words_a_synonym_maps_is_named_by_its_value(project):
    """"[开通](service_action)" reaches the answer as "open": nlu_data/nlu/regexes.yml maps 开通 to it."""
    edit(project / "nlu_data" / "nlu" / "account.yml", "    - 我要[开通](service_action:open)宽带\n",
         "    - 我要[开通](service_action:open)宽带\n    - 帮我[开通](service_action)电视\n")
    assert not any("the service '开通'" in p for p in errors_for(project)), errors_for(project)


def test_a_service_marked_with_words_another_example_gives_a_value_is_named_by_it(project):
    """Rasa's synonyms are also the words an example marks with another value ("[提速](service_action:upgrade)"),
    read whatever their case: "[提速](service_action)" and "[Iptv](service_action)" reach the answer as
    "upgrade" and "open", so kefu validate must not call them services without a name (found in review)."""
    edit(project / "nlu_data" / "nlu" / "account.yml", "    - 我要[开通](service_action:open)宽带\n",
         "    - 我要[开通](service_action:open)宽带\n    - 帮我[提速](service_action:upgrade)到千兆\n"
         "    - 宽带能[提速](service_action)吗\n    - 我要[IPTV](service_action:open)\n"
         "    - 帮我开个[Iptv](service_action)\n")
    errors = errors_for(project)
    assert not any("the service '提速'" in p or "the service 'Iptv'" in p for p in errors), errors


def test_waiting_room_words_written_as_one_text_are_named(project):
    """Found in review: "leave_words: 不等了，不排了" was read as its characters, and a customer waiting for
    an agent who typed "不好意思，还要多久" left the queue."""
    words = project / "content" / "waiting_room.yml"
    listed = next(line for line in words.read_text(encoding="utf-8").splitlines() if line.startswith("leave_words:"))
    edit(words, listed, "leave_words: 不等了，不排了，取消排队")
    assert any(p.startswith("content/waiting_room.yml") and "`leave_words` must be a list" in p
               for p in errors_for(project)), errors_for(project)


def test_a_month_written_with_two_digits_is_a_line_that_fills(project):
    edit(project / "content" / "labels.yml", 'month: "{year}年{month}月"', 'month: "{year}-{month:02d}"')
    assert not any(p.startswith("content/labels.yml") for p in errors_for(project))


def line_of(project, relative: str, new: str) -> int:
    """The line of the project's file ``relative`` that holds ``new`` (lines move as the file is edited)."""
    text = (project / relative).read_text(encoding="utf-8")
    return next(n for n, said in enumerate(text.splitlines(), 1) if new in said)


def assert_named_at_its_line(project, relative: str, new: str, named: str) -> None:
    """`kefu validate` names the problem at the line of the file that now holds ``new``."""
    line = line_of(project, relative, new)
    errors = errors_for(project)
    assert any(p.startswith(f"{relative}:{line}: ") and named in p for p in errors), errors


@pytest.mark.parametrize("name, old, new, named", [
    ("webchat.zh.json", '"notice_cut": "您的消息超过 {limit} 字', '"notice_cut": "您的消息超过 {} 字', "'notice_cut' cannot be filled in"),
    ("webchat.zh.json", '"notice_cut": "您的消息超过 {limit} 字', '"notice_cut": "您的消息超过 {上限} 字', "'notice_cut' names {上限}"),
    ("webchat.zh.json", '"notice_cut_draft": "消息最多 {limit} 字', '"notice_cut_draft": "消息最多 ｛limit｝ 字', "'notice_cut_draft' writes ｛limit｝"),
    ("report.zh.json", '"period": "统计区间：{start} 至 {end}', '"period": "统计区间：{from} 至 {to}', "'period' cannot be filled in"),
    ("report.zh.json", '"column_score": "{score}分"', '"column_score": "{分数}分"', "'column_score' cannot be filled in"),
    ("report.zh.json", '"kpi_service_level": "服务水平（{seconds}秒内接通）"', '"kpi_service_level": "服务水平（{seconds:d}秒内接通）"', "'kpi_service_level' cannot be filled in"),
    ("report.zh.json", '"live_updated": "更新于 {time}"', '"live_updated": "更新于 ｛time｝"', "'live_updated' writes ｛time｝"),
])
def test_a_page_text_that_does_not_fill_is_named_at_its_line(project, name, old, new, named):
    """Found in review: `kefu validate` read nothing of content/ui/ but its syntax. A cut notice with "{}"
    failed every long REST or WeChat message; a report label naming what it is not given ended
    `kefu report` in a traceback; a text with full-width braces was shown with them as written."""
    edit(project / "content" / "ui" / name, old, new)
    assert_named_at_its_line(project, f"content/ui/{name}", new, named)


@pytest.mark.parametrize("old, new, named", [
    ("需要等待约{wait_minutes}分钟。通过短信", "需要等待约{wait_minute}分钟。通过短信", "names {wait_minute}"),
    ("您排在第{position}位", "您排在第｛position｝位", "writes ｛position｝ with full-width braces"),
    ("您输入了{count}位数字，手机号码", "您输入了{count:s}位数字，手机号码", "cannot be filled in"),
    ("reminder: 您仍在排队，请不要挂机", "reminder: 您仍在排队（第｛position｝位），请不要挂机", "hold.reminder writes ｛position｝"),
])
def test_a_phone_text_naming_what_the_call_does_not_have_is_named(project, old, new, named):
    """Found in review: a caller waiting for an agent heard "预计等待约分钟" ({wait_minute}: nothing in its
    place), or the braces and the name read out; `kefu validate` passed both."""
    edit(project / "ivr_flows" / "main.yml", old, new)
    assert_named_at_its_line(project, "ivr_flows/main.yml", new, named)


PEAK_CASE = "      - when: {queue_wait_over_s: 180, skill: general}\n        target: peak_offer\n"
LONG_WAIT_SAY = "  long_wait_say: 当前咨询人数较多"


@pytest.mark.parametrize("old, new, at, named", [
    (PEAK_CASE, "", LONG_WAIT_SAY, "field 'hold.long_wait_say': no `queue_wait_over_s` condition in the flow says "
                                   "when the wait is long: write `hold.long_wait_over_s` (seconds)"),
    (PEAK_CASE, PEAK_CASE + PEAK_CASE.replace("180", "600"), LONG_WAIT_SAY,
     "the flow's `queue_wait_over_s` conditions differ (180 at 'agent_route' cases[2], 600 at 'agent_route' cases[3])"),
    (LONG_WAIT_SAY, "  long_wait_over_s: 三分钟\n" + LONG_WAIT_SAY, "long_wait_over_s: 三分钟",
     "field 'hold.long_wait_over_s': seconds, a number from 0 to 7200, got '三分钟'"),
])
def test_the_wait_the_offer_on_hold_is_said_past_is_the_routes_or_named(project, old, new, at, named):
    """The threshold of main.yml's long-wait offer on hold was written twice (the route's peak case and
    ``hold.long_wait_over_s``, 180 each); the hold now reads the route's. Where there is none to read, or several
    that differ, or its own is no number of seconds, `kefu validate` says so at the hold's line."""
    edit(project / "ivr_flows" / "main.yml", old, new)
    assert_named_at_its_line(project, "ivr_flows/main.yml", at, named)


def test_the_routes_wait_written_again_on_hold_is_a_warning(project):
    """Written again (as main.yml had it), the two drift apart when an editor changes one of them."""
    edit(project / "ivr_flows" / "main.yml", LONG_WAIT_SAY, "  long_wait_over_s: 180\n" + LONG_WAIT_SAY)
    line = line_of(project, "ivr_flows/main.yml", "long_wait_over_s: 180")
    assert any(p.startswith(f"ivr_flows/main.yml:{line}: warning: ") and "repeats the 180 s" in p
               for p in problems_for(project)), problems_for(project)
    assert errors_for(project) == []
    edit(project / "ivr_flows" / "main.yml", "long_wait_over_s: 180", "long_wait_over_s: 300")  # its own, on purpose
    assert not any("long_wait_over_s" in p for p in problems_for(project))


def test_a_phone_text_naming_several_unset_variables_names_every_one(project):
    """Found in review: a text with two names the call never has (预计等待约{wait_minute}分钟，第{positon}位)
    was reported for the first only; the editor fixed it, saved, and the caller still heard a gap."""
    edit(project / "ivr_flows" / "main.yml", "预计需要等待约{wait_minutes}分钟。通过短信",
         "预计需要等待约{wait_minute}分钟，您排在第{positon}位。通过短信")
    line = line_of(project, "ivr_flows/main.yml", "您排在第{positon}位。通过短信")
    found = [p for p in errors_for(project) if p.startswith(f"ivr_flows/main.yml:{line}: ")]
    assert len(found) == 1 and "{positon}" in found[0] and "{wait_minute}" in found[0], found


def test_a_ticket_number_said_after_a_callback_that_books_nothing_for_an_anonymous_caller_is_named(project):
    """Found in review: a callback node without `ask_number` books nothing for a caller whose number nobody
    vouched for (the softphone's, or any stream choosing the flow): they hear prompts.unverified_no_callback and
    go on to its `next`, where "工单号{ticket_id}" was said with nothing in its place; `kefu validate` passed it.
    With `ask_number` (main.yml) that caller keys a number and is booked: {ticket_id} is theirs there."""
    edit(project / "ivr_flows" / "main.yml", "已为您预约回电，客服人员", "已为您预约回电，工单号{ticket_id}，客服人员")
    edit(project / "ivr_flows" / "care.yml", "    on_failure: ask_csat\n", "")
    edit(project / "ivr_flows" / "care.yml", "好的，我们已为您预约人工回电，工作人员会在{callback_by}前联系您。",
         "好的，我们已为您预约人工回电，工单号{ticket_id}。")  # the ticket alone, so the problem names it
    assert_named_at_its_line(project, "ivr_flows/care.yml", "工单号{ticket_id}", "names {ticket_id}, which the call has not set")
    assert not [p for p in errors_for(project) if p.startswith("ivr_flows/main.yml:")], errors_for(project)


def test_the_time_promised_by_a_callback_node_may_be_named_where_it_booked_and_only_there(project):
    """Found on a live call: after hours main.yml's callback_booked said 客服人员会尽快给您回电 for a callback
    booked for the next opening. The engine now sets {callback_by} with the ticket (as a hold key's booking
    does), and the shipped texts name it; the checker knew it only from a hold key and refused them. A callback
    that books nothing for an anonymous caller (care.yml without `on_failure`) still has it unset."""
    assert errors_for(project) == []
    edit(project / "ivr_flows" / "care.yml", "    on_failure: ask_csat\n", "")
    assert_named_at_its_line(project, "ivr_flows/care.yml", "会在{callback_by}前联系您",
                             "names {callback_by}, which the call has not set")


def test_a_callback_that_books_nothing_for_an_anonymous_caller_and_goes_on_as_if_booked_is_named(project):
    """Found in review: care.yml's callback had neither `ask_number` nor `on_failure`, so a stream choosing the
    flow (`flow=care`, a number nobody vouched for) was booked nothing, heard so, and then 我们已为您预约人工回电
    from its `next`; `kefu validate` passed it. `on_failure` (care.yml) or `ask_number` (main.yml) is the fix."""
    edit(project / "ivr_flows" / "care.yml", "    on_failure: ask_csat\n", "")
    assert_named_at_its_line(project, "ivr_flows/care.yml", "  needs_help:", "is booked no callback here and goes on to "
                             "'needs_help_said' as if booked")
    assert not [p for p in errors_for(project) if p.startswith(("ivr_flows/main.yml:", "ivr_flows/arrears.yml:"))]


def test_a_callback_that_asks_for_a_number_but_has_nowhere_to_go_when_refused_is_named(project):
    """Found in review: main.yml's callback without `on_failure` went on to callback_booked (已为您预约回电，客服
    人员会在前给您回电) when the database refused the ticket; `kefu validate` passed it, since it has `ask_number`."""
    edit(project / "ivr_flows" / "main.yml", "    on_failure: leave_message   # nothing booked", "    # nothing booked")
    assert_named_at_its_line(project, "ivr_flows/main.yml", "  book_callback:", "give it `on_failure`")


def test_a_text_that_sends_nothing_to_an_anonymous_caller_and_goes_on_as_if_sent_is_named(project):
    """Found in review: a notify node with neither `ask_number` nor `on_failure` sends nothing to a stream whose
    number nobody vouched for, and then goes on to its `next`, which may say 短信已发送; `kefu validate` passed it,
    though it names such a callback node. `ask_number` (main.yml) or `on_failure` is the fix."""
    main = project / "ivr_flows" / "main.yml"
    edit(main, "    ask_number: ask_sms_number\n", "")
    assert not [p for p in errors_for(project) if "goes on to 'selfhelp_sent'" in p]  # on_failure: selfhelp_not_sent
    edit(main, "    on_failure: selfhelp_not_sent   #", "    #")
    assert_named_at_its_line(project, "ivr_flows/main.yml", "  send_selfhelp:", "is sent no text here and goes on "
                             "to 'selfhelp_sent' as if sent")


def test_a_report_label_the_report_reads_missing_is_named(project):
    """Found in review: without its "axis_hour" label `kefu report` ended in a KeyError traceback."""
    strings = project / "content" / "ui" / "report.zh.json"
    text = strings.read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.strip().startswith('"axis_hour"'))
    edit(strings, line + "\n", "")
    assert any(p.startswith("content/ui/report.zh.json") and "'axis_hour' is missing" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("name, old, new, named", [
    ("webchat.zh.json", "您排在第 {position} 位", "您排在第 {place} 位", "'queue_status' names {place}"),
    ("agent_desk.zh.json", '"transfer_item": "{agent_name} 于', '"transfer_item": "{agent} 于', "'transfer_item' names {agent}"),
    ("report.zh.json", '"live_updated": "更新于 {time}"', '"live_updated": "更新于 {updated}"', "'live_updated' names {updated}"),
    ("softphone.zh.json", '"incoming_from": "{from} 呼叫 {to}"', '"incoming_from": "{caller} 呼叫 {to}"', "'incoming_from' names {caller}"),
])
def test_a_page_text_naming_what_its_page_does_not_give_is_named(project, name, old, new, named):
    """Found in review: a chat customer waiting for an agent read "您排在第 {place} 位" (the page fills
    {position}); an agent's transfer line, the supervisor's live panel, the softphone: the same."""
    edit(project / "content" / "ui" / name, old, new)
    assert_named_at_its_line(project, f"content/ui/{name}", new, named)


@pytest.mark.parametrize("old, new, named", [
    ('button: "{title}请按{digit}"', 'button: "{}{title}请按{digit}"', "speech.button"),
    ('link_line: "{title} {url}"', 'link_line: "{titel} {url}"', "prompts.link_line names {titel}"),
    ('link_line: "{title} {url}"', 'link_line: "{title} ｛url｝"', "prompts.link_line writes ｛url｝"),
    ('link_message: "广电网络客服为您发送的指引：\\n{links}"', 'link_message: "广电网络客服为您发送的指引：\\n{link}"',
     "prompts.link_message names {link}"),
])
def test_a_hotline_text_that_does_not_fill_is_named(project, old, new, named):
    """Found in review: a button wording with "{}" ended `kefu validate` itself in an IndexError traceback
    (and the hotline's settings failed to load); a link line naming {titel} texted callers their links
    without titles, ｛url｝ without the links, and passed."""
    edit(project / "content" / "ivr.yml", old, new)
    assert any(p.startswith("content/ivr.yml") and named in p for p in errors_for(project)), errors_for(project)


def test_a_hotline_without_its_line_busy_prompt_is_named(project):
    """The caller ended to make room for the carrier's own caller hears prompts.line_busy (bot/ivr/session.py):
    a file without it would leave them to silence, so it is required like the other prompts the phone says."""
    hotline = project / "content" / "ivr.yml"
    line = next(l for l in hotline.read_text(encoding="utf-8").splitlines() if l.strip().startswith("line_busy:"))
    edit(hotline, line + "\n", "")
    assert any(p.startswith("content/ivr.yml") and "prompts.line_busy is missing" in p
               for p in errors_for(project)), errors_for(project)


def test_hotline_word_lists_written_as_one_text_are_named(project):
    """Found in review: `unfinished_starts: 我想、那个` was read character by character, so a caller who said
    only "我" or "那" was waited for as if they had more to say, and "想" alone too."""
    hotline = project / "content" / "ivr.yml"
    text = hotline.read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.strip().startswith("unfinished_starts:"))
    edit(hotline, line, "  unfinished_starts: 我想、那个、嗯")
    assert any(p.startswith("content/ivr.yml") and "speech.unfinished_starts must be a list" in p
               for p in errors_for(project)), errors_for(project)


def test_a_reply_that_breaks_the_yaml_is_the_one_error_reported(project):
    """Found by a tester: one ASCII colon in a reply came back as 52 errors about developers' files,
    the real one sorted somewhere in the middle."""
    edit(project / "domain" / "responses.yml", "    - text: 不客气，很高兴能帮到您。", "    - text: 不客气: 很高兴能帮到您。")
    line = line_of(project, "domain/responses.yml", "不客气: 很高兴能帮到您。")
    assert len(errors_for(project)) == 1 and errors_for(project)[0].startswith(f"domain/responses.yml:{line}:")


def test_a_verification_level_that_changes_nothing_is_named(project):
    """Found by a tester: `ask_how_to: verified` and `query_plan: identified` were accepted and did nothing."""
    edit(project / "content" / "verification.yml", "requests:\n", "requests:\n  ask_how_to: verified\n  complaint: public\n")
    edit(project / "content" / "verification.yml", "  complaint: identified\n", "")
    problems = [p for p in problems_for(project) if p.startswith("content/verification.yml")]
    assert any("`ask_how_to`: its answer never reads a level" in p for p in problems), problems
    assert any("`complaint: public` acts as `identified`" in p for p in problems), problems
    assert all(": warning: " in p for p in problems)


def test_every_verification_mistake_is_named_at_its_line(project):
    """Found by a tester: `complaint: verifed` came back with no line, the path twice and a Python dict,
    and the misspelt `book_vist` below it only once that was fixed."""
    edit(project / "content" / "verification.yml", "  complaint: identified\n", "  complaint: verifed\n")
    edit(project / "content" / "verification.yml", "  book_visit: verified\n", "  book_vist: verified\n")
    lines = (project / "content" / "verification.yml").read_text(encoding="utf-8").splitlines()
    line = {word: next(n for n, text in enumerate(lines, 1) if text.startswith(f"  {word}:")) for word in ("complaint", "book_vist")}
    errors = [p for p in errors_for(project) if p.startswith("content/verification.yml")]
    assert errors == [
        f"content/verification.yml:{line['complaint']}: `complaint: verifed` is not a level; use one of public, identified, verified",
        f"content/verification.yml:{line['book_vist']}: `book_vist` is neither an intent nor a request an action answers",
    ], errors


def test_an_example_marking_an_unknown_entity_is_named(project):
    """Found by a tester: "[E301](fault_cod)" passed, training an entity nobody reads."""
    edit(project / "nlu_data" / "nlu" / "account.yml", "[13812345678](phone_number)", "[13812345678](phone_numbr)")
    assert any(p.startswith("nlu_data/nlu/account.yml:11:") and "unknown entity 'phone_numbr'" in p
               for p in errors_for(project)), errors_for(project)


def test_a_reply_placeholder_nothing_fills_is_named(project):
    """Found by a tester: "{customer_nmae}，您好" passed; customers would have read the braces."""
    edit(project / "domain" / "responses.yml", "{customer_name}", "{customer_nmae}")
    assert any(p.startswith("domain/responses.yml:") and "nothing fills {customer_nmae}" in p
               for p in errors_for(project)), errors_for(project)


def test_a_reply_placeholder_in_full_width_braces_is_named(project):
    """Rasa fills only ASCII braces: "工单号 ｛ticket_id｝" (a Chinese input method's) reached customers as written."""
    desk_close = project / "domain" / "desk_close.yml"
    edit(desk_close, "工单号 {ticket_id}。", "工单号 ｛ticket_id｝。")
    line = next(n for n, text in enumerate(desk_close.read_text(encoding="utf-8").splitlines(), 1) if "｛ticket_id｝" in text)
    assert any(p.startswith(f"domain/desk_close.yml:{line}:") and "｛ticket_id｝" in p and "full-width" in p
               for p in errors_for(project)), errors_for(project)


def test_kefu_validate_prints_no_tensorflow_start_up_chatter(project):
    """Found by a tester: `kefu validate` (which loads Rasa) opened with TensorFlow's CPU, CUDA and TensorRT notes."""
    import os
    import re
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "validate"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "0 error(s)" in done.stdout, done.stdout + done.stderr
    notes = re.findall(r"^.*: [IW] tensorflow/.*$", done.stderr, re.MULTILINE)  # TensorFlow's C++ log lines
    assert notes == [] and "TensorRT" not in done.stderr, done.stderr


def test_kefu_validate_prints_its_problems_not_its_log(tmp_path):
    """README (Operations, Logs): a one-shot command prints only its result; its log goes to
    var/logs/cli.log. `kefu validate` printed its info lines (editor_file.loaded, Rasa's validator) on
    stderr around the problems: importing the actions set the log back to the console; and Rasa's
    progress bar of the story check ("Processed story blocks: 100%|...")."""
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    env = {k: v for k, v in os.environ.items()  # a shell's: no log level set (Rasa sets TensorFlow's in pytest)
           if k not in ("KEFU_LOG_LEVEL", "KEFU_DATABASE_URL", "TF_CPP_MIN_LOG_LEVEL")}
    env["KEFU_DATA_DIR"] = str(tmp_path / "var")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "validate"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "0 error(s)" in done.stdout, done.stdout + done.stderr
    assert done.stderr == ""
    assert "editor_file.loaded" in (tmp_path / "var" / "logs" / "cli.log").read_text(encoding="utf-8")


def test_a_first_prompt_or_chat_greeting_without_the_recording_notice_is_an_error(project):
    """A privacy audit found callers' voices recorded for agents without a word to the caller."""
    edit(project / "ivr_flows" / "main.yml", "本次通话将被录音，", "")
    strings = project / "content" / "ui" / "webchat.zh.json"
    edit(strings, "本次对话会被记录并按规定期限保存。", "")
    problems = errors_for(project)
    assert any(p.startswith("ivr_flows/main.yml:") and "'welcome'" in p and "录音" in p for p in problems), problems
    assert any(p.startswith("content/ui/webchat.zh.json:") and "记录" in p for p in problems), problems
    assert not any(p.startswith("ivr_flows/care.yml:") for p in problems)


def test_a_poster_outside_the_media_folder_is_an_error(project):
    """Found in review: only the video's path was checked, and the renderer writes the poster."""
    edit(project / "content" / "selfhelp.yml", "poster: /media/selfhelp/tv_mosaic.jpg",
         "poster: /media/../../tv_mosaic.jpg")
    assert any(p.startswith("content/selfhelp.yml:") and "/media/../../tv_mosaic.jpg points outside the media folder"
               in p for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("name", ["content/selfhelp.yml", "nlu_data/nlu/faults.yml", "content/knowledge/invoice.md",
                                  "ivr_flows/main.yml"])
def test_a_file_saved_in_another_encoding_than_utf8_is_named_at_its_line(project, name):
    """An editor's Windows tool saved a file as GBK: `kefu validate` stopped with a UnicodeDecodeError
    traceback that named no file."""
    path = project / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first_chinese = next(number for number, line in enumerate(lines, start=1) if not line.isascii())
    path.write_bytes("".join(lines).encode("gbk", errors="replace"))
    [problem] = errors_for(project)
    assert problem.startswith(f"{name}:{first_chinese}: ") and "UTF-8" in problem, problem


def test_kefu_validate_with_rasas_checks_names_a_gbk_file_too(project, capsys):
    import argparse

    from bot.editor.commands import cmd_validate

    path = project / "domain" / "responses.yml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk", errors="replace"))
    assert cmd_validate(argparse.Namespace(quick=False)) == 1
    out = capsys.readouterr().out
    [problem, summary] = out.strip().splitlines()  # Rasa's checks, reading it as no domain, would add 5 false warnings
    assert problem.startswith("domain/responses.yml:2: ") and "not UTF-8" in problem, problem
    assert summary == "1 error(s), 0 warning(s)"


def test_flows_in_the_configured_flows_folder_are_the_ones_checked(project, tmp_path, monkeypatch):
    """KEFU_IVR_FLOWS_DIR (the README's settings table) names where the hotline reads its flows; `kefu
    validate` checked the checkout's ivr_flows/ instead and passed a flow the server then refused."""
    import shutil

    flows = tmp_path / "hotline-flows"
    shutil.copytree(project / "ivr_flows", flows)
    monkeypatch.setenv("KEFU_IVR_FLOWS_DIR", str(flows))
    get_settings.cache_clear()
    edit(flows / "main.yml", "      - digits: \"2\"\n        phrases: [话费", "      - digits: \"1\"\n        phrases: [话费")
    problems = report(kefu_problems(get_settings()), project).splitlines()
    assert any(str(flows / "main.yml") in p and "used by two options" in p for p in problems), problems


@pytest.mark.parametrize("name, old, new, at_line, message", [
    # a save `kefu validate` stopped at with a traceback naming no file
    ("content/handoff.yml", "default_skill: general", "default_skill: [general", True, "not valid YAML"),
    ("content/validation.yml", "min_examples:", "min_examples: [", True, "not valid YAML"),
    ("content/ui/webchat.zh.json", '{', '{"trailing": 1,,', True, "not valid JSON"),
    # a save it passed while the bot refused it (and kept its last good version: the edit never went live)
    ("content/ui/agent_desk.zh.json", '{', '{"trailing": 1,,', True, "not valid JSON"),
    ("content/handoff.yml", "default_skill: general", "default_skill: genral", False, "unknown skill groups"),
    ("content/waiting_room.yml", "webchat_gone_grace_s: 600", "webchat_gone_grace_s: 10分钟", False, "10分钟"),
    ("content/kpi.yml", "timezone: Asia/Shanghai", "timezone: Asia/Shanghia", False, "Asia/Shanghia"),
    ("content/voicemail.yml", "  asr_confidence: 0.5", "  asr_confidance: 0.5", False, "asr_confidence"),
    # a fault's self-help line in the agent's summary that does not fill: every two-fault summary would fail
    ("content/handoff.yml", '  selfhelp_of_fault: "【{fault}】{selfhelp}"', '  selfhelp_of_fault: "【{故障}】{selfhelp}"',
     False, "selfhelp_of_fault"),
    # a list name misspelt: 密码 in 账号密码 would name the Wi-Fi again, unnoticed
    ("content/labels.yml", "  fault_wifi: [account_password_words]", "  fault_wifi: [account_pasword_words]", True,
     "fault_not_named_inside"),
], ids=["handoff-yaml", "validation-yaml", "webchat-json", "desk-json", "handoff-skill", "waiting-room-value",
        "kpi-zone", "voicemail-setting", "handoff-selfhelp-of-fault", "labels-not-named-inside"])
def test_a_content_file_the_bot_would_refuse_is_named(project, name, old, new, at_line, message):
    import re

    edit(project / name, old, new)
    errors = errors_for(project)
    where = re.compile(re.escape(name) + (r":\d+: " if at_line else r"(:\d+)?: "))
    assert any(where.match(p) and message in p for p in errors), errors


def test_a_response_rasa_cannot_read_is_named_at_its_line_not_a_traceback(project):
    """`txt:` for `text:` in a reply: `kefu validate` stopped with Rasa's YamlValidationException traceback
    (the --quick checks and `kefu train`'s let it through to the training, which stopped the same way)."""
    from bot.editor.validate import validate

    responses = project / "domain" / "responses.yml"
    edit(responses, "  utter_greet:\n    - text:", "  utter_greet:\n    - txt:")
    line = responses.read_text(encoding="utf-8").splitlines().index("  utter_greet:") + 2
    for problems in (kefu_problems(get_settings()), validate(get_settings())):
        errors = [p for p in report(problems, project).splitlines() if ": warning: " not in p]
        assert any(p.startswith(f"domain/responses.yml:{line}: ") and "utter_greet" in p and "text" in p
                   for p in errors), errors


def test_a_reply_key_rasa_does_not_know_is_named_at_its_line_not_a_traceback(project):
    """`buton:` for `buttons:`: `kefu validate` stopped with Rasa's YamlValidationException traceback."""
    from bot.editor.validate import validate

    responses = project / "domain" / "responses.yml"
    edit(responses, "  utter_greet:\n    - text:", "  utter_greet:\n    - buton: []\n      text:")
    line = responses.read_text(encoding="utf-8").splitlines().index("  utter_greet:") + 2
    errors = [p for p in report(validate(get_settings()), project).splitlines() if ": warning: " not in p]
    assert any(p.startswith(f"domain/responses.yml:{line}: ") and "buton" in p for p in errors), errors


def test_examples_of_an_intent_the_domain_lacks_are_named_at_their_intent(project):
    """A misspelt intent name over a block of examples: Rasa's warning named neither file nor line, and the
    examples trained an intent no rule answers."""
    chitchat = project / "nlu_data" / "nlu" / "chitchat.yml"
    edit(chitchat, "- intent: greet\n", "- intent: greet_typo\n  examples: |\n    - 哈喽哈喽哈喽\n- intent: greet\n")
    line = chitchat.read_text(encoding="utf-8").splitlines().index("- intent: greet_typo") + 1
    assert any(p.startswith(f"nlu_data/nlu/chitchat.yml:{line}: ") and "'greet_typo'" in p and "domain" in p
               for p in errors_for(project)), errors_for(project)


def test_an_example_line_without_its_dash_is_named_at_its_line(project):
    """Rasa skips an example written without '- ' (named by file only, as a warning): it was never trained."""
    chitchat = project / "nlu_data" / "nlu" / "chitchat.yml"
    edit(chitchat, "- intent: greet\n  examples: |\n", "- intent: greet\n  examples: |\n    你好呀没有横线\n")
    line = chitchat.read_text(encoding="utf-8").splitlines().index("    你好呀没有横线") + 1
    assert any(p.startswith(f"nlu_data/nlu/chitchat.yml:{line}: ") and "你好呀没有横线" in p and "'- '" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("name", ["domain/responses.yml", "nlu_data/rules.yml", "nlu_data/nlu/chitchat.yml",
                                  "content/selfhelp.yml", "content/handoff.yml", "content/kpi.yml",
                                  "content/validation.yml", "content/wechat_menu.yml"])
def test_a_file_whose_top_level_is_a_list_is_named(project, name):
    """The first line (`nlu:`, `responses:`, `entries:`...) deleted, the rest re-indented: the file parses as
    a list, and `kefu validate` stopped with an AttributeError traceback (or passed a file the bot refuses)."""
    (project / name).write_text("- intent: greet\n  examples: |\n    - 你好你好\n", encoding="utf-8")
    errors = errors_for(project)
    assert any(p.startswith(f"{name}:1: ") and "mapping" in p for p in errors), errors


def test_a_catalogue_without_its_entries_list_is_named(project):
    """`entries:` misspelt: validate found no entry to check and passed; the bot refused the file."""
    edit(project / "content" / "selfhelp.yml", "\nentries:\n", "\nentires:\n")
    assert any(p.startswith("content/selfhelp.yml") and "'entries'" in p for p in errors_for(project))


@pytest.mark.parametrize("name, old, new, message", [
    ("config.yml", "pipeline:\n", "pipeline: [\n", "not valid YAML"),
    ("domain/core.yml", "intents:\n", "intents: 5\nold_intents:\n", "'intents' must be a list"),
], ids=["config-yaml", "domain-intents-number"])
def test_kefu_validate_names_these_mistakes_instead_of_a_traceback(project, name, old, new, message):
    from bot.editor.validate import validate

    edit(project / name, old, new)
    line = (project / name).read_text(encoding="utf-8").splitlines().index(new.splitlines()[0]) + 1
    errors = [p for p in report(validate(get_settings()), project).splitlines() if ": warning: " not in p]
    assert any(p.startswith(f"{name}:") and message in p for p in errors), errors
    assert all(p.startswith(f"{name}:") for p in errors), "Rasa's checks would only repeat it, vaguer"
    assert any(p.startswith(f"{name}:{line}:") or p.startswith(f"{name}:{line + 1}:") for p in errors), errors


def test_wechat_menu_naming_an_unknown_intent_is_named_at_its_line(project):
    """A WeChat menu button (or the welcome) mapped to an intent the bot does not have passed `kefu validate`;
    the follower tapping it got the bot's 没听懂 as if they had typed "/query_bil"."""
    menu = project / "content" / "wechat_menu.yml"
    edit(menu, "QUERY_BILL: /query_bill", "QUERY_BILL: /query_bil")
    edit(menu, "subscribe: /greet", "subscribe: /gret")
    lines = menu.read_text(encoding="utf-8").splitlines()
    errors = errors_for(project)
    click = lines.index("  QUERY_BILL: /query_bil") + 1
    welcome = lines.index("subscribe: /gret") + 1
    assert any(p.startswith(f"content/wechat_menu.yml:{click}: ") and "'query_bil'" in p and "QUERY_BILL" in p
               for p in errors), errors
    assert any(p.startswith(f"content/wechat_menu.yml:{welcome}: ") and "'gret'" in p for p in errors), errors


def test_a_qr_code_scene_naming_an_unknown_intent_is_named_at_its_line(project):
    menu = project / "content" / "wechat_menu.yml"
    edit(menu, "PAPER_BILL: /query_bill", "PAPER_BILL: /query_bil")
    line = next(n for n, text in enumerate(menu.read_text(encoding="utf-8").splitlines(), 1) if "/query_bil " in text)
    assert any(p.startswith(f"content/wechat_menu.yml:{line}: ") and "'query_bil'" in p and "PAPER_BILL" in p
               for p in errors_for(project))


def test_a_with_agent_wording_naming_what_wechat_does_not_send_is_named_at_its_line(project):
    """``[位置] {place}`` passed `kefu validate`; every place a follower sent while a person served them
    then failed its turn (a KeyError: the follower was told it failed), and the agent never got it."""
    from bot.channels.wechat_followers import media_turn

    menu = project / "content" / "wechat_menu.yml"
    edit(menu, 'location: "[位置] {label}（{x}, {y}）"', 'location: "[位置] {place}"')
    line = menu.read_text(encoding="utf-8").splitlines().index('  location: "[位置] {place}"') + 1
    errors = errors_for(project)
    assert any(p.startswith(f"content/wechat_menu.yml:{line}: ") and "with_agent.location" in p and "{label}" in p
               for p in errors), errors
    text, extra = media_turn({"with_agent": {"location": "[位置] {place}"}}, "location",
                             {"Label": "人民路18号", "Location_X": "23.1", "Location_Y": "113.3"})
    assert "人民路18号" in text and extra["wechat_location"]["label"] == "人民路18号"


def test_a_text_too_long_for_one_sms_is_named_where_the_editor_wrote_it(project):
    """A text over the gateway's limit is refused for good when sent: the customer gets nothing, and the
    contact ends ``channel_refused``. Measured here, with its placeholders as long as real values get."""
    step = "      - 用电视遥控器把信号源切换到机顶盒所接的HDMI口。\n"
    edit(project / "content" / "selfhelp.yml", step, step * 20)  # an entry grown step by step
    contacts = project / "content" / "contacts.yml"
    edit(contacts, "请及时缴费。", "请及时缴费。" + "您可以通过微信、支付宝、营业厅或银行代扣等多种方式缴费，缴费后即时到账。" * 16)
    problems = errors_for(project)
    [entry] = [p for p in problems if p.startswith("content/selfhelp.yml") and "SMS" in p]
    assert "entry 'tv_no_signal'" in entry and "at most 500" in entry
    [rule] = [p for p in problems if p.startswith("content/contacts.yml") and "SMS" in p]
    assert "rules.arrears_reminder.message" in rule


def test_a_phone_flows_text_too_long_for_one_sms_is_named_at_its_node(project):
    main = project / "ivr_flows" / "main.yml"
    edit(main, "仍未解决可再次来电或在微信公众号留言。", "仍未解决可再次来电或在微信公众号留言。" * 30)
    [problem] = [p for p in errors_for(project) if "SMS" in p]
    assert problem.startswith("ivr_flows/main.yml:") and "node 'send_selfhelp': text:" in problem


def test_a_verification_code_text_too_long_for_one_sms_is_named_at_its_line(project):
    """The code's SMS is refused by the gateway for good when it is too long: the customer asking for a code
    never gets one, and can never prove it is them. Measured with the code and its minutes filled in."""
    policy = project / "content" / "verification.yml"
    line = policy.read_text(encoding="utf-8").splitlines().index(
        next(l for l in policy.read_text(encoding="utf-8").splitlines() if l.startswith("sms_code_text:"))) + 1
    edit(policy, "请勿告诉任何人，", "请勿告诉任何人，" + "客服人员、营业厅工作人员及装维人员都不会以任何理由向您索要验证码，" * 16)
    [problem] = [p for p in errors_for(project) if p.startswith("content/verification.yml") and "SMS" in p]
    assert problem.startswith(f"content/verification.yml:{line}: ") and "at most 500" in problem


def test_a_verification_code_text_naming_an_unknown_placeholder_is_an_error(project):
    """``{code}`` and ``{minutes}`` are filled in when a code is sent; any other placeholder failed the
    sending for every customer asking for a code, while `kefu validate` found nothing."""
    edit(project / "content" / "verification.yml", "{minutes}分钟", "{分钟}分钟")
    problems = [p for p in errors_for(project) if p.startswith("content/verification.yml")]
    assert any("{分钟}" in p for p in problems), problems


def test_the_phone_text_of_a_self_help_entrys_links_too_long_for_one_sms_is_named(project):
    """A caller who gets self-help from the assistant is texted its links, worded by ``link_message`` and
    ``link_line`` of content/ivr.yml: a text over the gateway's limit reached nobody, while the caller was
    told it was sent. Measured for each catalogue entry with the links the phone sends for it."""
    ivr = project / "content" / "ivr.yml"
    line = ivr.read_text(encoding="utf-8").splitlines().index(
        next(l for l in ivr.read_text(encoding="utf-8").splitlines() if "link_message:" in l)) + 1
    edit(ivr, "广电网络客服为您发送的指引：", "广电网络客服为您发送的指引：" + "请按照下面链接中的图文和视频步骤逐项检查设备，" * 20)
    problems = [p for p in errors_for(project) if p.startswith(f"content/ivr.yml:{line}: ") and "SMS" in p]
    assert problems and all("at most 500" in p for p in problems), problems
    assert any("'tv_no_signal'" in p and "link_message" in p for p in problems), problems


@pytest.mark.parametrize("placeholder", ["{minutes[0]}", "{code.value}"])
def test_a_verification_code_text_indexing_or_reading_into_a_placeholder_is_named_not_a_crash(project, placeholder):
    """``{minutes[0]}`` (a number has no items) or ``{code.value}`` (a text has no such field) cannot be filled
    in either: `kefu validate` stopped with a traceback instead of naming the line, and the running service
    lost the last good file (the error was not the policy's own)."""
    edit(project / "content" / "verification.yml", "{minutes}分钟", f"{placeholder}分钟")
    problems = [p for p in errors_for(project) if p.startswith("content/verification.yml")]
    assert any("sms_code_text" in p and "cannot be filled in" in p for p in problems), problems


def test_a_verification_code_text_with_a_placeholder_in_full_width_braces_is_an_error(project):
    """A Chinese input method types ｛｝: "｛minutes｝分钟内有效" is no placeholder, and every customer's code
    SMS read "｛minutes｝" where the minutes belong, while `kefu validate` found nothing."""
    edit(project / "content" / "verification.yml", "{minutes}分钟", "｛minutes｝分钟")
    problems = [p for p in errors_for(project) if p.startswith("content/verification.yml")]
    assert any("｛minutes｝" in p and "{minutes}" in p for p in problems), problems


def test_a_reply_placeholder_its_own_sender_does_not_fill_is_named(project):
    """``{phone_masked}`` is passed by the code sending other replies, not by the one sending the arrears
    reply (``actions/accounts.py``): Rasa then sends the whole reply unfilled, braces and all."""
    edit(project / "domain" / "responses.yml", "欠费 {amount_owed} 元", "欠费 {amount_owed} 元（短信已发到 {phone_masked}）")
    line = line_of(project, "domain/responses.yml", "（短信已发到 {phone_masked}）")
    assert any(p.startswith(f"domain/responses.yml:{line}:") and "utter_bill_arrears: nothing fills {phone_masked}"
               in p and "actions/accounts.py:" in p for p in errors_for(project)), errors_for(project)


def test_a_wechat_answer_naming_a_slot_is_named_as_it_is_sent_as_written(project):
    """The WeChat channel sends its own answers (a picture, a place) as written: even a slot's name
    reaches the follower in braces."""
    edit(project / "domain" / "responses.yml", "收到您的图片啦。", "收到您的图片啦，{customer_name}。")
    line = line_of(project, "domain/responses.yml", "收到您的图片啦，{customer_name}。")
    assert any(p.startswith(f"domain/responses.yml:{line}:") and "utter_wechat_image: nothing fills {customer_name}" in p
               for p in errors_for(project)), errors_for(project)


def test_reply_placeholders_their_senders_fill_pass(project):
    """No false refusals: a slot in a reply an action sends with its own values, a value every sender
    of a reply passes. (A slot in a reply a rule says passes where the rule may fill it first:
    ``test_a_slot_set_before_a_rule_says_it_passes``; the greet rule's "您好{customer_name}" is refused, as it
    reads "您好None" to every customer not yet identified.)"""
    responses = project / "domain" / "responses.yml"
    edit(responses, "欠费 {amount_owed} 元", "{customer_name}，欠费 {amount_owed} 元")
    edit(responses, "工单 {ticket_id}（{kind_label}）：{status_label}。{summary}", "工单 {ticket_id}：{summary}（{kind_label}）")
    assert errors_for(project) == []


@pytest.mark.parametrize("old, new, named", [
    ("say: 电视和宽带故障报修请按1", "say: 您排在第{position}位。电视和宽带故障报修请按1", "names {position}, which the call has not set yet"),
    ("saved_say: 您的留言已收到，", "saved_say: 您的留言已收到，客服会在{callback_by}前回电，", "names {callback_by}, which the call has not set yet"),
    ("saved_say: 您的留言已收到，", "saved_say: 您的留言已收到（工单{ticket_id}），", "names {ticket_id}, which the call has not set yet"),
    ("say: 电视和宽带故障报修请按1", "say: 您按了{count}个键。电视和宽带故障报修请按1", "names {count}, which only a number's invalid_say and too_short_say"),
], ids=["position-before-any-transfer", "callback-time-only-after-a-callback", "ticket-only-after-a-callback",
        "count-outside-a-numbers-apology"])
def test_a_phone_text_naming_what_the_call_has_not_set_yet_at_its_node_is_named(project, old, new, named):
    """The call's variables are set at one step: {position} when it is queued, {ticket_id} and {callback_by}
    when a callback is booked. A text said before (the main menu; a voice message) was said with nothing in
    its place, and passed."""
    edit(project / "ivr_flows" / "main.yml", old, new)
    assert_named_at_its_line(project, "ivr_flows/main.yml", new, named)


def test_phone_texts_naming_what_the_call_has_set_by_their_node_pass(project):
    """No false refusals: the ticket once a callback is booked, the place in a node only the assistant's
    queueing leads to, the number keyed before, the wait a condition looked at (peak_offer, shipped)."""
    flow = project / "ivr_flows" / "main.yml"
    edit(flow, "say: 已为您预约回电，", "say: 已为您预约回电，工单号{ticket_id}，")
    edit(flow, "    type: hold\n    next: ask_bot", "    type: hold\n    say: 您排在第{position}位。\n    next: ask_bot")
    edit(flow, "intro: 查一下{account}的话费", "intro: 查一下{account}的话费（{account}）")
    assert errors_for(project) == []


@pytest.mark.parametrize("label", ["how_message_abandoned", "how_agent", "stage_told", "kpi_fcr_48h", "legend_fcr_24h",
                                   "def_aht", "channel_wechat", "channel_sms"])
def test_a_report_label_named_by_a_value_at_run_time_missing_is_named(project, label):
    """The report names these labels by an outcome, a ticket stage, a figure, a chart line or a channel:
    without one, `kefu report` showed the code word (message_abandoned; wechat in the channel table, sms for
    a voice message left by text, which had no label as shipped), an empty definition under a figure, or
    ended in a KeyError traceback after reading the whole period; `kefu validate` passed it."""
    strings = project / "content" / "ui" / "report.zh.json"
    line = next(l for l in strings.read_text(encoding="utf-8").splitlines() if l.strip().startswith(f'"{label}"'))
    edit(strings, line + "\n", "")
    assert any(p.startswith("content/ui/report.zh.json") and f"'{label}' is missing" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("name, old, new, named", [
    ("agent_desk.zh.json", '"close_confirm_ticket": "确认转工单跟进并结束服务？工单号会发给客户。"',
     '"close_confirm_ticket": "确认转工单跟进并结束服务？工单号 {ticket_id} 会发给客户。"', "'close_confirm_ticket' names {ticket_id}"),
    ("ledger.zh.json", '"followup_done": "回访完成（{result}）"', '"followup_done": "{due} 回访完成（{result}）"',
     "'followup_done' names {due}"),
    ("webchat.zh.json", '您的消息“{message}”没能处理成功', '您的消息“{text}”没能处理成功', "'notice_not_handled' names {text}"),
], ids=["desk-close-confirmation", "ledger-follow-up-state", "chat-notice"])
def test_a_page_text_named_at_run_time_naming_what_its_page_does_not_give_is_named(project, name, old, new, named):
    """Texts a page's script names at run time (t("close_confirm_" + disposition, {skill}), "followup_" +
    status, "notice_" + reason) were not checked: an agent closing with a ticket read "{ticket_id}", the
    ledger "{due} 回访完成", a chat customer "您的消息“{text}”" as written."""
    edit(project / "content" / "ui" / name, old, new)
    assert_named_at_its_line(project, f"content/ui/{name}", new, named)


@pytest.mark.parametrize("key", ["channel_ivr", "channel_phone", "channel_", "state_full", "state_offline",
                                 "glance_outcome_callback_booked", "glance_outcome_"])
def test_a_desk_text_a_script_names_at_run_time_missing_is_named(project, key):
    """Found in review: the desk's scripts name these texts at run time (t("channel_" + entry.channel) in the
    queue, a ticket, the glance; t("state_" + a.state) on the supervisor's page; t("glance_outcome_" + …)
    for a past contact): deleted, the page showed the key itself ("channel_ivr", "state_full") and
    `kefu validate` passed it."""
    strings = project / "content" / "ui" / "agent_desk.zh.json"
    line = next(l for l in strings.read_text(encoding="utf-8").splitlines() if l.strip().startswith(f'"{key}":'))
    edit(strings, line + "\n", "")
    assert any(p.startswith("content/ui/agent_desk.zh.json") and f"'{key}' is missing" in p and ".js names it" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("name, key", [("softphone.zh.json", "call_ended"), ("softphone.zh.json", "line_busy"),
                                       ("agent_desk.zh.json", "queue_entry_gone"), ("ledger.zh.json", "close_step")])
def test_a_page_text_a_script_reads_by_its_name_missing_is_named(project, name, key):
    """Deleted, the page showed the key itself: the softphone's status line "call_ended" at the end of every call;
    `kefu validate` passed it."""
    strings = project / "content" / "ui" / name
    line = next(l for l in strings.read_text(encoding="utf-8").splitlines() if l.strip().startswith(f'"{key}":'))
    edit(strings, line + "\n", "")
    assert any(p.startswith(f"content/ui/{name}") and f"'{key}' is missing" in p and "shows it by name" in p
               for p in errors_for(project)), errors_for(project)


def test_the_channels_a_contact_comes_in_on_are_the_customers_input_channels():
    """bot/channels/names.py lists what the report and the desk name by ``channel_<name>``: every input
    channel of credentials.yml customers talk to the assistant on is there, by its own name()."""
    import importlib

    import yaml

    from bot.channels.names import CONVERSATION_CHANNELS
    from tests.conftest import PROJECT_ROOT

    staff_and_systems = {"ops", "agent_desk", "dispatch", "sms"}  # sms: replies to Kefu's texts, no conversation
    names = set()
    for path in yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")):
        module, _, name = path.rpartition(".")
        names.add(getattr(importlib.import_module(module), name).name())
    assert staff_and_systems <= names
    assert names - staff_and_systems == set(CONVERSATION_CHANNELS)


def test_an_apology_for_a_part_down_naming_a_slot_is_named_as_it_is_sent_as_written(project):
    """When Redis or a turn fails, the apology is sent as the domain writes it (``rasa_guards``): a
    slot's name in it reached the customer in braces, and validate passed it as a slot."""
    edit(project / "domain" / "operations.yml", "非常抱歉，处理您的消息时出了点问题", "非常抱歉{customer_name}，处理您的消息时出了点问题")
    assert any("utter_technical_problem: nothing fills {customer_name}" in p and "rasa_guards.py" in p
               for p in errors_for(project)), errors_for(project)


def test_an_intent_without_its_desk_name_is_a_warning(project):
    """The desk shows each customer turn's intent by ``intent_<intent>`` (and a fault by
    ``fault_<intent>``): an intent added as docs/editing.md says showed agents "intent_ask_modem_upgrade",
    and opt_out, csat_score and csat_skip had no name as shipped."""
    assert not [p for p in problems_for(project) if "agents would read the key" in p]
    edit(project / "domain" / "core.yml", "  - fault_tv\n", "  - fault_tv\n  - fault_modem\n")
    warned = [p for p in problems_for(project) if p.startswith("content/ui/agent_desk.zh.json: warning:")]
    assert any("'intent_fault_modem' is missing" in p for p in warned), warned
    assert any("'fault_fault_modem' is missing" in p for p in warned), warned


def test_a_phone_text_naming_the_wait_where_nobody_is_signed_in_is_named(project):
    """Found in review: "预计等待约{wait_minutes}分钟" where the flow goes when no agent is signed in passed,
    as the peak-time case before it looks at the wait; with nobody signed in nothing is looked at (no wait
    to promise), and every caller there heard "预计等待约分钟". Where that case held, the wait is said."""
    edit(project / "ivr_flows" / "main.yml", "目前没有人工客服在线，暂时无法估计等待时间。",
         "目前没有人工客服在线，预计等待约{wait_minutes}分钟。")
    errors = [p for p in errors_for(project) if p.startswith("ivr_flows/main.yml:")]
    assert any("node 'nobody_offer': say names {wait_minutes}, which the call has not set yet" in p
               for p in errors), errors
    assert not [p for p in errors if "peak_offer" in p]


def test_a_desk_message_naming_what_the_desk_does_not_pass_is_named(project):
    """The desk says an agent joined with their name, and the masked number only to a customer who
    booked a callback (``**told``, a dictionary written in place): "{visit_time}" in it passed because
    other code passes visit_time, and the customer read the whole message unfilled."""
    edit(project / "domain" / "responses.yml", "人工客服 {agent_name} 已为您接入", "人工客服 {agent_name} 已为您接入（{visit_time}）")
    joined = line_of(project, "domain/responses.yml", "人工客服 {agent_name} 已为您接入")
    assert any(p.startswith(f"domain/responses.yml:{joined}:") and "utter_agent_joined: nothing fills {visit_time}" in p
               and "bot/handoff/joined.py" in p for p in errors_for(project)), errors_for(project)
    edit(project / "domain" / "responses.yml", "（{visit_time}）", "（{phone_masked}）")
    assert any(p.startswith(f"domain/responses.yml:{joined}:") and "utter_agent_joined: nothing fills {phone_masked}" in p
               for p in errors_for(project)), errors_for(project)


def test_a_value_given_only_to_the_other_reply_of_a_choice_is_named(project):
    """Found in review: the desk passes the masked number (``**told``: ``{…} if callback else {}``) only with
    "utter_agent_calling_back" (``… if callback else "utter_agent_joined"``); "{phone_masked}" in the
    agent-joined message passed, and every customer an agent joined read it unfilled, braces and all. So
    did "{callback_by}" in the chased callback's reply without a time. The reply each side chooses keeps
    what it is given (the shipped calling-back message, with its number, still passes)."""
    edit(project / "domain" / "responses.yml", "人工客服 {agent_name} 已为您接入", "人工客服 {agent_name}（{phone_masked}）已为您接入")
    edit(project / "domain" / "responses.yml", "客服会尽快回电到 {phone_masked}，请留意来电",
         "客服会在{callback_by}前回电到 {phone_masked}，请留意来电")  # the reply without a time
    errors = errors_for(project)
    joined = line_of(project, "domain/responses.yml", "人工客服 {agent_name}（{phone_masked}）已为您接入")
    assert any(p.startswith(f"domain/responses.yml:{joined}:") and "utter_agent_joined: nothing fills {phone_masked}" in p
               and "bot/handoff/joined.py" in p for p in errors), errors
    assert any("utter_callback_chased: nothing fills {callback_by}" in p and "actions/tickets.py" in p
               for p in errors), errors
    assert not [p for p in errors if "utter_agent_calling_back" in p or "utter_callback_chased_by" in p]


@pytest.mark.parametrize("relative, name, sender", [
    ("domain/handoff_lifecycle.yml", "utter_queue_timeout", "bot/handoff/watcher.py:"),
    ("domain/responses.yml", "utter_wechat_image", "bot/channels/wechat.py:"),
])
def test_a_reply_kefus_own_code_sends_renamed_in_the_domain_is_named(project, relative, name, sender):
    """Only the project's actions were checked for the replies they send: a reply Kefu sends itself
    (a request timed out in the queue, a WeChat picture) renamed in the domain passed, and customers
    were told nothing there (Rasa gives nothing for a reply it does not have)."""
    edit(project / relative, f"  {name}:", f"  {name}_new:")
    assert any(p.startswith("domain: ") and f"reply '{name}' is not in the domain" in p and sender in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("relative, reply, module", [
    ("domain/responses.yml", "utter_queue_transferred", "bot/handoff/transfer_owed.py"),  # TRANSFERRED
    ("domain/responses.yml", "utter_fault_ticket_chased", "actions/repairs.py"),  # CHASED, a default
    ("domain/handoff_lifecycle.yml", "utter_queue_left_away", "bot/handoff/handback.py"),  # SAID's values
])
def test_a_reply_the_code_keeps_by_name_renamed_in_the_domain_is_named(project, relative, reply, module):
    """Reply names the code keeps in a constant or a dictionary and says later (the desk's transfer stores
    ``TRANSFERRED`` with the request; the hand-back says ``SAID[state]``; a chased repair says ``CHASED``) were not
    checked against the domain: renaming "utter_queue_transferred" passed `kefu validate`, and every customer
    transferred to another group was told nothing."""
    edit(project / relative, f"  {reply}:", f"  {reply}_new:")  # named where it is kept, or where it is sent by name
    assert any(p.startswith("domain: ") and f"reply '{reply}' is not in the domain, and {module}:" in p
               for p in errors_for(project)), errors_for(project)


def test_a_hotline_prompt_said_as_written_naming_a_placeholder_is_named(project):
    """content/ivr.yml's prompts other than the link text are said as written: "{position}" in the words
    a caller hears on leaving the queue was read out, braces and all, and passed."""
    new = "stopped_waiting: 好的，已为您取消排队（第{position}位）。"
    edit(project / "content" / "ivr.yml", "stopped_waiting: 好的，已为您取消排队。", new)
    assert_named_at_its_line(project, "content/ivr.yml", new, "prompts.stopped_waiting names {position}, but it is said as written")


def test_a_number_prompt_is_checked_against_its_senders_too(project):
    """content/ivr.yml's ``number_prompts`` only tells the phone a reply asks for a number; naming a
    reply there left it unchecked: "{phone_masked}" in the identity question passed, as other code
    passes phone_masked, and customers read the question unfilled."""
    edit(project / "domain" / "responses.yml", "请告诉我您办理业务时登记的手机号（11位）", "请告诉我您办理业务时登记的手机号（{phone_masked}）")
    assert any("utter_ask_identity: nothing fills {phone_masked}" in p and "actions/identity.py" in p
               for p in errors_for(project)), errors_for(project)


# Each (strings file, text) below is named at run time by a value Kefu's code gives.
BUILT_TEXTS = [
    ("agent_desk.zh.json", "ticket_kind_voice_message"), ("agent_desk.zh.json", "ticket_kind_handoff"),
    ("ledger.zh.json", "kind_service_change"),
    ("agent_desk.zh.json", "disposition_transfer"),
    ("agent_desk.zh.json", "glance_outcome_contact_no_answer"), ("agent_desk.zh.json", "glance_outcome_contact_sent"),
    ("agent_desk.zh.json", "reason_flow_transfer"), ("agent_desk.zh.json", "reason_callback"),
    ("agent_desk.zh.json", "reason_voicemail_low_asr_confidence"), ("agent_desk.zh.json", "reason_voicemail_complaint"),
    ("agent_desk.zh.json", "proof_state_asked_number"),
    ("agent_desk.zh.json", "field_callback_phone_named"), ("agent_desk.zh.json", "turn_proof_failed"),
    ("agent_desk.zh.json", "glance_bill_unpaid"), ("agent_desk.zh.json", "glance_field_address"),
    ("agent_desk.zh.json", "field_waited"), ("agent_desk.zh.json", "who_bot"),
    ("agent_desk.zh.json", "undelivered_quota"), ("agent_desk.zh.json", "undelivered_held"),
    ("agent_desk.zh.json", "answer_worked"), ("agent_desk.zh.json", "answer_none"),
    ("agent_desk.zh.json", "close_confirm_callback"), ("agent_desk.zh.json", "closed_resolved"),
    ("agent_desk.zh.json", "closed_call_lost"), ("agent_desk.zh.json", "closed_call_lost_unanswered"),
    ("agent_desk.zh.json", "closed_call_lost_ticket"), ("agent_desk.zh.json", "closed_customer_gone_ticket"),
    ("agent_desk.zh.json", "glance_outcome_handoff_call_lost"),
    ("ledger.zh.json", "result_no_answer"), ("ledger.zh.json", "result_fixed"), ("ledger.zh.json", "followup_done"),
]


def test_a_page_text_named_by_a_value_the_code_gives_missing_is_named(project):
    """Found in review: these texts are named at run time by a value Kefu's code gives (a ticket's kind, an
    agent's close, a follow-up call's result, why the customer was handed over, where the desk's proof
    stands) or chosen beside one (t(named ? "field_callback_phone_named" : "field_" + row[0])): deleted,
    the desk showed the key itself ("ticket_kind_voice_message" on a voice message's work item,
    "glance_outcome_contact_no_answer" for a follow-up call nobody answered), or 其他 for why a phone caller
    was transferred, and `kefu validate` passed it. So were a bill's status and a contact detail on the glance,
    a profile row, who said a turn, why WeChat refused an agent's message, the customer's answer to self-help,
    the close's question and its outcome, and a follow-up's state and result on the ledger.
    All are deleted at once: one validation names each (one validation per text cost the suite minutes)."""
    for name, key in BUILT_TEXTS:
        strings = project / "content" / "ui" / name
        line = next(l for l in strings.read_text(encoding="utf-8").splitlines() if l.strip().startswith(f'"{key}":'))
        edit(strings, line + "\n", "")
    errors = errors_for(project)
    missing = [(name, key) for name, key in BUILT_TEXTS
               if not any(p.startswith(f"content/ui/{name}") and f"'{key}' is missing" in p for p in errors)]
    assert not missing, errors


def test_a_ticket_kind_the_voice_messages_file_names_needs_its_desk_name(project):
    """content/voicemail.yml chooses the kind of ticket a voice message becomes: a kind the desk has no
    name for ("billing") showed agents "ticket_kind_billing" on the work item."""
    edit(project / "content" / "voicemail.yml", "query_bill: {kind: voice_message", "query_bill: {kind: billing")
    errors = errors_for(project)
    assert any(p.startswith("content/ui/agent_desk.zh.json") and "'ticket_kind_billing' is missing" in p
               for p in errors), errors
    assert any(p.startswith("content/ui/ledger.zh.json") and "'kind_billing' is missing" in p for p in errors), errors


def _calls(folders: tuple[str, ...]):
    """Every call in the project's code under ``folders``, with its file."""
    import ast

    from tests.conftest import PROJECT_ROOT

    for folder in folders:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    yield path, node


def _words(node) -> set[str]:
    """The strings an expression can be (``"voice_message" if voice else "callback"``), not those it looks up."""
    import ast

    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    if isinstance(node, ast.Call):
        return set()
    return set().union(*(_words(child) for child in ast.iter_child_nodes(node)))


def _name(node) -> str:
    import ast

    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _called(node) -> str:
    """What a call calls, or runs in a thread (``asyncio.to_thread(repo.create_ticket, kind=…)``, ``db(…)``)."""
    name = _name(node.func)
    return _name(node.args[0]) if name in ("to_thread", "db") and node.args else name


def test_every_ticket_kind_the_code_files_is_listed():
    """bot/db/schema.py TICKET_KINDS is what `kefu validate` asks the desk and the ledger to name: every kind
    the code files a ticket of (create_ticket, open_ticket, a waiting-room ticket, a work item) is there."""
    from bot.db.schema import TICKET_KINDS

    filed = set()
    for _, call in _calls(("bot", "actions", "voice")):
        if _called(call) in ("create_ticket", "waiting_room_ticket", "WorkItem", "open_ticket"):
            kind = next((k.value for k in call.keywords if k.arg == "kind"), None)
            if kind is None and _called(call) == "open_ticket" and len(call.args) >= 3:
                kind = call.args[2]
            filed |= _words(kind) if kind is not None else set()
    assert {"fault", "visit", "service_change", "complaint", "callback", "voice_message", "handoff"} <= filed
    assert filed <= set(TICKET_KINDS), filed - set(TICKET_KINDS)


def test_every_reason_the_code_hands_a_customer_over_for_is_listed():
    """bot/handoff/packet.py HANDOFF_REASONS is what `kefu validate` asks the desk to name (reason_<reason>):
    every reason actions/handoff.py, the phone's transfer and a booked callback give is there."""
    import ast
    import inspect

    from actions.handoff import handoff_reason
    from bot.contacts.offer import CALLBACK_REASON
    from bot.handoff.packet import HANDOFF_REASONS
    from bot.ivr.handoff import FLOW_TRANSFER

    given = {node.value.value for node in ast.walk(ast.parse(inspect.getsource(handoff_reason)))
             if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant)}
    given |= {FLOW_TRANSFER, CALLBACK_REASON}
    given |= {k.value.value for _, call in _calls(("bot", "actions")) if _called(call) in ("request_handoff", "build_packet")
              for k in call.keywords if k.arg == "reason" and isinstance(k.value, ast.Constant)}
    assert len(given) >= 7
    assert given <= set(HANDOFF_REASONS), given - set(HANDOFF_REASONS)


def test_every_result_a_contact_attempt_is_recorded_with_is_listed():
    """bot/contacts/worker.py ATTEMPT_RESULTS is what `kefu validate` asks the glance to name
    (glance_outcome_contact_<result>): every result a ``contact_attempted`` event, a retry or a give-up
    is given in bot/contacts (or a ``result`` worked out before) is there."""
    import ast

    from bot.contacts import not_delivered, worker
    from bot.contacts.worker import ATTEMPT_RESULTS

    constants = _constants(worker, not_delivered)

    def values(node, branch: int | None = None) -> set[str]:
        """What ``node`` can be; of a choice (``a if c else b``), only ``branch`` when given."""
        if branch is not None and isinstance(node, ast.IfExp):
            node = (node.body, node.orelse)[branch]
        return _values(node, constants)

    given = set()
    for path, call in _calls(("bot/contacts",)):
        for kind in call.args[1:2]:
            for branch in ((0, 1) if isinstance(kind, ast.IfExp) else (None,)):
                if "contact_attempted" in values(kind, branch):
                    given |= set().union(*(values(k.value, branch) for k in call.keywords if k.arg == "result"))
        if _called(call) == "_retry" and len(call.args) >= 5:
            given |= values(call.args[4])
        if _called(call) == "_give_up" and len(call.args) >= 3:
            given |= values(call.args[2])
    for module in (worker, not_delivered):
        import inspect

        given |= {word for node in ast.walk(ast.parse(inspect.getsource(module))) if isinstance(node, ast.Assign)
                  and [getattr(t, "id", "") for t in node.targets] == ["result"] for word in values(node.value)}
    assert {"placed", "sent", "in_line", "dial_failed", "send_failed", "channel_refused", "no_answer"} <= given, given
    assert given <= set(ATTEMPT_RESULTS), given - set(ATTEMPT_RESULTS)


def _constants(*modules) -> dict[str, str]:
    """The strings ``modules`` name at their top level (``OPEN_COMPLAINT = "open_complaint"``)."""
    return {name: value for module in modules for name, value in vars(module).items() if isinstance(value, str)}


def _values(node, constants: dict[str, str]) -> set[str]:
    """The strings an expression can be, through ``constants`` (``CHANNEL_REFUSED if refused else "failed"``)."""
    import ast

    if isinstance(node, ast.Name):
        return {constants[node.id]} if node.id in constants else set()
    if isinstance(node, ast.Call) and _name(node.func) == "next" and len(node.args) == 2:  # the default found
        return _values(node.args[1], constants)
    if isinstance(node, ast.IfExp):  # not what it tests
        return _values(node.body, constants) | _values(node.orelse, constants)
    if isinstance(node, (ast.Subscript, ast.Attribute, ast.Compare)):  # what it looks up or tests
        return set()
    if isinstance(node, (ast.Constant, ast.Call)):
        return _words(node)
    return set().union(*(_values(child, constants) for child in ast.iter_child_nodes(node)))


def _arguments(call) -> list:
    """A call's arguments as the function called gets them (``asyncio.to_thread(f, a, b)``: a, b)."""
    return call.args[1:] if _name(call.func) in ("to_thread", "db") else call.args


def _returned(function, constants: dict[str, str]) -> set[str]:
    """The strings ``function`` can return."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return set().union(*(_values(node.value, constants) for node in ast.walk(tree)
                         if isinstance(node, ast.Return) and node.value is not None))


def test_every_result_a_contact_is_left_with_is_listed():
    """bot/contacts/worker.py CONTACT_RESULTS (and the desk's dispositions, an offered callback's once an agent
    closes it) is what `kefu validate` asks the ledger to name (result_<result>): every result the contact code
    gives the schedule (an attempt's, a retry's, a decision's reason, a block's, an answer) is there."""
    import ast
    import inspect

    from bot.contacts import complaints, decision, not_delivered, worker
    from bot.contacts.answers import ANSWERS
    from bot.contacts.dialer import NOT_REACHED
    from bot.contacts.worker import CONTACT_RESULTS

    constants = _constants(worker, not_delivered, decision, complaints)
    at = {"retry_later": 3, "postpone": 3, "set_result": 2, "block_contact": 1, "hold_contact": 1, "drop_contact": 1,
          "expire_contact": 1, "_retry": 4, "_give_up": 2, "_not_made": 2, "block": 1, "Decision": 1}
    given = set(ANSWERS)  # the answer a call records (bot/contacts/answers.py takes no other)
    given |= {status.replace("-", "_") for status in NOT_REACHED}  # a call's carrier status, as its result
    for module in (worker, not_delivered):  # a ``result`` worked out before it is given
        given |= {word for node in ast.walk(ast.parse(inspect.getsource(module))) if isinstance(node, ast.Assign)
                  and [getattr(t, "id", "") for t in node.targets] == ["result"] for word in _values(node.value, constants)}
    for _, call in _calls(("bot/contacts",)):
        called, arguments = _called(call), _arguments(call)
        if called in ("finish", "not_placed", "not_delivered", "retry_later", "set_result"):
            given |= set().union(*(_values(k.value, constants) for k in call.keywords if k.arg == "result"))
        if called in at and len(arguments) > at[called]:
            given |= _values(arguments[at[called]], constants)
    assert {"no_answer", "carrier_unavailable", "quiet_hours", "open_complaint", "too_late", "offered", "dnd",
            "opt_out", "fixed"} <= given, given
    assert given <= set(CONTACT_RESULTS), given - set(CONTACT_RESULTS)


def test_every_status_a_contact_is_given_is_listed():
    """bot/contacts/schedule.py STATUSES is what `kefu validate` asks the ledger to name (followup_<status>):
    every status the contact code gives a contact is there, and no other."""
    import ast
    import inspect

    from bot.contacts import schedule
    from bot.contacts.schedule import STATUSES

    given = set()
    for _, call in _calls(("bot/contacts",)):
        given |= set().union(*(_words(k.value) for k in call.keywords if k.arg == "status" and _called(call) != "listing"))
        if _called(call) == "_stop" and len(call.args) > 1:
            given |= _words(call.args[1])
    given |= {d.value for node in ast.walk(ast.parse(inspect.getsource(schedule.Schedule.finish).strip()))
              if isinstance(node, ast.arguments) for d in node.kw_defaults if isinstance(getattr(d, "value", None), str)}
    given |= set(schedule.ACTIVE + schedule.PENDING)
    assert given == set(STATUSES), given ^ set(STATUSES)


def test_every_reason_wechat_refuses_an_agent_message_for_is_listed():
    """bot/channels/wechat_api.py NOT_DELIVERED is what `kefu validate` asks the desk to name (undelivered_<reason>):
    every reason the WeChat channel gives for an agent's message it did not deliver is there."""
    from bot.channels import wechat, wechat_api
    from bot.channels.wechat_api import NOT_DELIVERED
    from bot.handoff import undelivered

    constants = _constants(wechat_api)
    given = _returned(wechat_api.failure_reason, constants) | _returned(wechat.WeChatInput.push, constants)
    given |= {undelivered.HELD_MARK, undelivered.WINDOW_MARK}
    assert {"window", "quota", "credentials", "failed", "partial", "held"} <= given, given
    assert given <= set(NOT_DELIVERED), given - set(NOT_DELIVERED)


def test_every_speaker_and_answer_to_self_help_the_desk_shows_is_listed():
    """bot/handoff/context.py SPEAKERS and SELFHELP_ANSWERS are what `kefu validate` asks the desk to name (who_<who>,
    answer_<answer>): every ``who`` a transcript turn is given, and every answer to self-help recorded, is there."""
    import ast

    from bot.handoff import context
    from bot.handoff.context import SELFHELP_ANSWERS, SPEAKERS
    from tests.conftest import PROJECT_ROOT

    speakers, answers = set(), set(context.ANSWERS.values()) | _returned(context.selfhelp_answer, {})
    for path in [p for folder in ("bot/handoff", "bot/contacts") for p in (PROJECT_ROOT / folder).rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                speakers |= set().union(*(_words(v) for k, v in zip(node.keys, node.values)
                                          if isinstance(k, ast.Constant) and k.value == "who"))
            elif isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["who"]:
                speakers |= _words(node.value)
            elif isinstance(node, ast.Call):
                speakers |= set().union(*(_words(k.value) for k in node.keywords if k.arg == "who"))
                if _called(node) == "remember_selfhelp_answer" and len(node.args) > 3:
                    answers |= _words(node.args[3])
    assert speakers == set(SPEAKERS), speakers ^ set(SPEAKERS)
    assert {"worked", "failed", "asked_for_human", "other"} <= answers, answers
    assert answers <= set(SELFHELP_ANSWERS), answers - set(SELFHELP_ANSWERS)


def test_every_value_a_desk_page_chooses_from_is_listed():
    """The desk's close (index.html's choice) is bot/handoff/tickets.py DISPOSITIONS, which `kefu validate` asks to
    name (close_confirm_<…>, closed_<…>); the contact details the glance lists (glance.js FIELDS) are those
    bot/handoff/contact_details.py corrects (glance_field_<…>); a bill's status is one the import takes
    (glance_bill_<…>), as are the demo's; the profile rows (field_<…>) are read from agent.js itself."""
    import re

    import yaml

    from bot.customers.records import BILL_STATUSES, FIELDS, Invalid
    from bot.editor.ui_text_checks import WEB, _without_comments, rows_walked
    from bot.handoff.contact_details import CLEANERS, ON_FILE
    from bot.handoff.tickets import DISPOSITIONS
    from tests.conftest import PROJECT_ROOT

    page = (WEB / "agent" / "index.html").read_text(encoding="utf-8")
    choice = re.search(r'<select id="disposition".*?</select>', page, re.S).group(0)
    assert tuple(re.findall(r'<option value="(\w+)"', choice)) == DISPOSITIONS
    glance = (WEB / "agent" / "glance.js").read_text(encoding="utf-8")
    assert re.findall(r'"(\w+)"', re.search(r"var FIELDS = \[(.*?)\]", glance).group(1)) == list(CLEANERS) == list(ON_FILE)
    with pytest.raises(Invalid):
        FIELDS["bill"]["status"]("overdue")
    seed = yaml.safe_load((PROJECT_ROOT / "content" / "demo" / "seed.yml").read_text(encoding="utf-8"))
    assert {b["status"] for c in seed["customers"] for b in c.get("bills", [])} <= set(BILL_STATUSES)
    rows = rows_walked(_without_comments((WEB / "agent" / "agent.js").read_text(encoding="utf-8")))
    assert {"callback_phone", "name", "phone", "reason", "fault", "waited", "collected"} <= set(rows["field_"]), rows


@pytest.mark.parametrize("reply, old, new, placeholder", [
    ("utter_identified", "{customer_name}，您好，已核实您的身份。", "{customer_name}，您好，已核实您的身份（{agent_name}）。", "agent_name"),
    ("utter_verification_wrong", "您还可以再试{remaining}次", "您还可以再试{remaining}次（{agent_name}）", "agent_name"),
])
def test_a_reply_named_in_a_list_the_code_only_looks_up_in_is_checked_against_its_senders(project, reply, old, new,
                                                                                         placeholder):
    """A reply named in a list Kefu only looks a message up in (the desk's proof outcomes, the chat's proof
    prompts: ``said in PROOF_PROMPTS``) counted as sent from there with anything: "{agent_name}" in the
    identity confirmation passed, as the desk passes agent_name to another reply, and every customer who
    proved who they are read it unfilled."""
    relative = next(path for path in (project / "domain").glob("*.yml") if old in path.read_text(encoding="utf-8"))
    edit(relative, old, new)
    assert any(f"{reply}: nothing fills {{{placeholder}}} where" in p for p in errors_for(project)), errors_for(project)


def test_a_reply_whose_name_the_code_chooses_into_a_variable_is_checked_against_its_senders(project):
    """The waiting room chooses the booked callback's confirmation into a name (``response = "utter_queue_
    message_booked" if message else "utter_queue_callback_booked"``) and sends it with the ticket, the time
    and the masked number: a reply named that way counted as sent with anything, so "{agent_name}" in it
    passed and customers who booked a callback read it unfilled. The shipped words still pass."""
    assert not [p for p in errors_for(project) if "utter_queue_callback_booked" in p]
    edit(project / "domain" / "waiting_room.yml", "已为您预约回电，工单号 {ticket_id}。", "已为您预约回电（{agent_name}），工单号 {ticket_id}。")
    assert any("utter_queue_callback_booked: nothing fills {agent_name} where bot/handoff/watcher.py" in p
               for p in errors_for(project)), errors_for(project)


def test_a_reply_sent_as_a_message_with_its_values_is_checked_against_them(project):
    """A self-help entry is sent as one message naming its reply and carrying its values ({"response":
    "utter_selfhelp_entry", "title": …, "steps": …, "spoken": …}, actions/selfhelp.py): read nowhere as a
    sender, the reply counted as sent with anything, so "{position}" in it passed (the queue's reply is given
    position) and every customer sent self-help read it unfilled. The shipped words still pass."""
    assert not [p for p in errors_for(project) if "utter_selfhelp_entry" in p]
    edit(project / "domain" / "responses.yml", '    - text: "{title}\\n{steps}"', '    - text: "{title}（第{position}位）\\n{steps}"')
    assert any("utter_selfhelp_entry: nothing fills {position} where actions/selfhelp.py" in p
               for p in errors_for(project)), errors_for(project)


def test_a_reply_named_only_in_a_content_files_comment_is_checked_against_its_senders(project):
    """content/handoff.yml's comment on the waiting buttons names utter_queued: read as a content file that
    may name a reply for the code to send, it left the queue's reply checked only loosely, so a {status_label}
    in it passed (the visit replies are given one) and every customer put in the queue read it unfilled. The
    shipped words still pass."""
    assert not [p for p in errors_for(project) if "utter_queued:" in p]
    edit(project / "domain" / "responses.yml", "您目前排在第 {position} 位", "您目前排在第 {position} 位（{status_label}）")
    assert any("utter_queued: nothing fills {status_label} where actions/handoff.py" in p
               for p in errors_for(project)), errors_for(project)


def test_a_reply_in_a_lookup_list_that_also_holds_a_constant_is_checked_against_its_senders(project):
    """``PROOF_REQUESTS = ("utter_verification_code_sent", …, PASSWORD_ONLY)`` is only looked a message up in,
    but the constant among its names made it count as the replies' names passed around: the code request was
    checked only loosely, so a {status_label} in it passed (the visit replies are given one) and every customer
    asked for a code read it unfilled. The shipped words still pass."""
    assert not [p for p in errors_for(project) if "utter_verification_code_sent" in p]
    edit(project / "domain" / "verification.yml", "（{minutes}分钟内有效）", "（{minutes}分钟内有效，{status_label}）")
    assert any("utter_verification_code_sent: nothing fills {status_label} where actions/identity.py" in p
               for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("relative, old, new, named", [
    # the agent's close, named from the disposition: a ticket's reply is given no callback time
    ("domain/desk_close.yml", "您的问题已登记为工单 {ticket_id}，我们会继续跟进。查询进度时发送",
     "您的问题已登记为工单 {ticket_id}，我们会在{callback_by}前跟进。查询进度时发送",
     "utter_agent_closed_with_ticket: nothing fills {callback_by} where bot/handoff/desk.py"),
    # recorded(…, response, **values): the account's phone is never told to whoever only named the account
    ("domain/responses.yml", "客服会尽快回电到账户登记的手机。", "客服会尽快回电到账户登记的手机 {phone_masked}。",
     "utter_message_recorded_registered_phone: nothing fills {phone_masked} where actions/tickets.py"),
    ("domain/responses.yml", "业务经理会在1个工作日内致电账户登记的手机，", "业务经理会在1个工作日内致电账户登记的手机 {phone_masked}，",
     "utter_new_install_recorded_registered_phone: nothing fills {phone_masked} where actions/new_install.py"),
    # the visit replies, named by constants the code also compares with what it said last
    ("domain/responses.yml", "为您预约{visit_time}师傅上门，对吗？", "为您预约{visit_time}师傅上门（{status_label}），对吗？",
     "utter_visit_time_confirm: nothing fills {status_label} where actions/visits.py"),
    ("domain/responses.yml", "您的上门工单 {ticket_id}：{status_label}。需要再", "您的上门工单 {ticket_id}：{status_label}（{visit_time}）。需要再",
     "utter_visit_done_book_again: nothing fills {visit_time} where actions/visits.py"),
    ("domain/responses.yml", "需要的话，我现在就为您登记“{service}”", "需要的话，我现在就为您登记“{service}”（{status_label}）",
     "utter_offer_service_change: nothing fills {status_label} where actions/service_questions.py"),
])
def test_a_reply_sent_through_a_function_or_named_by_a_compared_constant_is_checked_against_its_senders(
        project, relative, old, new, named):
    """Replies whose name or values come from another function (``recorded(…, "utter_new_install_recorded",
    **values)``, ``ask_to_confirm(dispatcher, CONFIRM_NEW, when)``, the agent's close named from its
    disposition) or whose constant the code also compares with what it said last (``last_said(tracker) ==
    OFFER``) were checked against every value the code passes anywhere: a {phone_masked} in the registered-phone
    reply passed, and showed the account's number to whoever only typed the account number. The shipped words
    still pass."""
    reply = named.split(":")[0]
    assert not [p for p in errors_for(project) if f"{reply}:" in p]
    edit(project / relative, old, new)
    assert any(named in p for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("relative, reply, sender", [
    ("domain/desk_close.yml", "utter_agent_closed_with_callback", "bot/handoff/desk.py"),
    ("domain/responses.yml", "utter_new_install_recorded_registered_phone", "actions/new_install.py"),
])
def test_a_reply_whose_name_the_code_builds_is_named_when_deleted(project, relative, reply, sender):
    """The agent's close is named from its disposition (f"utter_agent_closed_with_{disposition}") and the
    registered-phone replies from the reply given (f"{response}_registered_phone"): deleting one passed
    `kefu validate`, and the customer was told nothing of the callback booked or the install recorded."""
    path = project / relative
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(n for n, line in enumerate(lines) if line.startswith(f"  {reply}:"))
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("  ") and not lines[n].startswith("   ")),
               len(lines))
    path.write_text("".join(lines[:start] + lines[end:]), encoding="utf-8")
    assert any(f"reply '{reply}' is not in the domain" in p and sender in p for p in errors_for(project)), errors_for(project)


def test_a_reply_nothing_sends_is_a_warning(project):
    """``utter_queue_message_saved`` stayed in the domain after the waiting room stopped sending it: an editor
    rewording it changed nothing customers read, and nothing said so. Nothing names it (nor the older
    ``utter_handoff_requested``): each is a warning, not an error; every other shipped reply is sent by some
    code, story, rule, flow or content file, or is one Rasa or a name the code builds says."""
    unsent = [p for p in problems_for(project) if "is sent by nothing" in p]
    assert unsent == [f"domain/responses.yml:{line_of(project, 'domain/responses.yml', f'  {reply}:')}: warning: reply "
                      f"'{reply}' is sent by nothing: no code, story, rule, flow or content file names it, so customers "
                      "never read it; delete it, or put back what sent it"
                      for reply in ("utter_handoff_requested", "utter_queue_message_saved")], unsent
    assert errors_for(project) == []


@pytest.mark.parametrize("relative, old, new, named", [
    # the repair's acknowledgement, named by a class attribute the mixin sends (actions/acknowledge.py)
    ("domain/acknowledge.yml", "    - text: 很抱歉问题还没有解决，我来为您登记报修，安排维修人员尽快处理。登记前",
     "    - text: 很抱歉问题还没有解决（{status_label}），我来为您登记报修，安排维修人员尽快处理。登记前",
     "utter_ack_repair: nothing fills {status_label} where actions/tickets.py"),
    # the repair kept while the database is down, named by a class attribute (actions/kept_requests.py)
    ("domain/responses.yml", "您的报修已经记下，系统恢复后", "您的报修（{status_label}）已经记下，系统恢复后",
     "utter_fault_ticket_kept: nothing fills {status_label} where actions/tickets.py"),
    # the service question, whose name the opt-out action also compares with what was said last
    ("domain/responses.yml", "    - text: 请问您要办理哪项业务？", "    - text: 请问您要办理哪项业务（{status_label}）？",
     "utter_ask_service_action: nothing fills {status_label} where actions/tickets.py"),
])
def test_a_reply_named_by_a_class_attribute_or_compared_as_written_is_checked_against_its_senders(
        project, relative, old, new, named):
    """An action class names its acknowledgement and its kept-when-down reply as class attributes
    (``acknowledgement = "utter_ack_repair"``) that a mixin sends (``response=self.acknowledgement``), and the
    opt-out action compares the service question's name, written out, with what was said last: each left the
    reply checked against every value the code passes anywhere, so a {status_label} (the visit replies are given
    one) passed and every customer reporting a fault read it unfilled. The shipped words still pass."""
    reply = named.split(":")[0]
    assert not [p for p in errors_for(project) if f"{reply}:" in p]
    edit(project / relative, old, new)
    assert any(named in p for p in errors_for(project)), errors_for(project)


def test_a_slot_a_rule_says_with_nothing_filling_it_first_is_refused(project):
    """A reply said from a rule or story is filled with the slots only, and Rasa writes an empty one as "None":
    "{customer_name}" in the goodbye passed (a slot, filled), and the goodbye rule said "None，再见" to every
    customer nobody had identified. Named at the first rule or story saying it with nothing before it that may
    fill the slot: the goodbye rule, not the story where it follows the identification action."""
    edit(project / "domain" / "responses.yml", "    - text: 感谢您的来访，再见！", "    - text: 感谢您的来访，{customer_name}，再见！")
    refused = [p for p in errors_for(project) if "utter_goodbye:" in p]
    line = line_of(project, "domain/responses.yml", "    - text: 感谢您的来访")
    assert refused == [f"domain/responses.yml:{line}: utter_goodbye: {{customer_name}} would read \"None\" to a customer "
                       "whose customer_name is not known: rules.yml:8 (rule 'goodbye') says this reply with nothing "
                       "before it filling that slot; leave {customer_name} out, or have the action that fills "
                       "customer_name say it"], refused


def test_a_slot_set_before_a_rule_says_it_passes(project):
    """A reply a rule says after the slot is set there (its condition), or a story after an action that may set
    it, or a variant Rasa says only when the slot matches its condition, is not refused: only a placeholder nothing
    before the reply can fill is."""
    edit(project / "domain" / "responses.yml", "    - text: 感谢您的来访，再见！", "    - text: 感谢您的来访，{customer_name}，再见！")
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:",
         "  - rule: goodbye\n    condition: [{slot_was_set: [{customer_name: 张三}]}]\n    steps:")
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]
    # a variant Rasa says only when the slot matches its condition is not said with the slot empty
    edit(project / "nlu_data" / "rules.yml", "    condition: [{slot_was_set: [{customer_name: 张三}]}]\n", "")
    edit(project / "domain" / "responses.yml", "    - text: 感谢您的来访，{customer_name}，再见！",
         "    - condition: [{type: slot, name: customer_name, value: 张三}]\n      text: 感谢您的来访，{customer_name}，再见！")
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]


def test_a_variant_a_rule_says_only_while_the_slot_is_empty_is_refused_its_placeholder(project):
    """Rasa says a variant whose condition is ``value: null`` exactly when the slot is empty, so its
    "{customer_name}" reads "None" every time; counted as conditioned on the slot, it passed."""
    edit(project / "domain" / "responses.yml", "    - text: 感谢您的来访，再见！",
         "    - condition: [{type: slot, name: customer_name, value: null}]\n      text: 感谢您的来访，{customer_name}，再见！")
    line = line_of(project, "domain/responses.yml", "      text: 感谢您的来访，{customer_name}")
    assert any(p.startswith(f"domain/responses.yml:{line}: utter_goodbye: {{customer_name}} would read \"None\"")
               for p in errors_for(project)), errors_for(project)

def test_a_reply_named_by_a_constant_another_module_imports_and_sends_is_checked_against_it(project):
    """``ASK_TIME_AGAIN = "utter_visit_time_ask_again"`` (actions/visits.py, which only looks it up) is imported
    and sent by the deny action (actions/escalation.py, ``utter_message(response=ASK_TIME_AGAIN)``): sent from a
    module other than its own, the reply was checked against every value the code passes anywhere, so a
    {status_label} in it passed and a caller whose visit time was misheard read it unfilled. The shipped words
    still pass."""
    assert not [p for p in errors_for(project) if "utter_visit_time_ask_again:" in p]
    edit(project / "domain" / "responses.yml", "好的，请再说一遍您希望师傅哪天上门", "好的（{status_label}），请再说一遍您希望师傅哪天上门")
    assert any("utter_visit_time_ask_again: nothing fills {status_label} where actions/escalation.py" in p
               for p in errors_for(project)), errors_for(project)


GOODBYE = "    - text: 感谢您的来访，再见！"
GOODBYE_NAMED = "    - text: 感谢您的来访，{customer_name}，再见！"
GOODBYE_RULE_FILLED = "  - rule: goodbye\n    condition: [{slot_was_set: [{customer_name: 张三}]}]\n    steps:"


def goodbye_story(project, name: str, steps: str) -> str:
    """A story appended to nlu_data/stories.yml, ending with the goodbye; its first line's text."""
    first = f"  - story: {name}"
    with (project / "nlu_data" / "stories.yml").open("a", encoding="utf-8") as stories:
        stories.write(f"{first}\n    steps:\n{steps}      - intent: goodbye\n      - action: utter_goodbye\n")
    return first


def test_a_slot_only_an_action_that_never_sets_it_runs_before_is_refused(project):
    """Found in review: any action before the reply counted as filling every slot, so a story where the
    satisfaction score is recorded and the goodbye says "{customer_name}" passed, and read "None" to a customer
    nobody identified (``action_record_csat`` sets csat_asked and csat_done only). The shipped story that says
    the goodbye after the identification still passes: the name is set there through ``identified()``, a
    function of another module the action calls."""
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]
    first = goodbye_story(project, "a score, then goodbye",
                          "      - intent: csat_score\n      - action: action_record_csat\n")
    step = line_of(project, "nlu_data/stories.yml", first) + 5
    refused = [p for p in errors_for(project) if "utter_goodbye:" in p]
    assert refused == [f"domain/responses.yml:{line_of(project, 'domain/responses.yml', GOODBYE_NAMED)}: utter_goodbye: "
                       "{customer_name} would read \"None\" to a customer whose customer_name is not known: "
                       f"stories.yml:{step} (story 'a score, then goodbye') says this reply with nothing before it "
                       "filling that slot; leave {customer_name} out, or have the action that fills customer_name "
                       "say it"], refused


def test_an_entity_fills_only_the_slots_mapped_from_it(project):
    """Rasa 3 fills a slot from an entity only through a ``from_entity`` mapping: an entity named like a slot
    mapped otherwise (customer_name: custom) fills nothing, and passed; one of another name mapped to the slot
    fills it."""
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    edit(project / "domain" / "core.yml", "entities:\n", "entities:\n  - customer_name\n  - person\n")
    goodbye_story(project, "a name said", "      - intent: inform\n        entities: [{customer_name: 张三}]\n")
    assert [p for p in errors_for(project) if "utter_goodbye:" in p and "(story 'a name said')" in p]
    edit(project / "domain" / "core.yml", "  customer_name:\n    type: text\n    influence_conversation: false\n"
         "    mappings: [{type: custom}]", "  customer_name:\n    type: text\n    influence_conversation: false\n"
         "    mappings: [{type: from_entity, entity: person}]")
    assert [p for p in errors_for(project) if "utter_goodbye:" in p and "(story 'a name said')" in p]
    edit(project / "nlu_data" / "stories.yml", "entities: [{customer_name: 张三}]", "entities: [{person: 张三}]")
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]


@pytest.mark.parametrize("mapping", ["{type: from_text, intent: inform}", "{type: from_intent, intent: [inform], value: 张三}",
                                     "{type: from_text, not_intent: [greet, goodbye]}"])
def test_a_slot_mapped_from_the_message_fills_only_on_the_intents_its_mapping_names(project, mapping):
    """A slot mapped from the text or the intent counted as filled by any user step before the reply, but Rasa
    fills it only on a message of an intent its mapping's ``intent`` names (or of none its ``not_intent`` does):
    a story greeting then saying goodbye with "{customer_name}" passed, and read "None" to the customer."""
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    edit(project / "domain" / "core.yml", "  customer_name:\n    type: text\n    influence_conversation: false\n"
         "    mappings: [{type: custom}]", "  customer_name:\n    type: text\n    influence_conversation: false\n"
         f"    mappings: [{mapping}]")
    goodbye_story(project, "a greeting", "      - intent: greet\n")
    assert [p for p in errors_for(project) if "utter_goodbye:" in p and "(story 'a greeting')" in p], errors_for(project)
    edit(project / "nlu_data" / "stories.yml", "      - intent: greet\n      - intent: goodbye",
         "      - intent: inform\n      - intent: goodbye")
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]


def test_an_action_that_names_its_slot_at_run_time_may_fill_any_and_is_named_in_a_warning(project):
    """Which slots ``SlotSet(slot, …)`` sets, with ``slot`` computed, cannot be read: a reply after that action
    is not refused (it may fill the slot), and a warning says the check is loose there."""
    (project / "actions" / "remembered.py").write_text(
        "from rasa_sdk import Action\nfrom rasa_sdk.events import SlotSet\n\n\n"
        "class ActionRemember(Action):\n    def name(self):\n        return \"action_remember\"\n\n"
        "    async def run(self, dispatcher, tracker, domain):\n"
        "        return [SlotSet(slot, value) for slot, value in tracker.latest_message.get(\"kept\", {}).items()]\n",
        encoding="utf-8")
    edit(project / "domain" / "core.yml", "actions:\n", "actions:\n  - action_remember\n")
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    first = goodbye_story(project, "remembered", "      - intent: greet\n      - action: action_remember\n")
    step = line_of(project, "nlu_data/stories.yml", first) + 3
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]
    warned = [p for p in problems_for(project) if "action_remember:" in p]
    assert warned == [f"nlu_data/stories.yml:{step}: warning: action_remember: which slots it fills is not known "
                      "(actions/remembered.py:10 names the slot it sets at run time), so every slot counts as filled "
                      "after it; a reply said after it that shows a slot it does not fill would read \"None\""], warned


@pytest.mark.parametrize("imported, module", [
    ("import actions.identity as ident", "ident"),
    ("import actions.identity", "actions.identity"),
    ("from actions import identity", "identity"),
])
def test_a_slot_set_through_a_module_imported_as_a_name_fills_it(project, imported, module):
    """An action calling a function of a module imported as a name (``ident.identified(customer)``) was read as
    calling nothing of the project's: the name it sets there counted as never set, so a goodbye with
    "{customer_name}" after it was refused though it is filled. A function that sets no such slot still does not."""
    (project / "actions" / "remembered.py").write_text(
        f"{imported}\nfrom rasa_sdk import Action\n\n\n"
        "class ActionRemember(Action):\n    def name(self):\n        return \"action_remember\"\n\n"
        "    async def run(self, dispatcher, tracker, domain):\n"
        f"        return {module}.identified(tracker.get_slot(\"customer\"))\n", encoding="utf-8")
    edit(project / "domain" / "core.yml", "actions:\n", "actions:\n  - action_remember\n")
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    goodbye_story(project, "remembered", "      - intent: greet\n      - action: action_remember\n")
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p], errors_for(project)
    edit(project / "actions" / "remembered.py", f"{module}.identified(", f"{module}.open_question(")
    assert [p for p in errors_for(project) if "utter_goodbye:" in p and "(story 'remembered')" in p], errors_for(project)


@pytest.mark.parametrize("send", [
    "dispatcher.utter_message(response=visits.ASK_TIME_AGAIN)",  # a constant of the module
    "visits.ask_to_confirm(dispatcher, \"utter_visit_time_ask_again\", \"明天\")",  # a function saying its question
])
def test_a_reply_sent_through_a_module_imported_as_a_name_is_checked_against_its_senders(project, send):
    """A reply sent as ``visits.ASK_TIME_AGAIN`` or through ``visits.ask_to_confirm(…)`` of a module imported as a
    name left the reply checked against every value the code passes anywhere: a {status_label} in it passed (the
    visit replies are given one), and the customer read it unfilled."""
    (project / "actions" / "asked_again.py").write_text(
        f"import actions.visits as visits\n\n\ndef ask_again(dispatcher):\n    {send}\n", encoding="utf-8")
    assert not [p for p in errors_for(project) if "utter_visit_time_ask_again:" in p]
    edit(project / "domain" / "responses.yml", "好的，请再说一遍您希望师傅哪天上门", "好的（{status_label}），请再说一遍您希望师傅哪天上门")
    assert any("utter_visit_time_ask_again: nothing fills {status_label} where actions/" in p
               for p in errors_for(project)), errors_for(project)


def test_a_form_fills_only_the_slots_it_requests(project):
    """A form before the reply counted as filling every slot; it fills those it requests (``required_slots``).
    A story running it is not named for an unknown action: a form is one."""
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    edit(project / "domain" / "core.yml", "actions:\n", "forms:\n  visit_form:\n    required_slots: [phone_number]\n\nactions:\n")
    goodbye_story(project, "a visit form", "      - intent: book_visit\n      - action: visit_form\n"
                                           "      - active_loop: visit_form\n      - active_loop: null\n")
    errors = errors_for(project)
    assert not [p for p in errors if "visit_form" in p], errors
    assert [p for p in errors if "utter_goodbye:" in p and "(story 'a visit form')" in p], errors
    edit(project / "domain" / "core.yml", "required_slots: [phone_number]", "required_slots: [phone_number, customer_name]")
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p]


@pytest.mark.parametrize("reply, old, sender", [
    # sent by the desk and the waiting room; "utter_ask_selfhelp_worked", returned as written, loosened it as a prefix
    ("utter_ask_selfhelp_worked_handed_over", "按上面的步骤操作后，问题解决了吗？", "bot/handoff/"),
    # returned by open_question, and sent by the identification when a number is typed while the question is open
    ("utter_ask_selfhelp_worked", "按上面的步骤操作后，问题解决了吗？", "actions/identity.py:"),
    # returned by details_question (an f-string of the fault's intent), through open_question
    ("utter_ask_fault_detail_fault_tv", "请问电视具体是什么情况？", "actions/identity.py:"),
])
def test_a_reply_a_function_returns_is_checked_against_the_senders_of_its_calls(project, reply, old, sender):
    """``open_question`` (actions/identity.py) returns "utter_ask_selfhelp_worked" or ``details_question``'s
    f"utter_ask_fault_detail_{fault_type}", which the identification sends when a number is typed while the question
    is open (escalation.py only tests details_question's answer). Read as names written anywhere, the five replies,
    and (as a prefix) every reply beginning with "utter_ask_selfhelp_worked", were checked against every value the
    code passes anywhere: a {status_label} in them passed, and the customer read it unfilled. The shipped words pass."""
    assert not [p for p in errors_for(project) if f"{reply}:" in p]
    edit(project / "domain" / "responses.yml", f"  {reply}:\n    - text: {old}",
         f"  {reply}:\n    - text: （{{status_label}}）{old}")
    assert any(f"{reply}: nothing fills {{status_label}} where {sender}" in p for p in errors_for(project)), errors_for(project)


@pytest.mark.parametrize("call, extra, checked", [
    ("self.question_again(tracker)", "", True),
    ("ActionAskAgain.question_again(tracker)", "", True),
    # passed on as well: who calls it with what is not known, so the reply is not checked against this sender
    ("self.question_again(tracker)", "tracker.later = self.question_again", False),
])
def test_a_reply_a_method_returns_is_checked_against_the_senders_of_its_calls(project, call, extra, checked):
    """Only module-level functions returning a reply's name were read: a reply an action's method returns
    (``response=self.question_again(tracker)``) was checked against every value the code passes anywhere, so a
    {status_label} in it passed (the visit replies are given one) and the customer read it unfilled."""
    (project / "actions" / "asked_again.py").write_text(
        "from rasa_sdk import Action\n\n\nclass ActionAskAgain(Action):\n    def name(self):\n"
        "        return \"action_ask_again\"\n\n    @staticmethod\n    def question_again(tracker):\n"
        "        return \"utter_visit_time_ask_again\"\n\n    async def run(self, dispatcher, tracker, domain):\n"
        f"        dispatcher.utter_message(response={call}, visit_time=\"明天\")\n        {extra}\n        return []\n",
        encoding="utf-8")
    edit(project / "domain" / "core.yml", "actions:\n", "actions:\n  - action_ask_again\n")
    assert not [p for p in errors_for(project) if "utter_visit_time_ask_again:" in p]
    edit(project / "domain" / "responses.yml", "好的，请再说一遍您希望师傅哪天上门", "好的（{status_label}），请再说一遍您希望师傅哪天上门")
    refused = [p for p in errors_for(project) if "utter_visit_time_ask_again: nothing fills {status_label} where" in p]
    assert bool(refused) == checked, refused


def test_a_slot_a_story_says_is_set_to_null_is_not_filled_after_it(project):
    """``slot_was_set: [{customer_name: null}]`` says the slot is empty there, but an action before it that may
    set the slot still counted as filling it: the goodbye with "{customer_name}" after it passed, and read "None"."""
    edit(project / "domain" / "responses.yml", GOODBYE, GOODBYE_NAMED)
    edit(project / "nlu_data" / "rules.yml", "  - rule: goodbye\n    steps:", GOODBYE_RULE_FILLED)
    steps = "      - intent: greet\n      - action: action_identify_customer\n"
    goodbye_story(project, "identified", steps)
    assert not [p for p in errors_for(project) if "utter_goodbye:" in p], errors_for(project)
    goodbye_story(project, "forgotten", steps + "      - slot_was_set: [{customer_name: null}]\n")
    assert [p for p in errors_for(project) if "utter_goodbye:" in p and "(story 'forgotten')" in p], errors_for(project)


def test_a_reply_passed_through_another_objects_method_is_checked_against_its_sender(project):
    """The desk's transfer hands "utter_queue_transferred" to the queue (``self.queue.transfer(…, says=…)``),
    which keeps it in Redis for the hand-over to say: a name passed to another object counted as sent with
    anything, so "{agent_name}" (a value the desk gives another reply) passed, and every customer transferred
    read it unfilled. The hand-over gives nothing but the slots."""
    edit(project / "domain" / "responses.yml", "已为您转接到更合适的客服组，请稍候。", "已为您转接到{agent_name}所在的客服组，请稍候。")
    line = line_of(project, "domain/responses.yml", "已为您转接到{agent_name}所在的客服组")
    assert any(p.startswith(f"domain/responses.yml:{line}:") and "utter_queue_transferred: nothing fills {agent_name} "
               "where bot/handoff/transfer_owed.py:" in p for p in errors_for(project)), errors_for(project)


def test_a_reply_a_mapping_chooses_by_conditions_is_filled_by_the_slots_only(project):
    """The hand-back says ``SAID.get(state) or SAID.get(reason)`` (bot/handoff/handback.py) with the channel's
    marker only: who says which of the mapping's replies cannot be read, and "{position}" (a value the waiting
    room gives other replies) in the words of a customer who left the queue passed, read unfilled."""
    edit(project / "domain" / "handoff_lifecycle.yml", "您已退出人工排队。", "您已退出人工排队（原排第{position}位）。")
    line = line_of(project, "domain/handoff_lifecycle.yml", "（原排第{position}位）")
    assert any(p.startswith(f"domain/handoff_lifecycle.yml:{line}:") and "utter_queue_left_away: nothing fills "
               "{position}: bot/handoff/handback.py:" in p and "only a slot" in p
               for p in errors_for(project)), errors_for(project)


LEFT_AWAY = "      text: 您已退出人工排队。"
LEFT_AWAY_NAMED = "      text: 您好{customer_name}，您已退出人工排队。"


def test_a_slot_in_a_reply_a_mapping_chooses_is_refused_unless_its_variant_is_conditioned_on_it(project):
    """The hand-back says ``SAID``'s reply with the slots, and nothing shows a slot set then (a customer nobody
    identified has no customer_name; the hand-back clears ``awaiting`` as it speaks): "{customer_name}" passed as
    a slot, and an unidentified caller who left the queue heard "您好None，您已退出人工排队". Refused at its line; a
    variant Rasa says only when the slot holds a value passes, one conditioned on the slot being empty does not."""
    edit(project / "domain" / "handoff_lifecycle.yml", LEFT_AWAY, LEFT_AWAY_NAMED)
    line = line_of(project, "domain/handoff_lifecycle.yml", LEFT_AWAY_NAMED)
    refused = [p for p in errors_for(project) if "utter_queue_left_away:" in p]
    assert len(refused) == 1 and refused[0].startswith(f"domain/handoff_lifecycle.yml:{line}: "), refused
    assert "{customer_name} would read \"None\" to a customer whose customer_name is empty: " \
           "bot/handoff/handback.py:" in refused[0], refused
    conditioned = "    - channel: ivr\n      condition: [{type: slot, name: customer_name, value: %s}]\n" + LEFT_AWAY_NAMED
    edit(project / "domain" / "handoff_lifecycle.yml", "    - channel: ivr\n" + LEFT_AWAY_NAMED, conditioned % "张三")
    assert not [p for p in errors_for(project) if "utter_queue_left_away:" in p]
    edit(project / "domain" / "handoff_lifecycle.yml", conditioned % "张三", conditioned % "null")
    line = line_of(project, "domain/handoff_lifecycle.yml", LEFT_AWAY_NAMED)
    assert [p for p in errors_for(project) if "utter_queue_left_away:" in p] == [
        refused[0].replace(f"handoff_lifecycle.yml:{line - 1}:", f"handoff_lifecycle.yml:{line}:")]

def test_a_reply_a_helper_passes_on_to_another_is_checked_against_its_senders(project):
    """Self-help's triage says ``CHASED`` through ``chase_if_known(…, reply=CHASED)``, which passes it on to
    ``chase_repair(…, reply=reply)`` (actions/repairs.py), which tests it and says it with ``ticket_id``: read
    only from inside them, the reply counted as sent with anything, so "{phone_masked}" (a value other replies
    are given) passed, and a customer whose repair was chased read it unfilled."""
    edit(project / "domain" / "responses.yml", "这个故障已经有报修工单 {ticket_id} 在处理中。",
         "这个故障已经有报修工单 {ticket_id} 在处理中（短信已发到 {phone_masked}）。")
    line = line_of(project, "domain/responses.yml", "（短信已发到 {phone_masked}）")
    assert any(p.startswith(f"domain/responses.yml:{line}:") and "utter_fault_ticket_chased: nothing fills "
               "{phone_masked} where actions/" in p for p in errors_for(project)), errors_for(project)


QUEUED_KEYS = "等待期间预约回电请按1，语音留言请按2，通过短信获取自助服务指引请按3。"


@pytest.mark.parametrize("node_said", ["正在为您转接人工客服，您排在第{position}位", "好的，已为您排队，客服上线后"])
def test_a_transfer_naming_some_of_the_hold_keys_is_a_warning(project, node_said):
    """Found in review: main.yml's transfer_general and wait_without_estimate told a queued caller 1 and 2, not 3 (the
    self-help guide by SMS, which hold.reminder names and hold.keys gives). Each now names all three; a transfer's
    `say` naming some but not all is a warning at its line."""
    assert not any("says which keys work while waiting" in p for p in problems_for(project))
    main = project / "ivr_flows" / "main.yml"
    line = line_of(project, "ivr_flows/main.yml", node_said)
    text = main.read_text(encoding="utf-8").splitlines()
    assert QUEUED_KEYS in text[line - 1]
    text[line - 1] = text[line - 1].replace(QUEUED_KEYS, "等待期间预约回电请按1，语音留言请按2。")
    main.write_text("\n".join(text) + "\n", encoding="utf-8")
    warned = [p for p in problems_for(project) if "says which keys work while waiting" in p]
    assert len(warned) == 1 and warned[0].startswith(f"ivr_flows/main.yml:{line}: warning: "), warned
    assert "not 3 (hold.keys: send_selfhelp)" in warned[0], warned
    assert errors_for(project) == []


NOBODY_ONLINE_KEYS = "预约回电请按1，语音留言请按2，通过短信获取自助服务指引请按3，取消排队请按星号键。"


def test_a_queue_notice_naming_some_of_the_hold_keys_is_a_warning(project):
    """Found in review: the phone's utter_queue_nobody_available, heard on hold, named 1, 2 and * and not 3 (the
    self-help guide by SMS, which hold.keys gives every queued caller). It now names all three; a waiting-room
    notice naming some hold keys but not all is a warning at its variant's line, as a transfer's say is."""
    assert not any("says which keys work while waiting" in p for p in problems_for(project))
    edit(project / "domain" / "waiting_room.yml", NOBODY_ONLINE_KEYS, "预约回电请按1，语音留言请按2，取消排队请按星号键。")
    line = line_of(project, "domain/waiting_room.yml", "语音留言请按2，取消排队请按星号键。")
    warned = [p for p in problems_for(project) if "says which keys work while waiting" in p]
    assert warned == [f"domain/waiting_room.yml:{line}: warning: utter_queue_nobody_available: says which keys work "
                      "while waiting but not 3 (hold.keys: send_selfhelp): name every hold key, as hold.reminder "
                      "does, or none (main.yml)"], warned
    assert errors_for(project) == []
