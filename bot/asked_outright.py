"""Questions with no intent of their own, known by the editors' words in content/labels.yml: the customer's
account number (``account_number_words``) and when their plan ends (``plan_end_words``).

The NLU reads them as whatever is nearest (a bill, a plan, a how-to, a fault, thanks) or lets them fall back.
Five actions once sent them on, each with a line of its own, and the actions without one answered another
question (户号是多少啊 got an article, 谢谢 再问下什么时候到期 a goodbye). The NLU's last step now reads them as
``query_bill`` before any action runs (bot/nlu/asked_outright.py): the account the customer holds, which the
bill action answers, once they proved who they are.
"""
from __future__ import annotations

from bot.labels import asks_how, labels, names_any, parts_named

INTENT = "query_bill"
ACCOUNT_NUMBER = "account_number"
PLAN_END = "plan_end"


def asked_outright(text: str) -> str | None:
    """Which of these questions ``text`` asks, if any. Never one naming a part of the bill ("账单什么时候到期" is
    the bill's due date, "账号余额" the balance); nor, for the account number, one whose words are part of an
    account's password ("忘了账号密码怎么办" holds 忘了账号 across 账号密码, ``account_password_words``: found in
    review, it was told the account number), or across money (``account_money_words``: "我的账号多少钱" holds 账号多少
    across 多少钱); nor, for the plan's end, how to do something ("到期了怎么续费" is the
    renewal article's)."""
    words = labels()
    if parts_named(text, words.get("bill_question") or {}):
        return None
    other_questions = [*(words.get("account_password_words") or ()), *(words.get("account_money_words") or ())]
    if names_any(text, words.get("account_number_words"), whole=other_questions):
        return ACCOUNT_NUMBER
    # asks_how reads no how-to word across the question's own words: "宽带什么时候到期" holds 带什么
    if names_any(text, words.get("plan_end_words")) and not asks_how(text):
        return PLAN_END
    return None
