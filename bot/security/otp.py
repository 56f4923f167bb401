"""One-time codes for verification, kept in Redis so every action-server process agrees.

One outstanding check per conversation (``kefu:verify:code:<conversation id>``): whom it is for
(a customer, or a number that is no customer's: that check gets the same replies and never
passes, so the replies do not tell which numbers are customers'), an HMAC of the code (none when
only the service password is accepted), and the number of attempts. It expires after ``otp_ttl_s``; ``otp_max_attempts`` wrong answers void it. Codes
asked for are counted in hourly windows per conversation, per number as typed (a phone or an
account number, whether or not it is a customer's) and for the whole installation; a conversation
gets fewer than a number, so no one conversation can use up the codes of a number. Those three
decide the reply, so it is the same for a customer's number and any other. The codes actually sent
are also counted per registered phone (against SMS bombing through a phone and its account number
together); that budget is never told: a code it holds back is not sent, and the reply is the one a
number that is no customer's gets. Otherwise the refusal ("no more codes now") after an account
number's codes told that a typed phone was that account's (found by a tester).

A check ends after a few wrong answers, but a new one can always be asked for, and the service
password does not change between checks. So wrong answers are also counted per customer, across
every conversation, in daily windows: past ``password_failures_per_day`` the password is not
checked until the next day (the code, sent to the owner's phone, still works). Without this
budget a script could try every six-digit password. Like the codes, they are counted twice: per
number as typed, which decides the reply ("password paused"), and per customer, which is never
told (a password it holds back is answered as a wrong one), so that guesses through an account
number do not show when its phone is typed.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as redis
from bot.redis_text import as_text

logger = logging.getLogger(__name__)

PREFIX = "kefu:verify"
CODE_DIGITS = 6
WINDOW_S = 3600
DAY_S = 24 * 3600

# One step, so a counter never outlives its window without an expiry (a process dying between an
# INCR and its EXPIRE left one counting for ever) and parallel requests each see their own count.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _key(*parts: str) -> str:
    return ":".join((PREFIX,) + parts)


def _hidden(value: str) -> str:
    """Phone numbers never appear in Redis key names."""
    return hashlib.sha256(value.encode()).hexdigest()[:24]


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
                 per_hour: int = 500) -> None:
        self.redis = client
        self.pepper = pepper.encode()
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self.per_number_per_hour = per_number_per_hour
        self.per_sender_per_hour = per_sender_per_hour
        self.password_failures_per_day = password_failures_per_day
        self.per_hour = per_hour

    @classmethod
    def from_settings(cls, client: redis.Redis, settings, pepper: str) -> "CodeLedger":
        return cls(client, pepper, ttl_s=settings.otp_ttl_s, max_attempts=settings.otp_max_attempts,
                   per_number_per_hour=settings.otp_per_number_per_hour,
                   per_sender_per_hour=settings.otp_per_sender_per_hour,
                   password_failures_per_day=settings.password_failures_per_day,
                   per_hour=settings.otp_per_hour)

    def digest(self, answer: str) -> str:
        return hmac.new(self.pepper, answer.encode(), hashlib.sha256).hexdigest()

    async def pending_for(self, conversation_id: str) -> str | None:
        """What the outstanding check was asked for (see ``open``), without counting an attempt."""
        value = await self.redis.hget(_key("code", conversation_id), "asked")
        return as_text(value) if value is not None else None

    async def may_send(self, conversation_id: str, number: str) -> bool:
        """Count one code asked for ``number`` (as typed: a phone or an account number) towards the
        conversation's hourly budget, then the number's, then the installation's; False when one
        is used up. The same for every number: what it says must not tell whose number it is.

        The conversation's budget is the smaller one, and a code it may not have is not counted for
        the number: whoever knows a number cannot use up its codes from one conversation, and the
        owner can still get one. The installation's budget (``KEFU_OTP_PER_HOUR``) stops many
        conversations with many numbers (REST sender ids cost nothing) from sending without end; it
        counts a number that is no customer's like a customer's, so the reply past it tells nothing.
        """
        window = str(int(time.time() // WINDOW_S))
        if not await self._within(_key("sent", "sender", _hidden(conversation_id), window), self.per_sender_per_hour):
            return False
        if not await self._within(_key("sent", "typed", _hidden(number), window), self.per_number_per_hour):
            return False
        count = await self._count(_key("sent", "all", window), WINDOW_S * 2)
        if count > self.per_hour:
            log = logger.warning if count == self.per_hour + 1 else logger.info  # loud once an hour
            log("security.verification.hourly_budget_spent conversation=%s limit=%d", conversation_id, self.per_hour)
            return False
        return True

    async def phone_may_receive(self, phone: str) -> bool:
        """Count one code for the registered ``phone``; False past its hourly budget. Never shown to
        the one asking (see the module's docstring): it only keeps a phone from being flooded when
        its number and its account number are both typed."""
        return await self._within(_key("sent", "number", _hidden(phone), str(int(time.time() // WINDOW_S))),
                                  self.per_number_per_hour)

    async def _within(self, key: str, limit: int) -> bool:
        return await self._count(key, WINDOW_S * 2) <= limit

    async def _count(self, key: str, expiry_s: int) -> int:
        return int(await self.redis.eval(_COUNT, 1, key, expiry_s))

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
        """Count one answer against the outstanding check; None if there is none (or it is used up)."""
        key = _key("code", conversation_id)
        stored = {as_text(k): as_text(v) for k, v in (await self.redis.hgetall(key)).items()}
        if not stored:
            return None
        attempts = await self.redis.hincrby(key, "attempts", 1)
        if attempts > self.max_attempts:
            await self.redis.delete(key)
            return None
        if attempts >= self.max_attempts:
            await self.redis.delete(key)  # the last attempt: whatever its outcome, the check is over
        customer_id = int(stored["customer_id"]) if stored.get("customer_id") else None
        return PendingCheck(stored.get("subject", ""), customer_id, stored["digest"], attempts, self.max_attempts,
                            stored.get("asked", ""))

    def _failures_key(self, subject: str) -> str:
        return _key("failed", _hidden(subject), str(int(time.time() // DAY_S)))

    async def password_paused(self, subject: str) -> bool:
        """True once the subject's wrong answers of the day have used up the password's budget."""
        count = await self.redis.get(self._failures_key(subject))
        return count is not None and int(as_text(count)) >= self.password_failures_per_day

    async def take_password_try(self, subject: str) -> bool:
        """Reserve one of the day's wrong-password answers before the password is checked; False: paused.

        Counted first, atomically: checked first and counted after, guesses sent together all passed
        the check (found by a probe: ten at once, all tried against the password).
        """
        return await self._count(self._failures_key(subject), DAY_S * 2) <= self.password_failures_per_day

    async def give_back_password_try(self, subject: str) -> None:
        """The answer was right: it was no failure."""
        await self.redis.decr(self._failures_key(subject))

    def code_matches(self, check: PendingCheck, answer: str) -> bool:
        return (check.customer_id is not None and bool(check.code_digest)
                and hmac.compare_digest(self.digest(answer), check.code_digest))

    async def close(self, conversation_id: str) -> None:
        await self.redis.delete(_key("code", conversation_id))
