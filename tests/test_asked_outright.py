"""Questions with no intent of their own (the account number, when the plan ends) are bill questions, whatever
the classifiers read them as: the NLU's last step (bot/nlu/asked_outright.py) decides, before any action runs.

Each reading below is the served model's (measured with the model of 2026-12-06). The first four went to actions
that never sent the question on: 户号是多少啊 got an article, 机顶盒账号忘记了 a TV fault's self-help, 谢谢 再问下
什么时候到期 a goodbye, 我想换套餐，现在的什么时候到期 the change of plan without the date asked for.
"""
from __future__ import annotations

import shutil

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from bot import settings as settings_module
from bot.nlu.asked_outright import AskedOutrightClassifier
from tests.conftest import PROJECT_ROOT

READINGS = [
    ("户号是多少啊", "ask_how_to", 0.59),
    ("机顶盒账号忘记了", "fault_tv", 0.83),
    ("谢谢 再问下什么时候到期", "thanks", 0.51),
    ("我想换套餐，现在的什么时候到期", "manage_service", 0.61),
    ("宽带账号忘了", "nlu_fallback", 0.45),
    ("我家宽带几号到期啊", "ask_how_to", 0.85),
    ("你好，请问我的套餐有效期到哪天", "query_plan", 0.68),
    ("我的宽带什么时候到期", "nlu_fallback", 0.45),  # 宽[带什么]时候: no how-to ("带什么", what to bring)
    ("宽带帐号是多少", "query_plan", 0.56),  # 帐号, the older spelling of 账号
]


def read(text: str, intent: str, confidence: float) -> Message:
    message = Message({"text": text, "intent": {"name": intent, "confidence": confidence},
                       "intent_ranking": [{"name": intent, "confidence": confidence},
                                          {"name": "query_bill", "confidence": 0.05}]})
    AskedOutrightClassifier().process([message])
    return message


@pytest.mark.parametrize("text, intent, confidence", READINGS, ids=[r[0] for r in READINGS])
def test_a_question_the_editors_words_name_is_a_bill_question_whatever_was_guessed(text, intent, confidence):
    message = read(text, intent, confidence)
    assert message.get("intent") == {"name": "query_bill", "confidence": 1.0}
    ranking = [i["name"] for i in message.get("intent_ranking")]
    assert ranking == ["query_bill", intent]  # the guess is kept below, once


# The account number as customers type it (found in review: 宽带号, and the forgotten 宽带账号, were not heard).
VARIANTS = ["我的宽带号是多少", "宽带号码是多少", "宽带号忘了", "上网帐号是多少", "忘了宽带账号", "忘记上网帐号了",
            "我的账号是哪个", "户号是啥", "宽带账号怎么查", "帐号不记得了",
            "账号是多少 我要交话费"]  # money said apart from the account's words: still the number asked


@pytest.mark.parametrize("text", VARIANTS)
def test_the_account_number_asked_in_other_words_is_a_bill_question(text):
    assert read(text, "nlu_fallback", 0.45).get("intent") == {"name": "query_bill", "confidence": 1.0}


@pytest.mark.parametrize("text, intent", [
    ("这个月账单什么时候到期", "query_bill"),   # the bill's due date: a bill word
    ("帮我查一下账号余额", "query_bill"),       # the balance, not the account number
    ("宽带到期了怎么续费", "ask_how_to"),       # how to renew: the article
    ("宽带什么时候到期 怎么续费", "ask_how_to"),  # ... even after the question's own words
    ("师傅要等到什么时候", "query_ticket"),     # "到什么时候" alone is no plan's end
    ("我的账号是8800000002", "inform"),        # a number given, not asked for
    ("忘了账号密码怎么办", "ask_how_to"),       # the password: 忘了账号 lies across 账号密码
    ("忘记帐号密码了", "ask_how_to"),
    ("忘了宽带账号密码", "ask_how_to"),       # ... and 忘了宽带账号 across 账号密码
    ("我的账号多少钱", "query_bill"),         # money: 账号多少 runs into 多少钱 (account_money_words)
    ("账号怎么查话费", "query_bill"),         # ... 账号怎么查 into 查话费
    ("宽带号多少钱", "query_plan"),           # ... 宽带号多少 into 多少钱: the served model reads a price
])
def test_other_messages_keep_what_the_classifiers_read(text, intent):
    assert read(text, intent, 0.7).get("intent") == {"name": intent, "confidence": 0.7}


def test_an_editors_new_word_is_heard_at_once_without_a_retrain(tmp_path, monkeypatch):
    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    monkeypatch.setenv("KEFU_CONTENT_DIR", str(content))
    settings_module.get_settings.cache_clear()
    try:
        assert read("我的客户编号是几", "query_ticket", 0.6).get("intent")["name"] == "query_ticket"
        labels_file = content / "labels.yml"
        labels = yaml.safe_load(labels_file.read_text(encoding="utf-8"))
        labels["account_number_words"].append("客户编号是几")
        labels_file.write_text(yaml.safe_dump(labels, allow_unicode=True), encoding="utf-8")
        assert read("我的客户编号是几", "query_ticket", 0.6).get("intent")["name"] == "query_bill"
    finally:
        settings_module.get_settings.cache_clear()


@pytest.mark.parametrize("key", ["account_number_words", "login_name_words"])
def test_a_question_word_list_written_as_one_text_is_refused(tmp_path, key):
    """Found in review: these two lists were not among the word lists labels.yml's check reads, so one written
    without brackets (``login_name_words: 宽带账号``) was taken as text, each character a word: every message
    with 宽 in it would have been told the broadband login is not the account number."""
    from bot.labels import parse_labels

    path = tmp_path / "labels.yml"
    words = yaml.safe_load((PROJECT_ROOT / "content" / "labels.yml").read_text(encoding="utf-8"))
    words[key] = "".join(words[key][:1])
    path.write_text(yaml.safe_dump(words, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match=f"`{key}` must be a list of words"):
        parse_labels(path)
