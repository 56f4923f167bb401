"""A cheaper plan picked by typing its name instead of tapping its button ("300M的那个", "4K超清电视包").

Found in review: a typed number picked a plan shown (actions/clarify.py), a typed name picked nothing, and the NLU
read it as anything (a plan question, a TV fault, a yes). A reply names a plan shown by its full name, its code, or a
part of its name that no other plan on sale has in its name, all from the catalogue, and says nothing else but
the editors' ``plan_pick_fillers`` (content/labels.yml: "的那个", "就…吧"). A part is a letters-and-digits run
("300M", "4K") or any two or more adjacent Chinese characters of the name ("千兆", "基本包"), unless made only of
the editors' ``plan_pick_generic_words`` (套餐, 电视, 包: "电视包" says a kind of plan, not which). It is taken as
that plan's button only when it names exactly one of the plans shown; a reply naming two, or saying more
("300M的网速太慢了", "千兆的太贵了"), picks nothing and is answered as before.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker

from actions.backend import button_said, db, labels, latest_text, repository
from bot.db.repository import DatabaseError
from bot.ivr.matching import normalise, without

PLAN_CODE = "plan_code"  # the entity a plan's button sends
CHANGE_PLAN = "change_plan"  # the service action a plan's button sends (content/labels.yml service_action)
PLAN_QUESTIONS = frozenset({"utter_cheaper_plans", "utter_cheaper_plans_on_sale"})  # actions/cheaper_plans.py
LETTERS_AND_DIGITS = re.compile(r"[a-z0-9]{2,}")
CHINESE = re.compile(r"[\u4e00-\u9fff]{2,}")


def name_parts(name: str, generic_words: list[str] | None, chinese_parts: bool = True) -> set[str]:
    """The parts of a (normalised) name that may name it: its letters-and-digits runs, and (``chinese_parts``)
    every two or more adjacent characters of its Chinese runs not made only of ``generic_words``."""
    if not chinese_parts:
        return set(LETTERS_AND_DIGITS.findall(name))
    generic = sorted(filter(None, map(normalise, generic_words or ())), key=len, reverse=True)
    only_generic = re.compile("(?:" + "|".join(map(re.escape, generic)) + ")+") if generic else None
    chinese = {run[start:end] for run in CHINESE.findall(name)
               for start in range(len(run)) for end in range(start + 2, len(run) + 1)}
    return {*LETTERS_AND_DIGITS.findall(name),
            *(part for part in chinese if not (only_generic and only_generic.fullmatch(part)))}


def plan_phrases(plan: dict, on_sale: list[dict], generic_words: list[str] | None,
                 chinese_parts: bool = True) -> list[str]:
    """What names ``plan`` (normalised): its full name, its code, and the parts of its name (``name_parts``:
    "300M", "千兆") that no other plan on sale has in its name."""
    name = normalise(plan["name"])
    others = [normalise(other["name"]) for other in on_sale if other["code"] != plan["code"]]
    own = [part for part in name_parts(name, generic_words, chinese_parts) if not any(part in other for other in others)]
    return list(dict.fromkeys(phrase for phrase in (name, normalise(plan["code"]), *own) if phrase))


def plans_named(text: str, shown: list[dict], on_sale: list[dict], fillers: list[str] | None,
                generic_words: list[str] | None) -> list[dict]:
    """The plans of ``shown`` that ``text`` names, when it says nothing but them and ``fillers``; else []."""
    said = normalise(text)
    phrases = {plan["code"]: plan_phrases(plan, on_sale, generic_words) for plan in shown}
    named = [plan for plan in shown if any(phrase in said for phrase in phrases[plan["code"]])]
    rest = without(said, {*(p for plan in named for p in phrases[plan["code"]]), *map(normalise, fillers or ())})
    return [] if rest else named


def plan_in_words(text: str, on_sale: list[dict], generic_words: list[str] | None) -> dict | None:
    """The one plan on sale that ``text`` names anywhere in it ("我想把套餐改成便宜点的300M宽带"): by its full name,
    code or letters and digits only. A Chinese part of a name is an ordinary word in a request's own words (基本 in
    "我基本上不看电视了" filed a change to 数字电视基本包, found in review); it picks a plan only in a reply to the plans
    shown (``plans_named``). None when it names none, or another plan too, in any way ("把千兆宽带换成300M宽带",
    "300M还是千兆好": which is the new one is not read)."""
    said = normalise(text)

    def named(chinese_parts: bool) -> list[dict]:
        return [plan for plan in on_sale
                if any(phrase in said for phrase in plan_phrases(plan, on_sale, generic_words, chinese_parts))]
    strictly, loosely = named(chinese_parts=False), named(chinese_parts=True)
    return strictly[0] if len(strictly) == 1 and loosely == strictly else None


def button_plan_code(button: dict[str, Any]) -> str | None:
    """The plan a button picks (its payload's ``plan_code``), or None."""
    said = button_said(button.get("payload"))
    return said[1].get(PLAN_CODE) if said else None


async def named_plan_button(tracker: Tracker, question: str | None,
                            buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The button of the one plan shown that the customer's reply to the cheaper plans (``question``, still open
    after a reply not understood: actions/clarify.py ``question_replied_to``) names, else None (also when the catalogue
    cannot be read: the reply is then answered as before)."""
    if question not in PLAN_QUESTIONS or latest_text(tracker).startswith("/"):
        return None  # a button tapped ('/manage_service{..."plan_code": "BB300"}') is the pick itself
    by_code = {code: button for button in buttons if (code := button_plan_code(button))}
    if not by_code:
        return None
    try:
        on_sale = await db(repository().all_plans)
    except DatabaseError:
        return None
    shown = [plan for plan in on_sale if plan["code"] in by_code]
    words = labels()
    named = plans_named(latest_text(tracker), shown, on_sale, words.get("plan_pick_fillers"),
                        words.get("plan_pick_generic_words"))
    return by_code[named[0]["code"]] if len(named) == 1 else None
