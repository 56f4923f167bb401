"""One-time codes for verification, kept in Redis so every action-server process agrees.

One outstanding check per conversation (``kefu:verify:code:<conversation id>``): whom it is for
(a customer, or a number that is no customer's: that check gets the same replies and never
passes, so the replies do not tell which numbers are customers'), an HMAC of the code (none when
only the service password is accepted), and the number of attempts. It expires after ``otp_ttl_s``;
``otp_max_attempts`` wrong answers void it. Codes asked for are counted in any hour (sliding
windows, see below) per conversation, per number as typed (a phone or an account number, whether
or not it is a customer's) and for the whole installation; a conversation gets fewer than a number,
so no one conversation can use up the codes of a number. Those three decide the reply, so it is the
same for a customer's number and any other. The codes actually sent are also counted per registered
phone (against SMS bombing through a phone and its account number together), in any hour and in
any 24 hours; that budget is never told: a code it holds back is not sent, and the reply is the one
a number that is no customer's gets. The day's budget also bounds guessing: each code allows
``otp_max_attempts`` answers, so with the hourly budget alone a script could make about 360 guesses a
day at one customer's codes, every day (found in review); with ``otp_per_phone_per_day`` (10) it is 30. Otherwise the refusal ("no more codes now") after an account number's codes told that a typed
phone was that account's (found by a tester).

A check ends after a few wrong answers, but a new one can always be asked for, and the service
password does not change between checks. So wrong answers are also counted per customer, across
every conversation, in any 24 hours: past ``password_failures_per_day`` the password is not
checked until the oldest of those answers is a day old (the code, sent to the owner's phone, still
works). Without this budget a script could try every six-digit password. Like the codes, they are
counted twice: per number as typed, which decides the reply ("password paused"), and per customer,
which is never told (a password it holds back is answered as a wrong one), so that guesses through
an account number do not show when its phone is typed.

Every budget slides (``bot.rate_window``: no more than N in any hour, or in any 24 hours for the
password): counted in fixed windows, a number got twice its codes across the top of an hour. A
request or answer a budget refuses is not counted there; one refused earlier in the order above is
not counted by the later ones, as before. Keys ``kefu:verify:sent:{sender,typed,number}:<hash>``,
``kefu:verify:sent:number:<hash>:day``, ``kefu:verify:sent:all`` (``...:all:told``: its refusal was logged
loud this hour) and
``kefu:verify:failed:<hash>``; the fixed windows' keys (``...:<hour>``, ``...:<day>``) simply expire.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Callable

import redis.asyncio as redis
from bot import rate_window
from bot.redis_text import as_text

logger = logging.getLogger(__name__)

PREFIX = "kefu:verify"
CODE_DIGITS = 6
WINDOW_S = 3600
DAY_S = 24 * 3600


def _key(*parts: str) -> str:
    return ":".join((PREFIX,) + parts)


def _hidden(value: str) -> str:
    """Phone numbers never appear in Redis key names."""
    return hashlib.sha256(value.encode()).hexdigest()[:24]


# One answer counted against a check (KEYS[1] its hash; ARGV[1] the answers it allows): nil when there is
# none, else {attempts including this one, the check's fields}; the last allowed answer (or one past it)
# ends the check, whatever its outcome.
_ATTEMPT = """
local stored = redis.call('HGETALL', KEYS[1])
if #stored == 0 then return nil end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return {attempts, stored}
"""


@dataclass(frozen=True)
class PendingCheck:
    subject: str  # whom the check is for: a customer id, or a number that is no customer's
    customer_id: int | None  # None: no customer has this number, so nothing can pass the check
    code_digest: str  # "" when no code was sent (service password only)
    attempts: int  # including the one being made
    max_attempts: int
    asked: str = ""  # what it was asked for: the number as typed (see CodeLedger.open)

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


class CodeLedger:
    def __init__(self, client: redis.Redis, pepper: str, *, ttl_s: int, max_attempts: int,
                 per_number_per_hour: int, per_sender_per_hour: int, password_failures_per_day: int = 6,
                 per_hour: int = 500, per_phone_per_day: int = 10,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = client
        self._attempt = client.register_script(_ATTEMPT)
        self.pepper = pepper.encode()
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self.per_number_per_hour = per_number_per_hour
        self.per_sender_per_hour = per_sender_per_hour
        self.password_failures_per_day = password_failures_per_day
        self.per_hour = per_hour
        self.per_phone_per_day = per_phone_per_day
        self.clock = clock

    @classmethod
    def from_settings(cls, client: redis.Redis, settings, pepper: str,
                      clock: Callable[[], float] = time.time) -> "CodeLedger":
        return cls(client, pepper, ttl_s=settings.otp_ttl_s, max_attempts=settings.otp_max_attempts,
                   per_number_per_hour=settings.otp_per_number_per_hour,
                   per_sender_per_hour=settings.otp_per_sender_per_hour,
                   password_failures_per_day=settings.password_failures_per_day,
                   per_hour=settings.otp_per_hour, per_phone_per_day=settings.otp_per_phone_per_day, clock=clock)

    def digest(self, answer: str) -> str:
        return hmac.new(self.pepper, answer.encode(), hashlib.sha256).hexdigest()

    async def pending_for(self, conversation_id: str) -> str | None:
        """What the outstanding check was asked for (see ``open``), without counting an attempt."""
        value = await self.redis.hget(_key("code", conversation_id), "asked")
        return as_text(value) if value is not None else None

    async def may_send(self, conversation_id: str, number: str) -> bool:
        """Count one code asked for ``number`` (as typed: a phone or an account number) towards the
        conversation's budget of the hour, then the number's, then the installation's; False when one
        is used up. The same for every number: what it says must not tell whose number it is.

        The conversation's budget is the smaller one, and a code it may not have is not counted for
        the number: whoever knows a number cannot use up its codes from one conversation, and the
        owner can still get one. The installation's budget (``KEFU_OTP_PER_HOUR``) stops many
        conversations with many numbers (REST sender ids cost nothing) from sending without end; it
        counts a number that is no customer's like a customer's, so the reply past it tells nothing.
        """
        now = self.clock()
        if not await self._within(_key("sent", "sender", _hidden(conversation_id)), self.per_sender_per_hour, now):
            return False
        if not await self._within(_key("sent", "typed", _hidden(number)), self.per_number_per_hour, now):
            return False
        if not await self._within(_key("sent", "all"), self.per_hour, now):
            told = await self.redis.set(_key("sent", "all", "told"), 1, nx=True, ex=WINDOW_S)
            log = logger.warning if told else logger.info  # loud once an hour
            log("security.verification.hourly_budget_spent conversation=%s limit=%d", conversation_id, self.per_hour)
            return False
        return True

    async def phone_may_receive(self, phone: str) -> bool:
        """Count one code for the registered ``phone``; False past its budget of the hour or of the day.
        Never shown to the one asking (see the module's docstring): it keeps a phone from being flooded
        when its number and its account number are both typed, and bounds the guesses at its codes."""
        key, now = _key("sent", "number", _hidden(phone)), self.clock()
        return (await self._within(key, self.per_number_per_hour, now)
                and await self._within(f"{key}:day", self.per_phone_per_day, now, DAY_S))

    async def _within(self, key: str, limit: int, now: float, window_s: int = WINDOW_S) -> bool:
        return await rate_window.take(self.redis, key, limit=limit, window_s=window_s, now=now) is not None

    async def open(self, conversation_id: str, subject: str, customer_id: int | None, *,
                   with_code: bool, asked: str = "") -> str | None:
        """Start a check for ``subject``; returns the new code (None: password only). ``asked`` is
        what it was asked for (the number as typed): asked again, the check is still on its way.
        Not the subject: a customer's account number and then their phone would get "on its way"
        where any other phone is counted, which told whose phone it was.

        Without a customer the code is one no reply can match: it is never sent anywhere.
        """
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}" if with_code else None
        matched = code if customer_id is not None else secrets.token_hex(16)
        key = _key("code", conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"subject": subject, "asked": asked,
                                    "customer_id": "" if customer_id is None else customer_id,
                                    "digest": self.digest(matched) if code else "", "attempts": 0})
            pipe.expire(key, self.ttl_s)
            await pipe.execute()
        return code

    async def attempt(self, conversation_id: str) -> PendingCheck | None:
        """Count one answer against the outstanding check; None if there is none (or it is used up).

        Read and counted in one script: read, then counted, a check that expired in between was made
        again as a hash of only ``attempts``, without expiry, and every later answer failed reading it."""
        found = await self._attempt(keys=[_key("code", conversation_id)], args=[self.max_attempts])
        if not found:
            return None
        attempts, fields = int(found[0]), found[1]
        stored = {as_text(k): as_text(v) for k, v in zip(fields[::2], fields[1::2])}
        if attempts > self.max_attempts:
            return None
        customer_id = int(stored["customer_id"]) if stored.get("customer_id") else None
        return PendingCheck(stored.get("subject", ""), customer_id, stored["digest"], attempts, self.max_attempts,
                            stored.get("asked", ""))

    def _failures_key(self, subject: str) -> str:
        return _key("failed", _hidden(subject))

    async def password_paused(self, subject: str) -> bool:
        """True once the subject's wrong answers of the last 24 hours have used up the password's budget."""
        count = await rate_window.count(self.redis, self._failures_key(subject), window_s=DAY_S, now=self.clock())
        return count >= self.password_failures_per_day

    async def take_password_try(self, subject: str) -> str | None:
        """Reserve one of the 24 hours' wrong-password answers before the password is checked; returns
        the reservation (for ``give_back_password_try``), None: paused.

        Counted first, atomically: checked first and counted after, guesses sent together all passed
        the check (found by a probe: ten at once, all tried against the password).
        """
        return await rate_window.take(self.redis, self._failures_key(subject), limit=self.password_failures_per_day,
                                      window_s=DAY_S, now=self.clock())

    async def give_back_password_try(self, subject: str, reservation: str) -> None:
        """The answer was right: it was no failure."""
        await rate_window.give_back(self.redis, self._failures_key(subject), reservation)

    def code_matches(self, check: PendingCheck, answer: str) -> bool:
        return (check.customer_id is not None and bool(check.code_digest)
                and hmac.compare_digest(self.digest(answer), check.code_digest))

    async def close(self, conversation_id: str) -> None:
        await self.redis.delete(_key("code", conversation_id))
