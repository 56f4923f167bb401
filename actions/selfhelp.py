"""Fault triage and self-help: never waits for identification.

Triage picks the best catalogue entry for the fault type, code and symptom
words; when nothing specific is known it asks once for details, then falls
back to the fault's general entry. A message naming two faults ("电视和宽带都不行了") has them looked at one
after the other; the repair ticket that follows names every one self-help did not fix. A customer it
already knows whose repair of this fault is still open hears about that repair instead (actions/repairs.py). A proven customer is not sent again
self-help they said did not help in an earlier contact, on any channel (bot/outcomes/selfhelp_tried.py):
when nothing else fits what they describe, triage asks the fault's details first (once; not when a code was
said), then says so and goes on to the repair ticket. A fault said to keep
coming back ("又断了 第三次了": ``repeat_words`` in content/selfhelp.yml) goes on to the repair ticket at once,
marked a repeat (``fault_repeat``: actions/tickets.py files it one step more urgent, and says so); of two faults
in one message, only the one whose own part says so (``fault_parts``). Asked "did it fix it?" about one of them,
an answer naming them says which is fixed ("电视好了 宽带还是不行"), whatever the NLU read it as
(``answer_naming_faults``).
"""
from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import catalogue, labels, latest_entity, latest_text, record, repository
from actions.chain import apply_slots, continue_with
from actions.clarify import SECOND_AT_LEAST, take_typed_option
from actions.csat import ask_csat
from actions.handoff import offer_human
from actions.identity import leave_the_message, message_being_left, verified_customer
from actions.repairs import CHASED, chase_if_known
from bot.db.repository import DatabaseError
from bot.denial import said_not_denied
from bot.handoff.rules import load_rules
from bot.labels import asks_for_a_person, first_named, names_any
from bot.media import media_ready
from bot.outcomes.events import customer_key
from bot.outcomes.selfhelp_tried import failed_before as failed_selfhelp
from bot.repair_faults import fault_names
from bot.selfhelp import SelfHelpEntry, public
from bot.settings import get_settings

FAULT_INTENTS = ("fault_tv", "fault_broadband", "fault_wifi", "fault_remote")


def selfhelp_message(entry: SelfHelpEntry) -> dict[str, Any]:
    """The rich message for one entry: steps, the video attachment, the help link.

    The title is the text's first line; the link has the catalogue's own label, not the title again.
    The video goes only once its file is there (a fresh install renders them in the background):
    until then the steps and the entry's page are the answer. The link names the entry
    (``selfhelp_id``) for the agent's view of what was tried (``bot.selfhelp.sent_entry_id``).
    """
    link_label = catalogue().link_label or entry.title
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(entry.steps, start=1))
    message: dict[str, Any] = {
        "response": "utter_selfhelp_entry",
        "title": entry.title,
        "steps": steps,
        "spoken": entry.spoken,
        "buttons": [{"title": link_label, "url": public(entry.page()), "type": "web_url", "selfhelp_id": entry.id}],
    }
    media_dir = get_settings().media_dir
    if media_ready(media_dir, entry.video_url):
        video = {"title": entry.title, "src": public(entry.video_url), "selfhelp_id": entry.id}
        if media_ready(media_dir, entry.poster_url):
            video["poster"] = public(entry.poster_url)
        message["attachment"] = {"type": "video", "payload": video}
    return message


async def send_entry(
    dispatcher: CollectingDispatcher, tracker: Tracker, entry: SelfHelpEntry
) -> list[dict[str, Any]]:
    """Send an entry, ask whether it worked, and remember it was sent."""
    dispatcher.utter_message(**selfhelp_message(entry))
    dispatcher.utter_message(response="utter_ask_selfhelp_worked")
    sent = list(tracker.get_slot("selfhelp_sent") or [])
    await record(tracker, "selfhelp_sent", selfhelp_id=entry.id, fault_type=entry.fault_type)
    return [
        SlotSet("selfhelp_sent", sent + [entry.id]),
        SlotSet("selfhelp_current", entry.id),
        SlotSet("awaiting", "selfhelp_feedback"),
    ]


async def proven_customer_key(tracker: Tracker) -> str:
    """The outcome key of the customer this turn proves it is ("" if none, or the database cannot say)."""
    try:
        customer = await verified_customer(tracker)
    except DatabaseError:
        return ""
    return customer_key(customer_id=customer.id) if customer is not None else ""


async def failed_before(tracker: Tracker, fault_type: str) -> set[str]:
    """The entries for ``fault_type`` the customer this turn proves it is said did not help, in any
    contact on any channel within the ledger's repeat window (content/ledger.yml). None for a customer
    who only named a number; none when the record cannot be read (triage goes on as before)."""
    try:
        customer = await verified_customer(tracker)
    except DatabaseError:
        return set()
    failed = await failed_selfhelp(repository().engine, customer.id) if customer is not None else set()
    entries = (catalogue().get(entry_id) for entry_id in failed)
    return {entry.id for entry in entries if entry is not None and entry.fault_type == fault_type}


def said_done(tracker: Tracker, fault_type: str) -> set[str]:
    """The entries for ``fault_type`` whose steps the latest message says were done already ("重起了也不行":
    ``done_words`` in content/selfhelp.yml; "看了视频也没用": ``guide_said_tried``), unless it says the fault is
    fixed (``selfhelp_fixed_words``)."""
    text = latest_text(tracker)
    if names_any(text, labels().get("selfhelp_fixed_words")):
        return set()
    return catalogue().said_done(fault_type, text) | guide_said_tried(tracker, fault_type)


def guide_said_tried(tracker: Tracker, fault_type: str) -> set[str]:
    """The entry that fits what the latest message describes, when it says a guide was gone through already
    ("我家电视没信号了 看了视频也没用": ``tried_words`` in content/selfhelp.yml) before any guide for ``fault_type``
    was sent here (after one, it is ours they mean). Found in a live trial: the same no-signal guide came back."""
    catalogue_ = catalogue()
    text = latest_text(tracker)
    sent = (catalogue_.get(entry_id) for entry_id in tracker.get_slot("selfhelp_sent") or [])
    if not catalogue_.says_tried(text) or any(entry and entry.fault_type == fault_type for entry in sent):
        return set()
    code = latest_entity(tracker, "fault_code")
    fits = catalogue_.best_match(fault_type, f"{text} {latest_entity(tracker, 'symptom') or ''}",
                                 code if isinstance(code, str) else None)
    return {fits.id} if fits is not None else set()


def mark_said_done(tracker: Tracker, fault_type: str | None) -> tuple[set[str], set[str], list[dict[str, Any]]]:
    """(sent, done, events): the entries tried so far, those the latest message says were done already and were
    not sent (``said_done``; none without a fault), and the events adding ``done`` to ``selfhelp_sent`` and to
    ``selfhelp_said_done``, applied to ``tracker`` ("重起了也不行": the restart is not sent next, and the repair names
    it as done by the customer, not as sent: found in a live trial, the ticket said the bot had sent it). Triage
    and the answer to "did it fix it?" both read them."""
    sent = set(tracker.get_slot("selfhelp_sent") or [])
    done = said_done(tracker, fault_type) - sent if fault_type else set()
    earlier = set(tracker.get_slot("selfhelp_said_done") or [])
    marked = apply_slots(tracker, [SlotSet("selfhelp_sent", sorted(sent | done)),
                                   SlotSet("selfhelp_said_done", sorted(earlier | done))]) if done else []
    return sent, done, marked


def names_another_entry(tracker: Tracker) -> bool:
    """Whether the latest message names a symptom of a self-help entry for the fault at hand not sent yet
    ("灯是红的": the red LOS light, after the restart steps), and does not say it works ("好了 没有红灯了":
    ``selfhelp_fixed_words``)."""
    fault_type = tracker.get_slot("fault_type")
    text = latest_text(tracker)
    if not fault_type or names_any(text, labels().get("selfhelp_fixed_words")):
        return False
    entry = catalogue().best_match(fault_type, text, None, exclude=set(tracker.get_slot("selfhelp_sent") or []))
    return entry is not None and catalogue().score(entry, text, None) > 0


def current_fault_type(tracker: Tracker) -> str | None:
    """The fault the latest message is about. Another fault than the one talked about only when the
    message names its device or service (``fault_named_by`` in content/labels.yml): "红灯一直亮", said of
    the TV's box, was taken for the broadband's red LOS light (found trying the chat)."""
    intent = (tracker.latest_message or {}).get("intent", {}).get("name")
    earlier = tracker.get_slot("fault_type")
    if intent not in FAULT_INTENTS:
        return earlier
    if earlier in FAULT_INTENTS and intent != earlier and not names_fault(tracker, intent):
        return earlier
    return intent


def names_fault(tracker: Tracker, fault_type: str) -> bool:
    """Whether the latest message names ``fault_type``'s device or service (any word of its list, as
    ``fault_named_at`` reads it; a fault without a list counts as named)."""
    words = labels()
    if (words.get("fault_named_by") or {}).get(fault_type) is None:
        return True
    return fault_named_at(latest_text(tracker), fault_type, words) is not None


def fault_named_at(text: str, fault_type: str, words: dict) -> int | None:
    """Where ``text`` first names ``fault_type`` by a word of its ``fault_named_by`` list, letters in any case;
    not inside a word of the lists ``fault_not_named_inside`` gives it (content/labels.yml): 密码 in 账号密码 is
    the broadband account's password, not the Wi-Fi's (found in review: it made a broadband conversation a
    Wi-Fi one). None when it does not."""
    lists = (words.get("fault_not_named_inside") or {}).get(fault_type) or ()
    whole = [word.lower() for key in lists for word in words.get(key) or () if word]
    named_by = [word.lower() for word in (words.get("fault_named_by") or {}).get(fault_type) or () if word]
    return first_named(text.lower(), named_by, whole=whole)


def faults_named(tracker: Tracker) -> list[str]:
    """The faults the latest message names by their device or service (``fault_named_by`` in
    content/labels.yml), in the order said, each one the NLU also held possible (as the fallback's "A or B?"
    asks about): "电视和宽带都不行了" names two. Found in a review: it was taken for the TV alone, and the
    broadband came up only if the customer said it again."""
    return [fault for *_, fault in faults_named_at(tracker)]


# Where a clause ends: a trailing clause after the last fault ("…宽带都不行了，这个月第三次了") is said of all of them.
CLAUSE_BREAKS = re.escape("，,。.！!？?；;～~ \t\n\u3000")
OWN_CLAUSE = re.compile(f"[{CLAUSE_BREAKS}]*[^{CLAUSE_BREAKS}]*")


def fault_parts(tracker: Tracker, in_play: Collection[str] = ()) -> dict[str, str]:
    """Each fault ``faults_named`` finds with the part of the latest message said of it, where the repeat words are
    read (``says_repeat``). Its own part runs from its name to the next fault's: text between two names is the one
    before's ("电视没信号，宽带又断了": 又断了 is the broadband's; "电视又没信号了，宽带也上不了网": 又 is the TV's). Said of
    all of them: text before the first name ("这个月第三次了，电视和宽带都坏了"), and what follows the last one's own
    clause after a clause break ("电视没信号，宽带也断了，这个月第三次了") unless a fault's own part says it came back
    already ("电视没信号，宽带又断了，第三次了": the broadband's). Two names with only a joining word, or nothing,
    between them (``join_words`` in content/selfhelp.yml: "电视和宽带又断了") share what the second's part says. Found
    in review: the TV's part of "电视和宽带又断了" was "电视和", and the TV got self-help though said to be back.
    ``in_play``: faults named whatever the NLU held possible (``faults_named_at``)."""
    text = latest_text(tracker)
    named = faults_named_at(tracker, in_play)
    if not named:
        return {}
    starts = [at for at, _, _ in named[1:]] + [len(text)]
    parts = [text[at:start] for (at, _, _), start in zip(named, starts)]
    joins = set(catalogue().join_words) | {""}
    for n in range(len(named) - 2, -1, -1):  # from the last, so "电视、宽带和WiFi又断了" shares it with all three
        if text[named[n][1]:starts[n]].strip() in joins:
            parts[n] += parts[n + 1]
    own_end = named[-1][1] + OWN_CLAUSE.match(text[named[-1][1]:]).end()
    trailing = text[own_end:]
    own = [*parts[:-1], text[named[-1][0]:own_end]]
    if any(catalogue().says_repeat(part) for part in own):  # "宽带又断了，这个月第三次了": the broadband's third time
        trailing = ""  # (the last fault's part holds it already)
    return {fault: " ".join((text[:named[0][0]], part, trailing)) for (_, _, fault), part in zip(named, parts)}


def faults_named_at(tracker: Tracker, in_play: Collection[str] = ()) -> list[tuple[int, int, str]]:
    """(where its name starts, where it ends, fault) for each fault ``faults_named`` finds, in the order said; a fault
    of ``in_play`` (those a conversation is about already) counts however unlikely the NLU held it."""
    message = tracker.latest_message or {}
    text = str(message.get("text") or "")
    intent = message.get("intent") or {}
    ranking = {r.get("name"): float(r.get("confidence") or 0) for r in message.get("intent_ranking") or []}
    ranking.setdefault(intent.get("name"), float(intent.get("confidence") or 0))
    words = labels()
    named = []
    for fault in words.get("fault_named_by") or {}:
        at = fault_named_at(text, fault, words)
        if at is not None and (fault in in_play or ranking.get(fault, 0.0) >= SECOND_AT_LEAST):
            said = [len(word) for word in (words.get("fault_named_by") or {}).get(fault) or ()
                    if word and text.lower().startswith(word.lower(), at)]
            named.append((at, at + max(said, default=0), fault))
    return sorted(named)


def fault_name(*faults: str | None) -> str:
    """Faults as the repair ticket names them (``summary_words`` in content/handoff.yml)."""
    return fault_names(list(faults), load_rules().summary_words)


class ActionTriageFault(Action):
    def name(self) -> str:
        return "action_triage_fault"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if message_being_left(tracker):
            return await leave_the_message(dispatcher, tracker, domain)
        chosen = await take_typed_option(tracker)
        if chosen is not None:  # "数字电视基本包" to the cheaper plans, read as a TV fault: that plan, as if tapped
            return chosen
        answered = await answer_naming_faults(dispatcher, tracker, domain)
        if answered is not None:  # "电视好了 宽带还是不行" to "did it fix it?": the TV fixed, on to the broadband
            return answered
        parts = fault_parts(tracker)
        named = list(parts)
        if len(named) < 2:
            return await triage(dispatcher, tracker, domain, current_fault_type(tracker))
        # Two faults at once: the one said first now, the others once it is settled (fixed, or self-help spent),
        # each a repeat only if its own part says so ("电视没信号，宽带又断了": the broadband, not the TV).
        dispatcher.utter_message(response="utter_faults_one_by_one", first=fault_name(named[0]),
                                 then=fault_name(*named[1:]))
        again = [fault for fault in named[1:] if catalogue().says_repeat(parts[fault])]
        events = apply_slots(tracker, [SlotSet("faults_next", named[1:]), SlotSet("faults_repeat", again)])
        return events + await triage(dispatcher, tracker, domain, named[0],
                                     again=catalogue().says_repeat(parts[named[0]]))


async def triage(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict,
                 fault_type: str | None, again: bool | None = None) -> list[dict[str, Any]]:
    """Self-help for ``fault_type`` (or details asked, the open repair told, the repair ticket). ``again``: whether
    the customer said it keeps coming back, when read from its own part of a message naming several faults (None:
    the latest message, which is about it alone, says)."""
    if fault_type is None:
        dispatcher.utter_message(response="utter_default")
        return []
    text = latest_text(tracker)
    symptom = latest_entity(tracker, "symptom") or ""
    # Another fault than the one talked about so far ("宽带也连不上了" after the TV): its own triage, and
    # not the first one's error code, which went onto the second one's repair ticket.
    earlier = tracker.get_slot("fault_type")
    another = earlier is not None and earlier != fault_type
    given = latest_entity(tracker, "fault_code") or (None if another else tracker.get_slot("fault_code"))
    code = given if isinstance(given, str) else None  # not a slot Rasa filled from a typed payload's JSON
    events: list[dict[str, Any]] = [SlotSet("fault_type", fault_type)]
    if another and (retriaged := faults_retriaged(tracker, earlier)) != (tracker.get_slot("faults_retriaged") or []):
        events.append(SlotSet("faults_retriaged", retriaged))
    if tracker.get_slot("fault_repeat"):  # a repeat said before, its repair not filed: not this fault's
        events += apply_slots(tracker, [SlotSet("fault_repeat", None)])
    if code:
        events.append(SlotSet("fault_code", code.upper()))
    elif another or given is not None:
        events.append(SlotSet("fault_code", None))
    asked = tracker.get_slot("triage_asked") and not another
    others = bool(tracker.get_slot("faults_next") or tracker.get_slot("faults_unfixed"))
    chased = await chase_if_known(dispatcher, tracker, fault_type, reply=None if others else CHASED)
    if chased is not None and others:
        return await repair_open(dispatcher, tracker, domain, events + chased)
    if chased is not None:
        return events + chased
    sent, done, marked = mark_said_done(tracker, fault_type)
    events += marked
    # Tried without success: in an earlier contact, or as the customer says just now.
    failed = (await failed_before(tracker, fault_type) - sent) | done
    entry = catalogue().best_match(fault_type, f"{text} {symptom}", code, exclude=sent | failed)
    specific = entry is not None and catalogue().score(entry, f"{text} {symptom}", code) > 0
    if tracker.get_slot("awaiting") == "selfhelp_feedback" and not another and not specific:
        # The same fault said again to "did it fix it?" ("完全上不了网"), nothing new in it: a no. Triaged
        # afresh, it asked for details and the self-help's failure was lost (found trying the chat).
        return events + await selfhelp_feedback(dispatcher, tracker, domain, worked=False)
    repeat = catalogue().says_repeat(text) if again is None else again
    if repeat:  # "宽带又断了 这个月第三次了": not a guide as if it were the first time
        dispatcher.utter_message(response="utter_fault_keeps_happening")
        return await fault_settled(dispatcher, tracker, domain, events + [SlotSet("fault_repeat", True)])
    if not specific and not asked and not (failed and code):
        # Nothing fits yet: the details first (lights, an error code), also when the customer says just now the
        # general steps were done ("宽带坏了 重启了也不行") or self-help failed in an earlier contact ("电视还是没信号"):
        # found in review, both repairs were filed without them. Either said with its code: known already.
        dispatcher.utter_message(response=f"utter_ask_fault_detail_{fault_type}")
        return events + [SlotSet("triage_asked", True), SlotSet("awaiting", None)]
    if failed and not specific:  # nothing they have not tried fits: no video again, a repair
        dispatcher.utter_message(response="utter_selfhelp_tried_before")
        tried = [SlotSet("selfhelp_sent", sorted(sent | failed))]  # the ticket names what was tried
        return await fault_settled(dispatcher, tracker, domain, events + tried)
    if entry is None:
        return await fault_settled(dispatcher, tracker, domain, events)
    return events + await send_entry(dispatcher, tracker, entry)


def faults_retriaged(tracker: Tracker, earlier: str) -> list[str]:
    """The faults the repair names the self-help of besides its own, once the customer names another fault than
    ``earlier``: ``earlier`` too while its self-help was still under way (an answer to "did it fix it?" awaited,
    or a person offered once it failed), as when "宽带上不了网" turns out to be the Wi-Fi. Found in review: the
    Wi-Fi's repair named only the Wi-Fi's self-help, and the technician did not know the broadband's was tried.
    A fault settled before (fixed, or its repair filed) names none."""
    awaiting = tracker.get_slot("awaiting")
    under_way = awaiting == "selfhelp_feedback" or (awaiting == "offer_human" and tracker.get_slot("selfhelp_failures"))
    return list(dict.fromkeys([*(tracker.get_slot("faults_retriaged") or []), earlier])) if under_way else []


async def fault_settled(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict,
                        events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fault in hand is not fixed and self-help has nothing more: on to the next fault named with it
    (``faults_next``), or the repair ticket (naming those before it that were not fixed either)."""
    apply_slots(tracker, events)
    if tracker.get_slot("faults_next"):
        return await next_fault(dispatcher, tracker, domain, events, fixed=False)
    return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, events)


async def repair_open(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict,
                      events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fault in hand has its repair open (joined at triage, ``last_ticket_id``) and others were named with
    it: the next one is looked at on its own, or those self-help did not fix get their repair. Found by the
    maintainers: "电视和宽带都不行了" with the TV's repair open heard of that repair only, and the broadband
    was never looked at."""
    apply_slots(tracker, events)
    repair = tracker.get_slot("last_ticket_id")
    if tracker.get_slot("faults_next"):
        return await next_fault(dispatcher, tracker, domain, events, fixed=False, repair=repair)
    unfixed = list(tracker.get_slot("faults_unfixed") or [])
    dispatcher.utter_message(response="utter_repair_open_then_repair", done=fault_name(tracker.get_slot("fault_type")),
                             ticket_id=repair, left=fault_name(*unfixed))
    left = [SlotSet("fault_type", unfixed[0]), SlotSet("faults_unfixed", unfixed[1:]), SlotSet("fault_code", None)]
    return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, events + left)


async def next_fault(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict,
                     events: list[dict[str, Any]], fixed: bool, repair: str | None = None) -> list[dict[str, Any]]:
    """The next fault named with the one in hand, triaged afresh; the one in hand, neither ``fixed`` nor with
    its ``repair`` open already, is kept for the repair ticket (``faults_unfixed``), with its repeat mark
    (``faults_repeat``: actions/tickets.py ``files_a_repeat``)."""
    apply_slots(tracker, events)
    done = tracker.get_slot("fault_type")
    waiting = list(tracker.get_slot("faults_next") or [])
    # Read from the message that named them; the one in hand said to keep coming back stays marked for the repair
    # that files it (found in review: the broadband's triage cleared the TV's mark, and its repair was no repeat).
    repeats = list(tracker.get_slot("faults_repeat") or [])
    unfixed = list(tracker.get_slot("faults_unfixed") or []) + ([] if fixed or repair or not done else [done])
    held = [done] if tracker.get_slot("fault_repeat") and done in unfixed else []
    said = {"done": fault_name(done), "fault": fault_name(waiting[0])}
    if repair:
        dispatcher.utter_message(response="utter_next_fault_repair_open", ticket_id=repair, **said)
    else:
        dispatcher.utter_message(response="utter_next_fault_fixed" if fixed else "utter_next_fault", **said)
    moved = events + apply_slots(tracker, [
        SlotSet("fault_type", waiting[0]), SlotSet("faults_next", waiting[1:]), SlotSet("faults_unfixed", unfixed),
        SlotSet("fault_code", None), SlotSet("triage_asked", False), SlotSet("awaiting", None),
        SlotSet("selfhelp_failures", 0),
        SlotSet("faults_repeat", [fault for fault in repeats if fault != waiting[0]] + held)])
    return moved + await triage(dispatcher, tracker, domain, waiting[0], again=waiting[0] in repeats)


async def selfhelp_feedback(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict, worked: bool
) -> list[dict[str, Any]]:
    """The customer's answer to "did it fix it?"."""
    current = tracker.get_slot("selfhelp_current")
    entry = catalogue().get(current) if current else None
    # Named for the customer the conversation proved it is by now, so the next contact on any channel
    # skips what did not help (a proof given later in the contact names it too: verification_passed).
    await record(tracker, "selfhelp_resolved" if worked else "selfhelp_failed", selfhelp_id=current,
                 fault_type=entry.fault_type if entry else None, customer=await proven_customer_key(tracker))
    if worked and tracker.get_slot("faults_next"):
        return await next_fault(dispatcher, tracker, domain, [SlotSet("awaiting", None)], fixed=True)
    unfixed = list(tracker.get_slot("faults_unfixed") or [])
    if worked and unfixed:  # the last fault fixed, one before it not: that one's repair
        dispatcher.utter_message(response="utter_selfhelp_resolved_then_repair",
                                 done=fault_name(tracker.get_slot("fault_type")), left=fault_name(unfixed[0]))
        left = [SlotSet("awaiting", None), SlotSet("fault_type", unfixed[0]), SlotSet("faults_unfixed", unfixed[1:]),
                SlotSet("fault_code", None)]
        return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, left)
    if worked:  # all fixed: a fault left before this one names nothing on a later repair
        dispatcher.utter_message(response="utter_selfhelp_resolved")
        settled = [SlotSet("faults_retriaged", None)] if tracker.get_slot("faults_retriaged") else []
        return [SlotSet("awaiting", None), *settled] + await ask_csat(dispatcher, tracker)
    failures = float(tracker.get_slot("selfhelp_failures") or 0) + 1
    events: list[dict[str, Any]] = [SlotSet("selfhelp_failures", failures)]
    spent = failures >= load_rules().selfhelp_failures_before_offer
    sent, done, marked = mark_said_done(tracker, entry.fault_type if entry else None)
    events += marked
    tried = sent | done
    if asks_for_a_person(latest_text(tracker)):
        # "还是没用，给我转人工吧" (read as an unsure no) got the next guide, and only "我说了转人工！" queued them
        # (found in a live trial): the person asked for, the self-help's failure recorded as for any no.
        return await continue_with("action_request_human", dispatcher, tracker, domain,
                                   events + [SlotSet("awaiting", None)])
    follow = catalogue().next_after(current, tried) if current else None
    if tracker.get_slot("faults_next") and (spent or follow is None):  # a person once every fault was tried
        return await next_fault(dispatcher, tracker, domain, events, fixed=False)
    if spent:
        return await offer_human(dispatcher, tracker, domain, "utter_selfhelp_offer_human", events)
    if follow is not None:
        dispatcher.utter_message(response="utter_selfhelp_next")
        return events + await send_entry(dispatcher, tracker, follow)
    # Self-help is exhausted: move on to a repair ticket.
    return await continue_with("action_create_fault_ticket", dispatcher, tracker, domain, events)


def says_fixed(text: str) -> bool:
    """Whether ``text`` says a fault works again (``selfhelp_fixed_words``), by a word not right after a denial
    ("电视没好了", "不能用了": bot/denial.py), and nothing says it still fails or that only a step was done
    (``fault_still_failing_words``: "电视重启好了 还是没信号")."""
    words = labels()
    return (any(word and said_not_denied(text, word) for word in words.get("selfhelp_fixed_words") or ())
            and not names_any(text, words.get("fault_still_failing_words")))


def fixed_said_by_name(tracker: Tracker) -> tuple[bool, list[str]] | None:
    """An answer to "did it fix it?" with other faults in play (``faults_next``, ``faults_unfixed``) that names the
    fault in hand and says of it, or of another in play, that it is fixed (``says_fixed`` of its own part,
    ``fault_parts``): (whether the fault in hand is fixed, the others in play said fixed). None for any other
    message: the NLU's reading stands. Found in a live trial: "电视好了 宽带还是不行", read as a no, got the TV's
    next guide, the set-top box's factory reset on a box that now worked."""
    current = tracker.get_slot("fault_type")
    others = [*(tracker.get_slot("faults_next") or []), *(tracker.get_slot("faults_unfixed") or [])]
    if tracker.get_slot("awaiting") != "selfhelp_feedback" or not current or not others:
        return None
    parts = fault_parts(tracker, in_play={current, *others})
    fixed = {fault for fault, part in parts.items() if says_fixed(part)}
    if current not in parts or not fixed & {current, *others}:
        return None
    return current in fixed, [fault for fault in others if fault in fixed]


async def answer_naming_faults(dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: dict) -> list[dict[str, Any]] | None:
    """The answer to "did it fix it?" that ``fixed_said_by_name`` reads, however the NLU read it (a no, a yes,
    nothing in particular, a fault): the fault in hand fixed or not, as a yes or a no is. Another fault in play said
    fixed ("宽带好了 电视还是不行" while the TV is in hand) is dropped from those still to come or kept for the repair,
    and recorded fixed (``selfhelp_resolved`` with its ``fault_type`` and no guide: none is credited). None when the
    message is no such answer."""
    verdict = fixed_said_by_name(tracker)
    if verdict is None:
        return None
    worked, fine = verdict
    customer = await proven_customer_key(tracker) if fine else ""
    for fault in fine:
        await record(tracker, "selfhelp_resolved", fault_type=fault, customer=customer)
    def left(slot: str) -> list[str]:
        return [fault for fault in tracker.get_slot(slot) or [] if fault not in fine]

    dropped = apply_slots(tracker, [SlotSet("faults_next", left("faults_next")),
                                    SlotSet("faults_unfixed", left("faults_unfixed")),
                                    SlotSet("faults_repeat", left("faults_repeat"))]) if fine else []
    return dropped + await selfhelp_feedback(dispatcher, tracker, domain, worked=worked)
