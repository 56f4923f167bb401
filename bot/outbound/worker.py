"""Drain the outbox: deliver pending messages to customers through the adapter for their channel.

A failure worth retrying (the channel unreachable, a server error, 408, 429: ``NotifyError.transient``)
is tried again after 30 s, 1 min, 2 min, … (``bot/outbound/outbox_rows.py``; at most every minute for a
conversation's messages, which hold its later ones) within ``GIVE_UP_AFTER`` of being queued (or
resent), the last try a minute before, and never after the message's own ``send_before`` (a
verification code past its use). Any other failure — the gateway refused this message — gives it up at
once, as does running out of that time: status ``failed``, ``notify.outbox.given_up`` in the log,
``kefu_outbox_failed`` for Prometheus and ``kefu outbox`` for a person. A message that lapsed (a code)
is ``dropped`` instead, with ``notify.outbox.lapsed``: nobody can send it any more, so nobody is asked
to. Before this a single timeout lost a customer's text for good, where nobody looked. A voice message's
self-help reply given up either way first puts the message in front of a person (:func:`give_up`): the caller
got no answer. One whose message a person has by the time it would go is dropped unsent (:func:`reply_kept`).

A channel that does not answer at all is not asked again in the same pass: with a gateway that times
out, one pass would otherwise spend 10 s on every message, and the ticket events' delivery, which
runs after it on the same thread, would wait that long.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from typing import Callable

from bot.db.repository import DatabaseError, Repository
from bot.db.schema import outbox
from bot.notify import FOR_CUSTOMER, FOR_VOICE_MESSAGE, Notifier, NotifyError, Unreachable, held_back
from bot.outbound.outbox_rows import (BOOKKEEPING, GAVE_UP, claim, due_by, first_of, move, pending_pages,
                                      release_stale, retry_delay, stamp)
from bot.outbound.voice_reply import why_not_sent, with_a_person

logger = logging.getLogger(__name__)

ORDERED = ("rest",)  # a conversation's messages (bot/handoff/rest_delivery.py): one waits for the one before
STILL_TRYING = ("pending", "sending")  # holds its conversation's later messages; counted as the backlog
GIVE_UP_AFTER = dt.timedelta(hours=1)  # a text an hour late confuses more than it helps: a person decides
# The last retry comes this long before the limit: a pass can start late by its own length (up to 100
# sends, then the ticket events), and one past the limit gives the message up untried.
LAST_TRY_BEFORE = dt.timedelta(seconds=60)
ORDERED_RETRY_AT_MOST = dt.timedelta(seconds=60)  # a held conversation waits no longer once the receiver is back
GIVEN_UP = ("failed", "dropped")
HAND_ON_AGAIN_AFTER = retry_delay(1)  # a voice message not handed on yet (the database, or not routed yet)


def to_customers():
    """The outbox rows that are messages to customers: all but ticket events (bot/dispatch/delivery.py)."""
    from bot.dispatch.events import CHANNEL as TICKET_EVENTS

    return outbox.c.channel != TICKET_EVENTS


def out_of_time(payload: dict, moment: dt.datetime) -> bool:
    """Whether ``moment`` is past the message's ``send_before`` (naive UTC), if it has one."""
    before = payload.get("send_before")
    return bool(before) and moment >= dt.datetime.fromisoformat(before)


def hour_starts(row: dict, payload: dict, now: dt.datetime) -> dt.datetime:
    """When the message's hour to be delivered began: when it was queued (``queued_at``; for a row queued
    by an earlier version, its age by the database's clock), or when a person resent it. From the queue,
    not the first failure: with a gateway down, texts waiting behind the one being retried were never
    tried, never timed out, and went out hours late when it came back."""
    queued = payload.get("queued_at")
    start = dt.datetime.fromisoformat(queued) if queued else now - dt.timedelta(seconds=float(row.get("waited_s") or 0))
    resent = payload.get("resent_at")
    return max(start, dt.datetime.fromisoformat(resent)) if resent else start


def after_failure(payload: dict, exc: NotifyError, now: dt.datetime, started: dt.datetime,
                  ordered: bool = False) -> tuple[dict, str]:
    """The row's payload after a failed attempt at ``now`` (its hour began at ``started``; ``ordered``: it
    holds its conversation's later messages), and its status: ``pending`` (tried again at ``retry_at``),
    ``failed`` (given up, for a person) or ``dropped`` (it lapsed while failing)."""
    attempts = int(payload.get("attempts") or 0) + 1
    failing_since = payload.get("failing_since") or stamp(now)
    limit = started + GIVE_UP_AFTER
    lapses = bool(payload.get("send_before")) and dt.datetime.fromisoformat(payload["send_before"]) < limit
    if lapses:
        limit = dt.datetime.fromisoformat(payload["send_before"])
    delay = retry_delay(attempts)
    if ordered:
        delay = min(delay, ORDERED_RETRY_AT_MOST)
    retry_at = min(now + delay, limit - LAST_TRY_BEFORE)
    status = "pending" if exc.transient and retry_at > now else "dropped" if exc.transient and lapses else "failed"
    again = {**payload, "attempts": attempts, "failing_since": failing_since, "last_error": str(exc),
             "retry_at": stamp(retry_at) if status == "pending" else None}
    if status != "pending":
        again["given_up_at" if status == "failed" else "dropped_at"] = stamp(now)
    return again, status


async def deliver_one(repository: Repository, adapter: Notifier, row: dict, now: dt.datetime,
                      counts: dict[str, int]) -> NotifyError | None:
    """Claim, send and record one pending message; ``counts`` gets its result, and a failure is returned."""
    payload = await asyncio.to_thread(claim, repository, row["id"], now)
    if payload is None:
        return None  # another worker has it, or it waits for a later retry
    if payload.get(GAVE_UP):  # given up before, its voice message not handed on then: never sent again, only that
        status = await give_up(repository, row, payload, payload[GAVE_UP], now)
        if status != "pending":
            logger.info("notify.outbox.handed_on id=%s channel=%s kind=%s status=%s", row["id"], row["channel"],
                        row["kind"], status)
        return None
    kept = await reply_kept(repository, row, payload, now) if payload.get(FOR_VOICE_MESSAGE) else None
    if kept is not None:
        counts["with_a_person" if kept == "dropped" else "retry"] += 1
        return None
    if out_of_time(payload, now):
        lapsed = {**payload, "last_error": "lapsed before it could be sent", "dropped_at": stamp(now)}
        await give_up(repository, row, lapsed, "dropped", now)
        logger.warning("notify.outbox.lapsed id=%s channel=%s kind=%s attempts=%s", row["id"], row["channel"],
                       row["kind"], payload.get("attempts") or 0)
        counts["lapsed"] += 1
        return None
    started = hour_starts(row, payload, now)
    if now >= started + GIVE_UP_AFTER:  # never tried in its hour (its channel was down, or no worker ran)
        late = {**payload, "last_error": payload.get("last_error") or "not delivered within an hour of being queued",
                "given_up_at": stamp(now), "retry_at": None}
        await give_up(repository, row, late, "failed", now)
        logger.error("notify.outbox.given_up id=%s channel=%s kind=%s attempts=%s error=%s "
                     "(kefu outbox resend|drop %s)", row["id"], row["channel"], row["kind"],
                     payload.get("attempts") or 0, late["last_error"], row["id"])
        counts["expired"] += 1  # no send: not counted against the pass's limit
        return None
    message = {k: v for k, v in payload.items() if k not in BOOKKEEPING}
    message.setdefault("kind", row["kind"])
    message.setdefault("client_ref", f"outbox-{row['id']}")
    try:
        # Checked again now: the customer may have opted out since it was queued (a TD a second later, or a
        # ticket notice waiting for a retry), and what they stopped must not go out however it waited.
        reason = await asyncio.to_thread(held_back, repository, row["channel"], row["recipient"], row["kind"],
                                         payload.get(FOR_CUSTOMER), payload.get("ticket_id"))
        if reason:
            await reply_withheld(repository, payload, reason)
            await asyncio.to_thread(withhold, repository, row, payload, reason, now)
            counts["withheld"] += 1
            return None
        await adapter.send(row["recipient"], message)
    except NotifyError as exc:
        again, status = after_failure(payload, exc, now, started, row["channel"] in ORDERED)
        status = await give_up(repository, row, again, status, now)
        if status == "dropped":
            logger.warning("notify.outbox.lapsed id=%s channel=%s kind=%s attempts=%d error=%s", row["id"],
                           row["channel"], row["kind"], again["attempts"], exc)
            counts["lapsed"] += 1
        elif status == "failed":
            logger.error("notify.outbox.given_up id=%s channel=%s kind=%s attempts=%d error=%s "
                         "(kefu outbox resend|drop %s)", row["id"], row["channel"], row["kind"],
                         again["attempts"], exc, row["id"])
            counts["failed"] += 1
        else:
            logger.warning("notify.outbox.retry id=%s channel=%s kind=%s attempts=%d error=%s",
                           row["id"], row["channel"], row["kind"], again["attempts"], exc)
            counts["retry"] += 1
        return exc
    await asyncio.to_thread(move, repository, row["id"], was="sending", status="sent", payload=payload)
    counts["sent"] += 1
    # WeChat's report that it did not arrive may have come before this record, finding nothing sent to give up
    # (found in review: the notice stayed sent); it waited for the record, and is applied now.
    reported = await adapter.reported_not_delivered(message["client_ref"])
    if reported:
        from bot.outbound.undelivered import reported_not_delivered  # it builds on this module

        await asyncio.to_thread(reported_not_delivered, repository, message["client_ref"], reported)
    return None


async def reply_kept(repository: Repository, row: dict, payload: dict, now: dt.datetime) -> str | None:
    """The status a claimed voice message's self-help reply is kept in instead of going: ``dropped``, for good, when
    its message is with a person now (:func:`bot.outbound.voice_reply.with_a_person`, the check a person's resend
    asks); ``pending``, asked again later, when the message cannot be read. None: it may go."""
    try:
        message = await asyncio.to_thread(with_a_person, repository, payload)
    except DatabaseError as exc:
        waiting = {**payload, "retry_at": stamp(now + HAND_ON_AGAIN_AFTER)}
        await asyncio.to_thread(move, repository, row["id"], was="sending", status="pending", payload=waiting)
        logger.warning("notify.outbox.voice_message_unread id=%s voice_message=%s error=%s", row["id"],
                       payload[FOR_VOICE_MESSAGE], exc)
        return "pending"
    if message is None:
        return None
    dropped = {**payload, "last_error": why_not_sent(message), "dropped_at": stamp(now), "retry_at": None}
    await asyncio.to_thread(move, repository, row["id"], was="sending", status="dropped", payload=dropped)
    logger.info("notify.outbox.with_a_person id=%s channel=%s voice_message=%s ticket=%s", row["id"], row["channel"],
                payload[FOR_VOICE_MESSAGE], message["ticket_id"])
    return "dropped"


async def reply_withheld(repository: Repository, payload: dict, reason: str) -> None:
    """A voice message's self-help reply about to be held back: the message goes to a person first, or the row is
    tried again (:class:`NotifyError`), so the reply is never withheld with nobody handling what the caller said."""
    if payload.get(FOR_VOICE_MESSAGE):
        from voice.voicemail.withheld_reply import hand_on

        await hand_on(repository, payload[FOR_VOICE_MESSAGE], reason, payload.get("entry_id"))


async def give_up(repository: Repository, row: dict, payload: dict, status: str, now: dt.datetime) -> str:
    """Move the claimed ``row`` to ``status`` with ``payload``; the status it took. Given up (``failed``,
    ``dropped``), a voice message's self-help reply first hands the message to a person (found in review: it stayed
    ``selfhelp_sent`` and nobody heard it, the caller never answered), as a reply held back does
    (:func:`reply_withheld`, the same once-only hand-on, reason ``undelivered``). When that cannot be done now (the database, the message not
    routed yet) the row waits ``pending``, ``GAVE_UP`` noted, and a later try hands the message on, never sending it."""
    if status in GIVEN_UP and payload.get(FOR_VOICE_MESSAGE):
        from voice.voicemail.withheld_reply import UNDELIVERED, hand_on

        try:
            await hand_on(repository, payload[FOR_VOICE_MESSAGE], UNDELIVERED, payload.get("entry_id"))
        except NotifyError as exc:
            waiting = {**payload, GAVE_UP: status, "retry_at": stamp(now + HAND_ON_AGAIN_AFTER)}
            await asyncio.to_thread(move, repository, row["id"], was="sending", status="pending", payload=waiting)
            logger.warning("notify.outbox.hand_on_waits id=%s voice_message=%s error=%s", row["id"],
                           payload[FOR_VOICE_MESSAGE], exc)
            return "pending"
    payload = {key: value for key, value in payload.items() if key != GAVE_UP}
    await asyncio.to_thread(move, repository, row["id"], was="sending", status=status, payload=payload)
    return status


def withhold(repository: Repository, row: dict, payload: dict, reason: str, now: dt.datetime) -> None:
    """A claimed row its recipient opted out of (``reason``: ``opt_out``, ``dnd``): ``withheld``, for good — never
    tried again, kept (as a sent row is) for ``kefu outbox`` and the retention's pass."""
    held = {**payload, "withheld": reason, "withheld_at": stamp(now), "retry_at": None,
            "last_error": f"withheld: the recipient's {reason}"}
    move(repository, row["id"], was="sending", status="withheld", payload=held)
    logger.warning("notify.outbox.withheld id=%s channel=%s kind=%s reason=%s attempts=%s", row["id"], row["channel"],
                   row["kind"], reason, payload.get("attempts") or 0)


async def deliver_pending(repository: Repository, adapters: dict[str, Notifier], limit: int = 100,
                          now: dt.datetime | None = None) -> dict[str, int]:
    """One pass over the messages of the channels in ``adapters``, oldest first; returns counts by result
    (``waiting``: behind its conversation's earlier message, or its channel did not answer earlier in
    this pass — rows not due again are not read; ``expired``: given up unsent, its hour over; ``withheld``: its
    recipient opted out since it was queued, never sent; ``with_a_person``: a voice message's self-help reply
    dropped unsent, a person having the message; ``limit`` counts sends).
    ``now`` fixes the clock (tests); else each message is judged when it is sent, however long the pass.

    Several workers (one per ``kefu run`` machine) may drain at once: each message is claimed
    before it is sent, so one of them delivers it.
    """
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else dt.datetime.utcnow
    counts = {"sent": 0, "retry": 0, "failed": 0, "expired": 0, "lapsed": 0, "waiting": 0, "withheld": 0,
              "with_a_person": 0}
    if not adapters:
        return counts
    ours = to_customers() & outbox.c.channel.in_(sorted(adapters))
    for row in await asyncio.to_thread(release_stale, repository, ours, clock()):
        logger.warning("notify.outbox.released id=%s channel=%s kind=%s", row["id"], row["channel"], row["kind"])
    silent: set[str] = set()  # channels that did not answer in this pass
    in_order = to_customers() & outbox.c.channel.in_(ORDERED)
    # Rows waiting for a later retry stay in the database: with all of them read and parsed on every
    # pass, 50 000 waiting cost 4.8 s a pass on PostgreSQL (bench/RESULTS.md, "Outbox pass").
    async for page in pending_pages(repository, ours & due_by(clock())):
        ordered = [row["recipient"] for row in page if row["channel"] in ORDERED]
        first = await asyncio.to_thread(first_of, repository, in_order, STILL_TRYING, ordered)
        for row in page:
            if counts["sent"] + counts["retry"] + counts["failed"] >= limit:
                return counts  # the rest on the next pass
            behind = row["channel"] in ORDERED and first.get(row["recipient"]) != row["id"]
            if behind or row["channel"] in silent:
                counts["waiting"] += 1
                continue
            failure = await deliver_one(repository, adapters[row["channel"]], row, clock(), counts)
            if isinstance(failure, Unreachable):
                silent.add(row["channel"])
                if silent >= set(adapters):
                    return counts  # nothing answers: the rest on the next pass
            if row["channel"] in ORDERED:  # its next message may follow in this pass
                fresh = await asyncio.to_thread(first_of, repository, in_order, STILL_TRYING, [row["recipient"]])
                first[row["recipient"]] = fresh.get(row["recipient"])
    return counts


def adapters_from_settings(settings, redis_url: str | None = None) -> dict[str, Notifier]:
    """The delivery adapters this deployment has settings for (none: messages stay pending). WeChat's only
    with ``redis_url`` (its access token is cached there; "": ``REDIS_URL``): a sender, not a check."""
    from bot.outbound.rest_callback import RestCallback
    from bot.outbound.sms import SmsGateway
    from bot.outbound.wechat_template import wechat_sender

    adapters: dict[str, Notifier] = {}
    if settings.sms_gateway_url and settings.sms_gateway_key:
        adapters["sms"] = SmsGateway.from_settings(settings)
    if settings.rest_callback_url:  # without its secret: NotifyError, for `kefu run` to report
        adapters["rest"] = RestCallback.from_settings(settings)
    if redis_url is not None and (wechat := wechat_sender(settings, redis_url)) is not None:
        adapters["wechat"] = wechat  # found in review: WeChat's rows waited for ever, no worker sent them
    return adapters


def warn_if_no_sms_gateway(settings) -> None:
    """`kefu run` says so when no SMS gateway is set up: verification codes, ticket notices and texted
    reminders then wait in the outbox as `pending`, and customers never get them — found by an
    integrator, whose Kefu started silently. Not for the demo customers (KEFU_DEMO_DATA), whose numbers
    are fictitious; never a reason to refuse to start (chat, phone and the desk work without it)."""
    if (settings.sms_gateway_url and settings.sms_gateway_key) or settings.demo_data_wanted:
        return
    missing = "KEFU_SMS_GATEWAY_KEY" if settings.sms_gateway_url else "KEFU_SMS_GATEWAY_URL"
    print(f"kefu: warning: no SMS gateway ({missing} is not set): verification codes, ticket notices and "
          "reminders by SMS stay pending in the outbox and reach nobody (README, Connecting your systems)",
          file=sys.stderr, flush=True)


def deliver_forever(settings, stop, interval_s: float = 5.0, redis_url: str = "") -> None:
    """Thread body for `kefu run`: drain the outbox every few seconds until ``stop`` is set, in one event
    loop (WeChat's sender keeps a connection and a Redis client, which belong to the loop they were made in)."""
    asyncio.run(_deliver_until(settings, stop, interval_s, redis_url))


async def _deliver_until(settings, stop, interval_s: float, redis_url: str) -> None:
    from bot.dispatch.delivery import deliver_ticket_events, ticket_events_from_settings

    adapters = adapters_from_settings(settings, redis_url)
    ticket_events = ticket_events_from_settings(settings)
    if not adapters:  # said whether or not ticket events go out: customers' texts wait either way
        logger.info("notify.outbox.idle reason=no_gateway_configured")
    if not adapters and ticket_events is None:
        return
    repository = Repository(settings.database_url)
    try:
        while not await asyncio.to_thread(stop.wait, interval_s):
            try:
                if adapters:
                    await deliver_pending(repository, adapters)
                if ticket_events is not None:
                    await deliver_ticket_events(repository, ticket_events)
            except Exception:  # noqa: BLE001 - keep delivering on the next pass
                logger.exception("notify.outbox.pass_failed")
    finally:
        if "wechat" in adapters:
            await adapters["wechat"].api.close()
