"""Who the customer is (a claim) and whether they proved it (verification), before any personal data.

Identification names a customer: a number typed in chat, or a channel account. It proves
nothing. Verification proves the conversation is the account holder: a one-time SMS code to the
registered number, the account's service password, a signed integration token, the phone trunk's
caller ID, or a WeChat account bound after one verification (``bot.security.claims``). A bare
sender id never counts. Which requests need which is editors' data (``content/verification.yml``).

A gated action that lacks what it needs asks for it and remembers itself in ``pending_request``,
so it resumes in the same turn once the customer answers.

Whether a number is a customer's is itself personal: a number that is no customer's gets the same
"code sent" reply as a customer's, and a check that never passes (``claim_subject``).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from abc import ABC, abstractmethod
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.backend import (channel_of, db, labels, last_said, latest_entity, latest_text, names_any, record,
                             repository, says_any)
from actions.chain import continue_with, find_action
from actions.clarify import take_typed_option
from actions.named_request import request_named
from bot.db.repository import Customer, DatabaseError
from bot.handoff.agents import PHONE_CHANNEL
from bot.handoff.masking import AWAITING_PROOF, blank_secrets, is_bare_proof, mask_phone, proof_secrets
from bot.handoff.masking import PROOF as ANSWER  # an SMS code or a service password
from bot.notify import NotifyError, OutboxNotifier
from bot.outcomes.events import customer_key
from bot.phone import local_phone
from bot.security.claims import CALLER_ID, WECHAT_OPENID, Claim, proven_claims
from bot.security.credentials import CredentialStore
from bot.security.otp import CodeLedger
from bot.security.policy import code_text, load_policy
from bot.security.secrets import get_secrets
from bot.settings import get_settings

logger = logging.getLogger(__name__)

DIGITS = re.compile(r"\d{6,}")
STICKY_PROOFS = ("sms_code", "service_password", "token")  # kept for the session in slots


@dataclass
class Identity:
    customer: Customer | None  # who the conversation says it is
    verified: bool = False  # proven in this conversation
    events: list[dict[str, Any]] = field(default_factory=list)  # slots recording a new proof
    number: str | None = None  # the phone or account number given for it, whether a customer's or not


def credentials() -> CredentialStore:
    return CredentialStore(get_settings().database_url)


def code_ledger() -> CodeLedger:
    from bot.handoff.queue import redis_from_settings

    return CodeLedger.from_settings(redis_from_settings(), get_settings(), get_secrets().channel_secret)


def proven(customer: Customer, how: str, tracker: Tracker) -> list[dict[str, Any]]:
    """Remember a proof for the session, on the channel it was given on (see ``establish``)."""
    return [SlotSet("verified_customer_id", str(customer.id)), SlotSet("verified_by", how),
            SlotSet("verified_channel", tracker.get_latest_input_channel())]


async def customer_by_number(number: str) -> Customer | None:
    """A customer from a registered phone or account number. Raises DatabaseError."""
    repo = repository()
    phone = local_phone(number)
    if phone:
        return await db(repo.find_customer, phone=phone)
    return await db(repo.find_customer, account_number=str(number).strip()) if number else None


async def customer_from_claim(claim: Claim) -> Customer | None:
    if claim.kind == WECHAT_OPENID:
        customer_id = await db(credentials().bound_customer, "wechat", claim.subject)
        return await db(repository().get_customer, customer_id) if customer_id else None
    if claim.kind == CALLER_ID:
        phone = local_phone(claim.subject)
        return await db(repository().find_customer, phone=phone) if phone else None
    return await customer_by_number(claim.subject)


# While a kept request is filed (actions/kept_requests.py): the claims its turn proved when it was kept.
# Channel claims are valid for minutes; the filing may come hours later, and would then find nobody.
CLAIMS_WHEN_KEPT: ContextVar[list[Claim] | None] = ContextVar("claims_when_kept", default=None)


def message_claims(tracker: Tracker) -> list[Claim]:
    kept = CLAIMS_WHEN_KEPT.get()
    if kept is not None:
        return kept
    secrets = get_secrets()
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return proven_claims(metadata, tracker.sender_id, channel_secret=secrets.channel_secret,
                         jwt_secret=secrets.jwt_secret)


async def establish(tracker: Tracker, given: str | None = None, *, this_turn: bool = True) -> Identity:
    """What this turn knows about the customer, without asking. ``given``: a number given before this turn that
    names the customer (one given with a message asked for: ``ActionLeaveMessage.whom``), else (``this_turn``) the
    one typed in this turn; ``this_turn`` False: whom the conversation knew before it. Raises DatabaseError."""
    typed = given or (typed_number(tracker) if this_turn else None)
    for claim in message_claims(tracker):
        # A number of another customer typed in this turn is whom the message is about ("查8800000003的账单"
        # from a bound WeChat account: a family member's line), as after a proof in the session: the
        # channel's proof is not theirs. It answered with the account holder's bill (found in review).
        customer = await customer_from_claim(claim)
        if customer is not None and (not typed or names(customer, typed)):
            return Identity(customer, True, proven(customer, "token", tracker) if claim.kind == "integration" else [])
    verified_id = tracker.get_slot("verified_customer_id")
    # A proof holds only on the channel it was given on: REST accepts any sender id, so whoever
    # learnt a web-chat or WeChat conversation's id could otherwise read what its owner unlocked.
    sticky = (tracker.get_slot("verified_by") in STICKY_PROOFS
              and tracker.get_slot("verified_channel") == tracker.get_latest_input_channel())
    verified = verified_id if sticky else None
    if typed:  # the number the customer just gave wins over whom we knew before
        customer = await customer_by_number(typed)
        return Identity(customer, customer is not None and str(customer.id) == verified, number=typed)
    known = tracker.get_slot("customer_id") or verified
    if not known:  # a number given earlier, e.g. with the fault ("宽带坏了 138…"), still says whom it is about
        earlier = tracker.get_slot("phone_number") or tracker.get_slot("account_number")
        return Identity(await customer_by_number(earlier) if earlier else None, number=earlier)
    customer = await db(repository().get_customer, int(known))
    return Identity(customer, customer is not None and str(customer.id) == verified)


def names(customer: Customer, number: str) -> bool:
    """Whether ``number`` (a phone or account number as given) is ``customer``'s."""
    phone = local_phone(number)
    return phone == customer.phone if phone else str(number).strip() == customer.account_number


def typed_number(tracker: Tracker) -> str | None:
    """The phone or account number given in this turn (it names the customer over whom we knew before)."""
    return latest_entity(tracker, "phone_number") or latest_entity(tracker, "account_number")


def named_by_account(tracker: Tracker, number: str | None) -> bool:
    """Whether the customer was named by an account number (``number``, else one given earlier in the
    conversation): its registered phone is then not ours to show, not even masked, to anyone not
    proven the holder (whoever holds an account number would learn 7 digits of its mobile)."""
    given = number or tracker.get_slot("account_number")
    return bool(given) and not local_phone(given)


def without_secrets(text: str) -> str:
    """The customer's words with a code or password they named ("密码是135790") blanked: the words go
    into tickets and notes that agents read, and the turn's own text reaches the action as typed (only
    what the tracker store writes is blanked, ``bot.security.secret_answers``)."""
    return blank_secrets(text, proof_secrets(text))


# What the number asked for is for (actions/number_asked_why.py): the question they answer is no request.
NUMBER_EXPLAINED = frozenset({"utter_why_number", "utter_why_number_proof", "utter_why_contact_number"})


def request_event(tracker: Tracker) -> dict:
    """The customer's message that made the request: the latest, skipping those that only gave an id or a code,
    or said, in answer to the code asked for, that it did not come (``code_not_received``: no request of theirs,
    whatever the NLU read it as). Said at any other time ("我要投诉 APP一直收不到验证码") it is the request: found in
    review, such a complaint was filed with an earlier, unrelated message. A question answered with what the number
    is for ("为什么要给你手机号") is none either: found in a live trial, it was written into the complaint filed."""
    asked, latest, before = None, {}, {}
    for event in tracker.events:
        if event.get("event") == "bot":
            asked = (event.get("metadata") or {}).get("utter_action")
            if asked in NUMBER_EXPLAINED:  # "为什么要给你手机号" answered: a question about the request, not one
                latest = before
        elif event.get("event") == "user":
            if (event.get("parse_data") or {}).get("intent", {}).get("name") == "inform":
                continue
            if asked in (*PROOF_REQUESTS, CODE_NOT_RECEIVED) and names_any(
                    event.get("text") or "", labels().get("code_not_received_words")):
                continue
            before, latest = latest, event
    return latest


def request_text(tracker: Tracker) -> str:
    """What the customer asked for, skipping the turns where they only gave an id or a code."""
    return without_secrets(request_event(tracker).get("text") or "")


NOT_A_REQUEST = ("inform", "affirm", "deny")


def customer_words(tracker: Tracker) -> str:
    """The customer's latest request in their own words, for a note a person reads: like
    :func:`request_text`, also skipping yes/no answers (解决了 / 没解决) and pressed buttons (a payload such
    as ``/deny`` is no words of theirs: found by a journey tester as the ticket history note
    "reported again (webchat): /deny")."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            text = event.get("text") or ""
            if intent not in NOT_A_REQUEST and text and not text.startswith(("/", "#")):
                return without_secrets(text)
    return ""


def identified(customer: Customer, verified: bool = True) -> list[dict[str, Any]]:
    """Remember the customer; their name only once they proved who they are."""
    events = [SlotSet("customer_id", str(customer.id))]
    return events + [SlotSet("customer_name", customer.name)] if verified else events


def ask_identity(dispatcher: CollectingDispatcher, action_name: str,
                 number_not_found: bool = False) -> list[dict[str, Any]]:
    """Ask who the customer is. A number given with the request that is no customer's is said to be
    not found, as when it is given on its own, instead of asked for again without a word why (found
    by a tester on the phone's bill branch)."""
    if number_not_found:
        dispatcher.utter_message(response="utter_customer_not_found")
    else:
        ask_number(dispatcher, action_name)
    return [SlotSet("pending_request", action_name), SlotSet("awaiting", "identity")]


def ask_number(dispatcher: CollectingDispatcher, action_name: str) -> None:
    """The number question for ``action_name``: the one registered with us, or, for a request whoever asks is
    not a customer yet (a new install: ``asks_contact_number``), any number to call back."""
    if asks_contact_number(action_name):
        dispatcher.utter_message(response="utter_ask_contact_number")
    else:
        dispatcher.utter_message(response="utter_ask_identity")


def number_still_needed(dispatcher: CollectingDispatcher, action_name: str) -> None:
    """After a no to the number question, the request kept with the way round it, in that question's terms: a
    prospective customer was told a registered number was needed (found trying a new install)."""
    if asks_contact_number(action_name):
        dispatcher.utter_message(response="utter_contact_number_still_needed")
    else:
        dispatcher.utter_message(response="utter_identity_still_needed")


def asks_contact_number(action_name: str) -> bool:
    return getattr(find_action(action_name), "asks_contact_number", False)


LEAVE_MESSAGE = "action_leave_message"
# The message asked for, when the customer asked to leave one without saying it (actions/message_asked.py).
AWAITING_MESSAGE = "message"
ASK_MESSAGE = "utter_ask_message"
NOT_WORDS = re.compile(r"[\d\s\W_]+")
SHORTEST_MESSAGE = 4  # characters: "好的", "可以", "谢谢" answer the question; they are not the message


def message_being_left(tracker: Tracker) -> bool:
    """Whether this turn is the message a customer asked to leave: the answer to "what is the message?", or, the
    number asked for, one that came with words ("宽带坏了三天了 138…，尽快回电"). Read as a fault or a bill
    question, it would otherwise start that instead, and the message was lost (found by a tester)."""
    if tracker.get_slot("pending_request") != LEAVE_MESSAGE:
        return False
    return message_awaited(tracker) or (tracker.get_slot("awaiting") == "identity" and bool(typed_number(tracker)))


def message_awaited(tracker: Tracker) -> bool:
    """Whether the assistant has just asked what the message the customer wants to leave is: only the turn right
    after the question (found in review: a reply another action answered, thanks or hello, left the question open,
    and a bill question in the next hour was filed as the message)."""
    return (tracker.get_slot("pending_request") == LEAVE_MESSAGE and tracker.get_slot("awaiting") == AWAITING_MESSAGE
            and last_said(tracker) == ASK_MESSAGE)


async def leave_the_message(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
    """Record this turn as the message left, instead of what its words alone would start; a message asked for and
    then declined ("算了 不留言了") is dropped, and a reply too short to be one ("好的") asks for it again."""
    not_the_message = no_message_given(dispatcher, tracker)
    if not_the_message is not None:
        return not_the_message
    return await continue_with(LEAVE_MESSAGE, dispatcher, tracker, domain,
                               [SlotSet("pending_request", None), SlotSet("awaiting", None)])


def no_message_given(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]] | None:
    """The reply when the answer to "what is the message?" is none: declined ("算了 不留言了", ``never_mind_words``
    alone) drops the request; too short to be one ("好的") asks again. None when it is the message (or none was
    asked for)."""
    if not message_awaited(tracker):
        return None
    said = NOT_WORDS.sub("", latest_text(tracker))
    for word in labels().get("never_mind_words") or ():
        said = said.replace(word, "")
    if says_any(tracker, labels().get("message_withdrawn_words")) or not said:
        dispatcher.utter_message(response="utter_ok")
        return [SlotSet("pending_request", None), SlotSet("awaiting", None)]
    if len(said) < SHORTEST_MESSAGE:
        dispatcher.utter_message(response=ASK_MESSAGE)
        return []
    return None


async def the_message_if_asked(dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: dict) -> list[dict[str, Any]] | None:
    """This turn taken as the message asked for, whatever it was read as (thanks, no, a how-to), or None when no
    message was just asked for (found in review: those actions answered it, and the message was lost)."""
    return await leave_the_message(dispatcher, tracker, domain) if message_awaited(tracker) else None


def db_error(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """Apologise and offer a human without promising a ticket we could not write."""
    dispatcher.utter_message(response="utter_db_error")
    return [SlotSet("awaiting", "offer_human")]


async def database_down(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """The database failed while the customer gave their number for a request: that request's own
    answer (a repair, a complaint or a callback is kept and filed later), else the apology."""
    pending = tracker.get_slot("pending_request")
    action = find_action(pending) if pending else None
    if isinstance(action, IdentifiedAction):
        return await action.database_down(dispatcher, tracker)
    return db_error(dispatcher)


def verification_unavailable(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    dispatcher.utter_message(response="utter_verification_unavailable")
    return [SlotSet("awaiting", "offer_human"), SlotSet("pending_request", None)]


async def send_code(tracker: Tracker, customer: Customer, code: str) -> bool:
    """Queue the code for the registered number (outbox -> SMS gateway)."""
    settings = get_settings()
    text = code_text(load_policy(settings.content_dir).sms_code_text, code, settings.otp_ttl_s)
    # A code that arrives as it lapses is no use: the outbox gives it up instead (bot/outbound/worker.py),
    # a minute (at most half its validity) before, so the customer still has time to type it.
    usable_s = max(settings.otp_ttl_s // 2, settings.otp_ttl_s - 60)
    send_before = dt.datetime.utcnow() + dt.timedelta(seconds=usable_s)
    try:
        await OutboxNotifier.from_settings(settings, repository()).send(
            customer.phone, {"channel": "sms", "kind": "verification_code", "text": text,
                             "conversation_id": tracker.sender_id, "send_before": send_before.isoformat()})
    except NotifyError as exc:
        logger.warning("security.verification.sms_failed conversation=%s error=%s", tracker.sender_id, exc)
        return False
    return True


def asked_for(customer: Customer | None, number: str | None) -> str:
    """What the code was asked for, for the budgets that decide the reply: the number as typed (a
    customer's or not), else the customer named earlier in the conversation. Never the registered
    phone behind an account number: a budget spent through the account would then show on the phone."""
    if number:
        return f"typed:{local_phone(number) or str(number).strip()}"
    return f"customer:{customer.id}" if customer is not None else "typed:"


def claim_subject(customer: Customer | None, number: str | None) -> str:
    """Whom a check is for: the customer, else the number given (so its budgets count like a customer's)."""
    if customer is not None:
        return str(customer.id)
    return f"number:{local_phone(number) or str(number or '').strip()}"


async def request_proof(dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer | None,
                        action_name: str, number: str | None = None) -> list[dict[str, Any]]:
    """Send a one-time code (within the rate limits) and ask for it or the service password.

    ``customer`` None: ``number`` is no customer's. The reply is the same as for a customer's
    number, with the same limits, but nothing is sent and nothing the customer types passes, so
    the replies cannot be used to test which numbers are customers'. A customer who mistyped sees
    their own typed number in the reply, gets no code, and can give the number again.
    """
    ledger = code_ledger()
    settings = get_settings()
    subject = claim_subject(customer, number)
    customer_id = customer.id if customer is not None else None
    known = [SlotSet("customer_id", str(customer.id))] if customer is not None else []
    events = known + [SlotSet("pending_request", action_name), SlotSet("awaiting", AWAITING_PROOF)]
    sent = False
    asked = asked_for(customer, number)
    pending = await ledger.pending_for(tracker.sender_id)
    if pending is not None and (pending == asked or not number):
        # A check is open for this number, or for the customer named before (no number given this turn):
        # asked again as it was asked, not another code or a fresh count of tries. "Only the password" stays
        # so (found on a live call: "上个月呢" there was told a code was on its way, where none was sent).
        sent = last_proof_prompt(tracker) != PASSWORD_ONLY
    elif await ledger.may_send(tracker.sender_id, asked):
        code = await ledger.open(tracker.sender_id, subject, customer_id, with_code=True, asked=asked)
        if customer is None:
            sent = True  # nothing is sent, and the reply is a customer's
        elif not await ledger.phone_may_receive(customer.phone):
            # The registered phone had its codes of the hour (through its number and its account
            # number together): none is sent, and the reply is the one any number gets. Nobody has
            # the code, so the check takes the password only: a code kept would be one to guess.
            await ledger.open(tracker.sender_id, subject, customer_id, with_code=False, asked=asked)
            sent = True
            logger.info("security.verification.phone_budget_spent conversation=%s", tracker.sender_id)
        else:
            sent = await send_code(tracker, customer, code)
            if not sent:
                await ledger.open(tracker.sender_id, subject, customer_id, with_code=False, asked=asked)
            else:
                await record(tracker, "verification_code_sent")
    elif await ledger.password_paused(asked):  # no code to send and no password to check today
        logger.info("security.verification.paused conversation=%s", tracker.sender_id)
        dispatcher.utter_message(response="utter_verification_paused")
        return known + [SlotSet("awaiting", "offer_human"), SlotSet("pending_request", None)]
    else:
        await ledger.open(tracker.sender_id, subject, customer_id, with_code=False, asked=asked)
        logger.info("security.verification.rate_limited conversation=%s", tracker.sender_id)
    if sent and named_by_account(tracker, number):
        dispatcher.utter_message(response="utter_verification_code_sent_to_account", minutes=settings.otp_ttl_s // 60)
    elif sent:
        shown = local_phone(number) or (customer.phone if customer is not None else "")
        dispatcher.utter_message(response="utter_verification_code_sent", phone_masked=mask_phone(shown),
                                 minutes=settings.otp_ttl_s // 60)
    else:
        dispatcher.utter_message(response=PASSWORD_ONLY)
    return events


PASSWORD_ONLY = "utter_verification_password_only"
CODE_NOT_RECEIVED = "utter_verification_code_not_received"
# How ``request_proof`` asked: a code sent, or the password only. Not ``secret_answers.PROOF_PROMPTS``, which also
# holds the replies to a wrong answer: those do not say which way the proof was asked.
CODE_REQUESTS = ("utter_verification_code_sent", "utter_verification_code_sent_to_account")
PROOF_REQUESTS = (*CODE_REQUESTS, PASSWORD_ONLY)


def last_proof_prompt(tracker: Tracker) -> str | None:
    """The request for a code or the password the conversation was given last (``request_proof``)."""
    said = ((e.get("metadata") or {}).get("utter_action") for e in reversed(tracker.events) if e.get("event") == "bot")
    return next((name for name in said if name in PROOF_REQUESTS), None)


def proof_awaited(tracker: Tracker) -> bool:
    """Whether a code or the service password is asked for a request kept to answer once it is given (``request_proof``)."""
    return tracker.get_slot("awaiting") == AWAITING_PROOF and bool(tracker.get_slot("pending_request"))


def still_getting_the_proof(tracker: Tracker) -> bool:
    """Whether, while the proof is awaited, the latest message says the customer is still getting it ("我输错了 等下",
    ``proof_wait_words``): asked for again then. Any other no ends the request ("不查了": found in review, re-asking
    every no kept the request with no way out but 算了). A decline wins over them ("不查了 等等", "算了，等下我自己去营业厅":
    ``never_mind_words``, found in review)."""
    words = labels()
    return (proof_awaited(tracker) and says_any(tracker, words.get("proof_wait_words"))
            and not says_any(tracker, words.get("never_mind_words")))


async def ask_proof_again(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
    """The code or password asked for again (no second code: the first one still counts), the request kept for when
    it is given. In a chat the code sent is said to be still good (``utter_proof_still_valid``): the whole prompt again
    ("…它会收到一条6位短信验证码…") read as if another code were on its way (found in a live trial). The phone asks as it
    asked (``request_proof``): its prompt is the one the call collects keys after."""
    if code_not_received(tracker):  # "我没收到验证码": how to go on without it, not that it still counts
        return tell_about_the_code(dispatcher, tracker)
    if (channel_of(tracker) != PHONE_CHANNEL and last_proof_prompt(tracker) in CODE_REQUESTS
            and await code_ledger().pending_for(tracker.sender_id) is not None):  # expired: a new one is sent
        dispatcher.utter_message(response="utter_proof_still_valid")
        return []
    return await continue_with(tracker.get_slot("pending_request"), dispatcher, tracker, domain)


def code_not_received(tracker: Tracker) -> bool:
    """Whether the customer says the code asked for did not come ("我没收到验证码", ``code_not_received_words``).
    Found in a trial: read as more of the complaint whose code was asked, it got "您反映的情况我已经记下"."""
    return proof_awaited(tracker) and says_any(tracker, labels().get("code_not_received_words"))


def tell_about_the_code(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """How to go on without the code; the check stays open (the code, if it comes, or the password answer it). Where
    only the password was asked for (no code was sent), that is said again."""
    password_only = last_proof_prompt(tracker) == PASSWORD_ONLY
    dispatcher.utter_message(response=PASSWORD_ONLY if password_only else CODE_NOT_RECEIVED)
    return []


async def bind_channel_account(tracker: Tracker, customer: Customer) -> None:
    """A WeChat account that proved itself once verifies by itself from now on."""
    for claim in message_claims(tracker):
        if claim.kind == WECHAT_OPENID:
            await db(credentials().bind, "wechat", claim.subject, customer.id)
            logger.info("security.binding.created conversation=%s channel=wechat", tracker.sender_id)


async def check_proof(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict,
                      answer: str) -> list[dict[str, Any]]:
    """The customer's answer to "please reply with the code or your service password"."""
    ledger = code_ledger()
    check = await ledger.attempt(tracker.sender_id)
    if check is None:
        dispatcher.utter_message(response="utter_verification_expired")
        return [SlotSet("awaiting", None), SlotSet("pending_request", None)]
    how = "sms_code" if ledger.code_matches(check, answer) else None
    # Wrong passwords count for the number as typed (the reply says when its budget is spent) and
    # for the customer, untold: past the customer's, the password is not checked, and the answer
    # is wrong like any other (through the account number, guesses must not show on the phone).
    budgets = [check.asked or check.subject] + ([check.subject] if check.customer_id is not None else [])
    taken: list[tuple[str, str]] = []  # (budget, reservation): given back if the password is right
    paused = held = False
    for n, budget in enumerate(budgets if how is None else []):
        reservation = await ledger.take_password_try(budget)
        if reservation is None:
            paused, held = n == 0, n > 0
            break
        taken.append((budget, reservation))
    if how is None and not paused and not held and check.customer_id is not None and await db(
            credentials().service_password_matches, check.customer_id, answer):
        how = "service_password"
        for budget, reservation in taken:
            await ledger.give_back_password_try(budget, reservation)
    if how is None:
        await record(tracker, "verification_failed", attempt=check.attempts)
        if check.last_attempt:
            dispatcher.utter_message(response="utter_verification_locked")
            return [SlotSet("awaiting", None), SlotSet("pending_request", None)]
        if paused and not check.code_digest:  # only the password could answer this check
            await ledger.close(tracker.sender_id)
            dispatcher.utter_message(response="utter_verification_paused")
            return [SlotSet("awaiting", "offer_human"), SlotSet("pending_request", None)]
        dispatcher.utter_message(response="utter_verification_password_paused" if paused else "utter_verification_wrong",
                                 remaining=check.max_attempts - check.attempts)
        return []
    await ledger.close(tracker.sender_id)
    customer = await db(repository().get_customer, check.customer_id) if check.customer_id is not None else None
    if customer is None:
        return db_error(dispatcher)
    await bind_channel_account(tracker, customer)
    # The proof names the customer, so what this contact said before it counts as theirs on every
    # channel (bot/outcomes/selfhelp_tried.py: self-help they already said did not help).
    await record(tracker, "verification_passed", method=how, customer=customer_key(customer_id=customer.id))
    events = proven(customer, how, tracker) + identified(customer) + [SlotSet("awaiting", None)]
    pending = tracker.get_slot("pending_request")
    if pending:
        events.append(SlotSet("pending_request", None))
        return await continue_with(pending, dispatcher, tracker, domain, events)
    dispatcher.utter_message(response="utter_identified", customer_name=customer.name)
    dispatcher.utter_message(response="utter_anything_else")
    return events


class ActionIdentifyCustomer(Action):
    """Handle an `inform` turn: a code or password, a phone/account number, a ticket id or a fault code."""

    def name(self) -> str:
        return "action_identify_customer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        try:
            return await self._run(dispatcher, tracker, domain)
        except DatabaseError:
            return await database_down(dispatcher, tracker)
        except RedisError:
            logger.exception("security.verification.unavailable conversation=%s", tracker.sender_id)
            return verification_unavailable(dispatcher)

    async def _run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        chosen = await take_typed_option(tracker)
        if chosen is not None:  # "1" to "A or B?" (read as a number given): that option, as if tapped
            return chosen
        pending = tracker.get_slot("pending_request")
        phone = latest_entity(tracker, "phone_number")
        account = latest_entity(tracker, "account_number")
        text = latest_text(tracker)
        answer = ANSWER.search(text)
        if message_awaited(tracker) and not (phone or account or is_bare_proof(text)):
            # The message asked for, read as a code or an id ("我姓王，住天河区"): the message, not a number to ask.
            return await leave_the_message(dispatcher, tracker, domain)
        if tracker.get_slot("awaiting") == AWAITING_PROOF and answer and not (phone or account):
            return await check_proof(dispatcher, tracker, domain, answer.group())
        if latest_entity(tracker, "fault_code") and tracker.get_slot("fault_type") and not (phone or account):
            return await continue_with("action_triage_fault", dispatcher, tracker, domain)
        if latest_entity(tracker, "ticket_id") and not (phone or account):
            return await continue_with("action_query_ticket", dispatcher, tracker, domain)
        if not (phone or account):
            if is_bare_proof(text):  # a code or a password unasked: not stored (masking.proof_secrets), not checked
                dispatcher.utter_message(response="utter_proof_unasked")
                if pending:
                    ask_number(dispatcher, pending)
                return []
            if DIGITS.search(text):
                dispatcher.utter_message(response="utter_identity_invalid")
                return []
            if proof_awaited(tracker):
                # The number was given and a code or the password is awaited: asked for again as it was asked
                # (request_proof), not the number (found trying the chat: "为什么是318" was asked the number).
                return await ask_proof_again(dispatcher, tracker, domain)
            if pending:
                ask_number(dispatcher, pending)
            else:
                dispatcher.utter_message(response="utter_default")
            return []
        question = None if pending else open_question(tracker)
        if question:
            return await number_during_question(dispatcher, tracker, question)
        named = None if pending else request_named(tracker)
        if named:  # "查话费 138…", read as the number given: the bill asked for, with that number
            return await continue_with(named, dispatcher, tracker, domain)
        who = await establish(tracker)
        if who.customer is None:
            if pending and proof_needed(pending):  # the same reply as for a customer's number
                return await continue_with(pending, dispatcher, tracker, domain, [SlotSet("awaiting", None)])
            if pending and getattr(find_action(pending), "files_for_any_number", False) and local_phone(who.number or ""):
                return await continue_with(pending, dispatcher, tracker, domain,
                                           [SlotSet("awaiting", None), SlotSet("pending_request", None)])
            # Noted either way: a request that needs proof asks for it (request_proof); one that
            # acts on the account without proof has to say it found no one.
            dispatcher.utter_message(response="utter_customer_not_found" if pending else "utter_identity_noted")
            return []
        events = who.events + identified(who.customer, who.verified) + [SlotSet("awaiting", None)]
        if pending:
            events.append(SlotSet("pending_request", None))
            return await continue_with(pending, dispatcher, tracker, domain, events)
        if who.verified:
            dispatcher.utter_message(response="utter_identified", customer_name=who.customer.name)
            dispatcher.utter_message(response="utter_anything_else")
        else:
            dispatcher.utter_message(response="utter_identity_noted")
        return events


def open_question(tracker: Tracker) -> str | None:
    """The bot's question about the fault still open — "问题解决了吗？", "请问宽带具体是什么情况？" or, the self-help
    having failed, "需要为您转接人工客服吗？" — to ask again after a number typed meanwhile, or None."""
    if tracker.get_slot("awaiting") == "selfhelp_feedback":
        return "utter_ask_selfhelp_worked"
    if tracker.get_slot("awaiting") == "offer_human" and last_said(tracker) == "utter_selfhelp_offer_human":
        # Self-help failed and a person was offered: a number typed to it got "请问您要办理什么业务？", and the fault
        # and the offer were dropped (found trying the chat). Written out: kefu validate reads the names returned.
        return "utter_selfhelp_offer_human"
    return details_question(tracker)


def details_question(tracker: Tracker) -> str | None:
    """The fault's "请问宽带具体是什么情况？", if it was the bot's last words (triage asks it once)."""
    fault_type = tracker.get_slot("fault_type")
    question = f"utter_ask_fault_detail_{fault_type}"
    return question if fault_type and last_said(tracker) == question else None


async def number_during_question(dispatcher: CollectingDispatcher, tracker: Tracker,
                                 question: str) -> list[dict[str, Any]]:
    """A number typed while a question about the fault is open: noted, and the question asked again.
    Answered "what else?" instead, a tester's "还是不行，转人工吧" then read as a plain "no" and got
    "anything else?"; after the details question, the broadband said a turn before was forgotten."""
    who = await establish(tracker)
    dispatcher.utter_message(response="utter_number_noted")
    dispatcher.utter_message(response=question)
    return who.events + (identified(who.customer, who.verified) if who.customer is not None else [])


class IdentifiedAction(Action, ABC):
    """Base for actions about one customer's account: identifies, verifies if needed, then serves.

    ``request`` names the request in ``content/verification.yml`` (usually the intent).
    """

    request: str = ""
    # Filed for whoever asks (a complaint, a message): a mobile number that is no customer's is taken
    # as the number to call back, so no reply tells which numbers are customers' (found by a probe:
    # "not found" enumerated them) and nobody's complaint is lost. Such actions define `serve_number`.
    files_for_any_number: bool = False
    # The number is asked as one to call back, not the one registered with us (``ask_number``).
    asks_contact_number: bool = False

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if self.name() != LEAVE_MESSAGE and message_being_left(tracker):
            return await leave_the_message(dispatcher, tracker, domain)
        if code_not_received(tracker):  # "我没收到验证码", whatever it was read as: no more of the request
            return tell_about_the_code(dispatcher, tracker)
        level = load_policy(get_settings().content_dir).level(self.request or self.name())
        try:
            who = await self.whom(tracker)
            if who.customer is None and who.number and level == "verified":
                return await request_proof(dispatcher, tracker, None, self.name(), who.number)
            if who.customer is None and self.files_for_any_number and local_phone(who.number or ""):
                return await self.serve_number(dispatcher, tracker, local_phone(who.number))
            if who.customer is None:
                return ask_identity(dispatcher, self.name(), number_not_found=who.number is not None)
            if level == "verified" and not who.verified:
                return await request_proof(dispatcher, tracker, who.customer, self.name(), who.number)
            return (who.events + identified(who.customer, who.verified)
                    + await self.serve(dispatcher, tracker, who.customer, who.verified))
        except DatabaseError:
            return await self.database_down(dispatcher, tracker)
        except RedisError:
            logger.exception("security.verification.unavailable conversation=%s", tracker.sender_id)
            return verification_unavailable(dispatcher)

    async def whom(self, tracker: Tracker) -> Identity:
        """Whom this request is about: the number typed in this turn winning over whom we knew before
        (``establish``; ``ActionLeaveMessage`` reads it otherwise). Raises DatabaseError."""
        return await establish(tracker)

    async def database_down(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        """The answer when the database cannot be reached; a request kept to file later overrides it
        (``actions.kept_requests.KeptWhenDown``)."""
        return db_error(dispatcher)

    @abstractmethod
    async def serve(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer: Customer, verified: bool
    ) -> list[dict[str, Any]]:
        """Answer the request for a customer who has what the request's level needs; ``verified``
        says whether they proved it (a lower level lets one who only gave a number through)."""

    async def serve_number(self, dispatcher: CollectingDispatcher, tracker: Tracker, phone: str) -> list[dict[str, Any]]:
        """File the request with ``phone`` (no customer's) to call back; only if ``files_for_any_number``."""
        raise NotImplementedError


def proof_needed(action_name: str) -> bool:
    """Whether the account action ``action_name`` answers only the proven account holder."""
    action = find_action(action_name)
    return load_policy(get_settings().content_dir).level(getattr(action, "request", "") or action_name) == "verified"


async def verified_customer(tracker: Tracker) -> Customer | None:
    """The proven customer of this turn, or None (for answers that add personal details when allowed)."""
    who = await establish(tracker)
    return who.customer if who.verified else None

