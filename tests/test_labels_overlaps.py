"""Every word of content/labels.yml lying wholly inside a word of another list, read through the real functions:
does the shorter word change what the longer one's message is taken as? Each such word is taken out of its list
and the longer word read again; any reading that moves is a finding. The findings judged harmless are listed
below with why; a new one fails here until an editor or a reviewer has judged it.
"""
from __future__ import annotations

import shutil

import pytest
import yaml

from bot import settings as settings_module
from bot.labels import WORD_LISTS, WORD_LISTS_BY_PART, asks_how, labels, names_any, parts_named
from tests.conftest import PROJECT_ROOT

# (inner list, inner word, outer word): the shorter word's reading of the longer one is the one meant.
JUDGED = {
    # A visit question naming the technician names them (progress_of_no_visit needs both): meant.
    ("visit_named", "上门", "什么时候上门"), ("visit_named", "上门", "几点上门"), ("visit_named", "上门", "预约的上门"),
    ("visit_named", "师傅", "约的师傅"),
    # ... and a visit's ticket among the progress answer's (ticket_question.visit): meant too.
    *{("ticket_question.visit", inner, outer) for inner, outer in (("上门", "什么时候上门"), ("上门", "几点上门"),
                                                                  ("上门", "预约的上门"), ("师傅", "约的师傅"))},
    # "比上个月多" names the month before too; the bill action tells the change (both months) and not that month
    # again (actions/accounts.py: ``elif PREVIOUS``).
    ("bill_question.previous", "上个月", "比上个月多"), ("bill_question.previous", "上月", "比上月多"),
    # "维修人员什么时候来" hears the repair and the visit booked for it.
    ("ticket_question.fault", "维修", "维修人员"),
    # The data asked beside a number ("查流量 138…", requests_named_with_a_number.query_bill) is the bill's data part,
    # and a repair's ticket asked so ("报修进度 138…", .query_ticket) the repair's ticket: meant.
    *{("bill_question.data", "流量", outer) for outer in ("查流量", "流量用了", "流量还剩")},
    *{("ticket_question.fault", "报修", outer) for outer in ("报修单", "报修工单", "报修进度")},
    # A visit booking named beside a number ("预约上门 138…", requests_named_with_a_number.book_visit) names the visit
    # and its ticket: meant.
    *{(inner_key, "上门", outer) for inner_key in ("visit_named", "ticket_question.visit") for outer in ("预约上门", "约上门")},
    # A cancellation naming the visit ("不用上门了") names it (asks_to_cancel needs both) and its ticket: meant.
    *{(inner_key, "上门", outer) for inner_key in ("visit_named", "ticket_question.visit")
      for outer in ("不用上门", "不要上门", "不需要上门")},
    # A complaint taken back ("不投诉了") names complaints: harmless, the words are read (actions/tickets.py
    # ``withdrawn``) only while a complaint waits for its number, before anything reads a ticket question.
    *{("ticket_question.complaint", "投诉", outer)
      for outer in ("不投诉了", "不想投诉了", "不用投诉了", "不要投诉了", "撤销投诉", "取消投诉", "撤回投诉", "投诉撤了", "投诉撤掉",
                    "投诉撤回", "投诉取消")},
    # ... and "我不是要投诉" as a complaint is started (actions/tickets.py ActionComplaint): a ticket question saying so
    # would hear of complaint tickets among its own, no harm.
    *{("ticket_question.complaint", "投诉", outer) for outer in ("不是要投诉", "不是想投诉", "没想投诉", "没要投诉", "不是来投诉",
                                                             "不是投诉", "我不投诉", "不投诉的")},
    # complaint_despite_words that speak of a complaint made ("我不是投诉过了吗") name complaints: meant.
    *{("ticket_question.complaint", "投诉", outer) for outer in ("投诉过", "投诉了", "是不是投诉")},
    # A callback not returned, asked after beside a number ("没回电 138…", requests_named_with_a_number.query_ticket),
    # is the callback's ticket: meant.
    ("ticket_question.callback", "回电", "没回电"),
    # 没用完 (plan_rules_words) is read only in a plan question, 没用 only in the answer to "问题解决了吗？": never
    # the same message.
    ("selfhelp_not_fixed_words", "没用", "没用完"),
}
# Only the readings that choose an answer are compared: naming a device (宽带 in 宽带账号, fault_named_by and
# plan_question) is what those words are for, and the login note (login_name_words) is said only with the number.


def every_list(words: dict) -> dict[str, list[str]]:
    lists = {key: words.get(key) or [] for key in WORD_LISTS}
    lists.update({f"{key}.{part}": listed or [] for key in WORD_LISTS_BY_PART
                  for part, listed in (words.get(key) or {}).items()})
    lists["own_plan_words"] = words.get("own_plan_words") or []
    return lists


def reading(text: str) -> dict[str, object]:
    """What each of the real checks reads ``text`` as."""
    from actions.accounts import bill_topics_named
    from actions.visits import asks_about_a_visit, asks_how_it_stands
    from bot.asked_outright import asked_outright

    words = labels()
    lowered = text.lower()
    said = {key: any(word and word.lower() in lowered for word in words.get(key) or ())
            for key in ("goodbye_words", "never_mind_words", "selfhelp_not_fixed_words", "hurry_words",
                        "complaint_words", "own_plan_words")}
    return {
        "asked_outright": asked_outright(text), "asks_how": asks_how(text),
        "visit_question": asks_about_a_visit(text), "visit_progress": asks_how_it_stands(text),
        "visit_named": names_any(text, words.get("visit_named")),
        "bill": sorted(bill_topics_named(text, words.get("bill_question") or {})),
        "ticket_question": sorted(parts_named(text, words.get("ticket_question") or {})),
        **said,
    }


def findings() -> list[tuple[str, str, str, str, dict, dict]]:
    """(inner list, inner word, outer list, outer word, reading without it, reading with it) for every word
    wholly inside a word of another list whose reading of that word it changes."""
    path = settings_module.get_settings().content_dir / "labels.yml"
    original = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(original)
    lists = every_list(labels())
    pairs = sorted({(inner_key, inner, outer_key, outer) for inner_key, inners in lists.items() for inner in inners
                    for outer_key, outers in lists.items() for outer in outers
                    if inner_key != outer_key and inner != outer and str(inner).lower() in str(outer).lower()})
    found = []
    for inner_key, inner, outer_key, outer in pairs:
        with_it = reading(outer)
        changed = yaml.safe_load(original)
        key, _, part = inner_key.partition(".")
        listed = changed[key][part] if part else changed[key]
        listed[:] = [word for word in listed if str(word) != inner]
        path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
        without = reading(outer)
        path.write_text(original, encoding="utf-8")
        if without != with_it:
            moved = {name: (without[name], with_it[name]) for name in with_it if without[name] != with_it[name]}
            found.append((inner_key, inner, outer_key, outer, moved))
    assert raw == yaml.safe_load(path.read_text(encoding="utf-8"))
    return found


@pytest.fixture()
def own_content(tmp_path, monkeypatch):
    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    monkeypatch.setenv("KEFU_CONTENT_DIR", str(content))
    settings_module.get_settings.cache_clear()
    yield content
    settings_module.get_settings.cache_clear()


def test_no_word_inside_another_lists_word_changes_what_that_word_is_read_as(own_content):
    unjudged = [f"{inner_key} {inner} in {outer_key} {outer}: {moved}"
                for inner_key, inner, outer_key, outer, moved in findings()
                if (inner_key, inner, outer) not in JUDGED]
    assert unjudged == []
