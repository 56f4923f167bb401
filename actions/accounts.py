"""Bill and plan questions, answered from the customer database."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import db, labels, names_any, parts_named, record, repository
from actions.chain import continue_with
from actions.clarify import take_typed_option
from actions.identity import IdentifiedAction, db_error, request_text, verified_customer, without_secrets
from actions.knowledge_answers import say_article
from actions.misunderstanding import intent_of
from actions.plan_end import ACTION as PLAN_END_ACTION
from actions.plan_named import CHANGE_PLAN
from bot.asked_outright import ACCOUNT_NUMBER, PLAN_END, asked_outright
from bot.arrears import bill_status, owed_cents
from bot.db.repository import Customer, DatabaseError
from bot.ivr.matching import without


def money(cents: int) -> str:
    """Cents as the yuan amount customers read, e.g. -4500 -> "-45.00"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def month_name(period: str) -> str:
    """A stored month ("2026-11") as the editors write months (``month`` in content/labels.yml): customers
    were shown "2026-11已用流量", and the phone read the digits and the dash."""
    year, month = period.split("-")
    return labels()["month"].format(year=year, month=int(month))


def gigabytes(mb: int) -> str:
    return f"{mb / 1024:.1f}"


def tell_usage(dispatcher: CollectingDispatcher, month: dict | None, data: bool = True, minutes: bool = True) -> None:
    """This month's data (and minutes, where the plan has them) against the allowance."""
    if not month:
        return
    period = month_name(month["period"])
    if data and month["data_quota_mb"] is None:
        dispatcher.utter_message(response="utter_bill_usage_data_unlimited", period=period,
                                 data_used=gigabytes(month["data_used_mb"]))
    elif data:
        left = max(month["data_quota_mb"] - month["data_used_mb"], 0)
        dispatcher.utter_message(response="utter_bill_usage_data", period=period,
                                 data_used=gigabytes(month["data_used_mb"]),
                                 data_quota=gigabytes(month["data_quota_mb"]), data_left=gigabytes(left))
    if minutes and month["minutes_quota"] is not None:
        dispatcher.utter_message(response="utter_bill_usage_minutes", period=period,
                                 minutes_used=month["minutes_used"] or 0, minutes_quota=month["minutes_quota"],
                                 minutes_left=max(month["minutes_quota"] - (month["minutes_used"] or 0), 0))


class ActionQueryBill(IdentifiedAction):
    request = "query_bill"

    def name(self) -> str:
        return "action_query_bill"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        # "我的账号是多少", "帮我查下我的宽带什么时候到期": bill questions to the NLU's last step (bot/asked_outright.py)
        outright = ASKED_OUTRIGHT.get(asked_outright(request_text(tracker)))
        if outright:
            return await continue_with(outright, dispatcher, tracker, domain)
        return await super().run(dispatcher, tracker, domain)

    async def serve(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer, verified: bool
    ) -> list[dict[str, Any]]:
        bills = await db(repository().bills_for, customer.id)
        month = await db(repository().usage_for, customer.id)
        words = labels()
        asked = bill_topics(request_text(tracker), words.get("bill_question") or {}, words.get("bill_whole_words"))
        said_before = len(dispatcher.messages)
        if CHANGE in asked and bills:
            plan = await db(repository().plan, customer.plan_code) if customer.plan_code else None
            tell_bill_change(dispatcher, bills, plan)
            asked.discard("bills")  # the newest two bills were just told ("为啥扣了这么多钱" names both)
        elif PREVIOUS in asked and len(bills) > 1:  # "上个月的账单": that one, not the whole statement
            previous = bills[1]
            dispatcher.utter_message(response="utter_bill_month", period=month_name(previous["period"]),
                                     amount=money(previous["amount_cents"]), status=status_word(previous))
            asked.discard("bills")
        asked -= {CHANGE, PREVIOUS}
        if asked:
            tell_bill(dispatcher, customer, bills, month, asked)
        if len(dispatcher.messages) == said_before:
            tell_bill(dispatcher, customer, bills, month, set(BILL_TOPICS))
        await record(tracker, "answer_given", topic="bill")  # the KPIs' containment: the request was served
        return []


BILL_TOPICS = ("bills", "balance", "arrears", "data", "minutes")
USAGE = frozenset({"data", "minutes"})  # what was used this month, not what was billed
# The replies of a bill answer: words the NLU cannot place right after one may follow it up ("上个月呢",
# actions/escalation.py). Looked up only (``said in BILL_ANSWERS``), so `kefu validate` still knows who sends each.
BILL_ANSWERS = frozenset({
    "utter_bill_summary", "utter_bill_arrears", "utter_bill_balance", "utter_bill_no_arrears", "utter_bill_none",
    "utter_bill_usage_data", "utter_bill_usage_data_unlimited", "utter_bill_usage_minutes", "utter_bill_change_up",
    "utter_bill_change_down", "utter_bill_change_same", "utter_bill_change_first", "utter_bill_above_plan",
    "utter_bill_plan_fee_only", "utter_bill_month",
})
# Asked only by name: why the newest bill is what it is ("为什么这个月这么贵"), the month before ("上个月呢").
CHANGE = "change"
PREVIOUS = "previous"


def bill_topics(question: str, words: dict[str, list[str]], whole: list[str] | None = None) -> set[str]:
    """What a bill question is about, by the editors' words (``bill_question`` in content/labels.yml);
    all of it when it names none, or names the whole bill (``whole``: 话费) beside the usage only. "还剩多少流量"
    got the balance, every bill and the arrears too, and the data left came last (found by a tester);
    "查下话费，顺便看看这个月流量用了多少" got the data only (found in a live trial). 话费 in a question about the
    money ("上个月的话费", "话费余额", "为什么话费这么贵") is that question's word, not the whole bill beside it."""
    named = bill_topics_named(question, words)
    if not named:
        return set(BILL_TOPICS)
    rest = without(question, (w for part in words.values() for w in part or ()), " ")  # 话费还剩多少: the balance
    beside_usage = named <= USAGE and any(word in rest for word in whole or ())
    return named | set(BILL_TOPICS) if beside_usage else named


def bill_topics_named(question: str, words: dict[str, list[str]]) -> set[str]:
    """The parts of the bill ``question`` names (none: an empty set)."""
    return parts_named(question, words) & {*BILL_TOPICS, CHANGE, PREVIOUS}


def status_word(bill: dict) -> str:
    """A bill's status as customers read it (``bill_status`` in content/labels.yml)."""
    return labels()["bill_status"].get(bill_status(bill["status"]), bill["status"])


def tell_bill_change(dispatcher: CollectingDispatcher, bills: list[dict], plan: dict | None) -> None:
    """The newest bill against the month before and the plan's monthly fee. "为什么这个月这么贵" got the
    balance and every bill again, which answers nothing (found trying the chat)."""
    newest, *older = bills
    amount = newest["amount_cents"]
    said = {"period": month_name(newest["period"]), "amount": money(amount)}
    if not older:
        dispatcher.utter_message(response="utter_bill_change_first", **said)
    else:
        before = older[0]["amount_cents"]
        change = "utter_bill_change_up" if amount > before else "utter_bill_change_down" if amount < before \
            else "utter_bill_change_same"
        dispatcher.utter_message(response=change, **said,
                                 previous_period=month_name(older[0]["period"]), previous_amount=money(before),
                                 difference=money(abs(amount - before)))
    if plan is None:
        return
    extra = amount - plan["monthly_fee_cents"]
    fee = {"plan_name": plan["name"], "monthly_fee": money(plan["monthly_fee_cents"])}
    if extra > 0:
        dispatcher.utter_message(response="utter_bill_above_plan", **fee, extra=money(extra))
    elif extra == 0:
        dispatcher.utter_message(response="utter_bill_plan_fee_only", **fee)


def tell_bill(dispatcher: CollectingDispatcher, customer: Customer, bills: list[dict], month: dict | None,
              topics: set[str]) -> bool:
    """Say the parts of the bill in ``topics``; False if there was nothing to say about them."""
    said = len(dispatcher.messages)
    words = labels()
    balance = money(customer.balance_cents)
    if "bills" in topics and bills:
        lines = "\n".join(
            words["bill_line"].format(period=month_name(b["period"]), amount=money(b["amount_cents"]), status=status_word(b))
            for b in bills
        )
        dispatcher.utter_message(response="utter_bill_summary", customer_name=customer.name, balance=balance,
                                 bill_lines=lines)
    elif "bills" in topics:
        dispatcher.utter_message(response="utter_bill_none", customer_name=customer.name, balance=balance)
    elif "balance" in topics:
        dispatcher.utter_message(response="utter_bill_balance", customer_name=customer.name, balance=balance)
    if "arrears" in topics:  # what the reminders say too (bot/arrears.py): the balance, not the bills
        owed = owed_cents(customer.balance_cents)
        if owed:
            dispatcher.utter_message(response="utter_bill_arrears", amount_owed=money(owed))
        elif topics != set(BILL_TOPICS):  # asked about it: "nothing owed" is the answer
            dispatcher.utter_message(response="utter_bill_no_arrears")
    tell_usage(dispatcher, month, data="data" in topics, minutes="minutes" in topics)
    return len(dispatcher.messages) > said


class ActionTellAccountNumber(IdentifiedAction):
    """"我的宽带账号是多少": the account number from the customer database, for the proven account holder only
    (asked who they are first, as for bills). The NLU has no intent for it: ``account_number_words`` in
    content/labels.yml make it a bill question (bot/asked_outright.py), and the bill action sends it here. The
    customer database holds no broadband login name (宽带拨号账号): a question that may mean it
    (``login_name_words``) is told that the number given is not that one."""

    request = "account_number"

    def name(self) -> str:
        return "action_tell_account_number"

    async def serve(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer, verified: bool
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_account_number", customer_name=customer.name,
                                 account_number=customer.account_number)
        if names_any(request_text(tracker), labels().get("login_name_words")):
            dispatcher.utter_message(response="utter_account_number_not_login")
        await record(tracker, "answer_given", topic="account_number")
        return []


# The actions answering the questions the editors' words name outright.
ASKED_OUTRIGHT = {ACCOUNT_NUMBER: "action_tell_account_number", PLAN_END: PLAN_END_ACTION}


class ActionQueryPlan(IdentifiedAction):
    """Plans are public: list them, and name the customer's own plan once they proved who they are. Asked
    for their own plan ("我的套餐是什么", ``own_plan_words`` in content/labels.yml), a customer not proven yet
    is asked to prove it first (found trying the chat: they got every plan on sale and nothing of theirs)."""

    def name(self) -> str:
        return "action_query_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        chosen = await take_typed_option(tracker)
        if chosen is not None:  # "300M宽带" to the cheaper plans, read as a plan question: that plan, as if tapped
            return chosen
        said = request_text(tracker)
        if asks_for_a_cheaper_plan(said):  # "有没有便宜点的，我想换个": the cheaper plans to pick one (cheaper_plans.py)
            return await continue_with("action_manage_service", dispatcher, tracker, domain,
                                       [SlotSet("service_action", CHANGE_PLAN)])
        # How the allowance works ("没用完的流量能结转吗"): the editors' article, not the plans on sale
        if names_any(said, labels().get("plan_rules_words")) and await say_article(dispatcher, "plan_rules_article"):
            await record(tracker, "answer_given", topic="plan_rules")
            return []
        if asks_own_plan(said):
            return await super().run(dispatcher, tracker, domain)  # identified and proven, then served
        try:
            customer = await verified_customer(tracker)
        except DatabaseError:
            return db_error(dispatcher)
        return await self.serve(dispatcher, tracker, customer, customer is not None)

    async def serve(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer | None,
                    verified: bool) -> list[dict[str, Any]]:
        repo = repository()
        try:
            plans = await db(repo.all_plans)
            current = (await db(repo.plan, customer.plan_code)
                       if verified and customer is not None and customer.plan_code else None)
        except DatabaseError:
            return db_error(dispatcher)
        said = request_text(tracker)
        own_first = current is not None and asks_own_plan(said)
        if own_first:  # "我现在用的是什么套餐": their plan first, not every plan on sale before it (found in a live trial)
            dispatcher.utter_message(
                response="utter_current_plan", plan_name=current["name"], monthly_fee=money(current["monthly_fee_cents"])
            )
            if not names_any(said, labels().get("plan_others_words")):  # ... and only it, unless others are asked
                await record(tracker, "answer_given", topic="plan")
                return []
        template = labels()["plan_line"]
        lines = "\n".join(
            template.format(name=p["name"], monthly_fee=money(p["monthly_fee_cents"]), description=p["description"])
            for p in plans_asked_about(plans, request_text(tracker), labels().get("plan_question") or {},
                                       earlier=earlier_request_text(tracker))
        )
        dispatcher.utter_message(response="utter_plan_list", plan_lines=lines)
        if current and not own_first:
            dispatcher.utter_message(
                response="utter_current_plan", plan_name=current["name"], monthly_fee=money(current["monthly_fee_cents"])
            )
        await record(tracker, "answer_given", topic="plan")
        return []


def asks_own_plan(said: str) -> bool:
    """Whether a plan question asks about the customer's own plan (``own_plan_words``)."""
    return any(words in said for words in labels().get("own_plan_words") or ())


def asks_for_a_cheaper_plan(said: str) -> bool:
    """Whether a plan question asks to change (``plan_change_words``) to a cheaper plan (``cheaper_plan_words``):
    a plan change then. Found in a trial: "套餐太贵了，有没有便宜点的，我想换个", read as a plan question, got every
    plan on sale, dearer ones too, and nothing to pick."""
    words = labels()
    return names_any(said, words.get("plan_change_words")) and names_any(said, words.get("cheaper_plan_words"))


def plans_asked_about(plans: list[dict], question: str, words: dict[str, list[str]], earlier: str = "") -> list[dict]:
    """The plans of the categories a question names, by the editors' words (``plan_question`` in
    content/labels.yml); every plan when it names none, or none of the named categories has plans.
    "你们有哪些宽带套餐" was answered with the TV packages first, cheapest first (found by a tester).
    A question naming none goes by the ``earlier`` request's: "多少钱一个月" right after "我想把宽带升级到
    千兆" heard the TV packages too (found trying the chat)."""
    for said_now in (question, earlier):
        named = parts_named(said_now, words)
        chosen = [p for p in plans if p.get("category") in named]
        if chosen:
            return chosen
    return plans


# The requests a plan question may follow up: a fault said before "有什么套餐" picks no plans.
ABOUT_PLANS = ("query_plan", "manage_service")


def earlier_request_text(tracker: Tracker) -> str:
    """The customer's request before the latest one (numbers and codes given in between skipped, and words not
    understood: "我家在天河区" after "我想装个宽带"), when it was about plans or a change of service."""
    requests = [event for event in tracker.events
                if event.get("event") == "user" and intent_of(event)[0] not in ("inform", "nlu_fallback")]
    if len(requests) < 2 or intent_of(requests[-2])[0] not in ABOUT_PLANS:
        return ""
    return without_secrets(requests[-2].get("text") or "")
