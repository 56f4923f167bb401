"""The waiting room: keeps customers company, and keeps helping, while they wait for an agent.

Runs inside the Rasa server (started by the agent desk channel). The bot is paused for a
waiting conversation, so this loop reads the customer's new messages from the tracker (Rasa
still parses them) and answers them:

* 自助服务 (``#handoff:selfhelp``) sends the next catalogue entry for the customer's fault, or asks
  what the problem is; a fault described while waiting gets self-help at once; 解决了 after it
  leaves the queue (counted as resolved by self-help while waiting), 没解决 keeps the place; never an
  entry a proven customer said did not help in an earlier contact (bot/outcomes/selfhelp_tried.py);
* 取消等待 (``cancel``) leaves the queue and the assistant takes the conversation back; 取消 typed alone asks
  first; "多久能排到我" is told the place and the wait (the words: ``content/waiting_room.yml``);
* 留言 / 预约回电 ask for a number unless the customer is verified, then create a work item with
  the number, the promised time and what the customer said;
* queue notices go out only when the place or the estimate changes; with no agent available for
  the skill the customer is told so and offered a callback or a message;
* a web chat whose page is gone, or a REST conversation silent, for longer than the grace
  period in ``content/waiting_room.yml`` leaves the queue (abandoned); the web chat is told so
  when its page comes back, and offered to queue again or book a callback; a call whose process died
  leaves it as soon as it is known (``call_lost``, bot.ivr.held_calls);
* a hand-back to the assistant that the end of a handoff (a close, a cancel...) owed but did not finish
  (Redis not answering, the worker killed) is finished (``bot.handoff.handback``), so no customer stays
  paused with nobody;
* conversations held by an agent who was removed, or whose desk has stopped checking in, go back to
  the queue first (``bot.handoff.departures``, every few seconds), so this tick tells them their place;
* after a gap in its passes (Redis not answering, every server down), desks get time to check in again
  before their agents count as absent (:meth:`WaitingRoom.after_a_gap`);
* a claim or a transfer cut off after its queue script is finished (``bot.handoff.joined``,
  ``bot.handoff.transfer_owed``).

Per-conversation state (mode, number given, last notice, how many events were stored at the last
visit) is in the queue entry's Redis hash; a Redis lock per tick keeps several Rasa workers from
answering twice; a thread renews it while a tick runs (``bot.renewing_thread``), so a slow visit does not let
another worker visit the same customers meanwhile. Every waiting conversation is visited every ``watch_interval_s``, but its
transcript is read only when the tracker store holds more events than at the last visit: at the
peak most customers in line say nothing new in a given second, and re-reading every transcript
every second was the Rasa server's largest cost after the model itself (bench/RESULTS.md).
Places in line come from one read of each skill's queue per tick (``bot.handoff.line``), not
one read of everyone ahead per customer.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid

from sqlalchemy.exc import SQLAlchemyError

from bot.db.errors import database_error
from bot.db.repository import DatabaseError
from bot.handoff import keys
from bot.handoff.accounts import AccountStore
from bot.handoff.agents import PHONE_CHANNEL, is_callback
from bot.handoff.callback_requeued import tell_requeued as tell_callback_requeued
from bot.handoff.conversations import RasaConversations
from bot.handoff.departures import Departures
from bot.handoff.desk_view import pushed_selfhelp_key, remember_pushed_selfhelp, remember_selfhelp_answer
from bot.handoff.estimate import wait_minutes
from bot.handoff.handback import agent_left_marker, finish_owed, handed_back, note_words
from bot.handoff.joined import finish_owed as finish_owed_joins
from bot.handoff.transfer_owed import finish_owed as finish_owed_transfers
from bot.handoff.notes_owed import NOTE_GRACE_S
from bot.handoff.notes_owed import write_owed as write_owed_notes
from bot.handoff.transfer_owed import waiting_from
from bot.handoff.masking import mask_phone
from bot.handoff.presence import PAGE_SILENT_S, customer_gone, customer_last_seen
from bot.handoff.line import read_line
from bot.handoff.number_step import asks_why, declines
from bot.handoff.queue import TRANSFER_FIELD, HandoffQueue, HandoffRequest, QueuePosition
from bot.handoff.service_hours import agents_back_at
from bot.handoff.tickets import customer_id_of, repository
from bot.handoff.waiting_settings import WaitingRoomSettings, load_waiting_room
from bot.labels import labels, names_any
from bot.handoff.waiting_tickets import customer_said, known_phone, promised_time, waiting_room_ticket
from bot.redis_lock import EXTEND_IF_HOLDER, RELEASE_IF_HOLDER
from bot.renewing_thread import RenewingThread, client_like
from bot.outcomes.events import customer_key
from bot.outcomes.selfhelp_tried import failed_before as failed_selfhelp
from bot.redis_text import as_text_or_none

logger = logging.getLogger(__name__)

FAULT_INTENTS = ("fault_tv", "fault_broadband", "fault_wifi", "fault_remote")
# What a typed phone number is made of, and a run of digits long enough to be one (mistyped or not).
NUMBER_CHARS = re.compile(r"[\d\s+\-()（）]")
NUMBER_RUN = re.compile(r"\d[\d\s\-]{5,}\d")
# Around a word typed alone ("取消。", "多久？"): spaces and punctuation, which do not make it another message.
ALONE_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$")
# A gap between two passes longer than this (a pass takes well under a second: bench/RESULTS.md) means the
# waiting room could not run: Redis not answering, every server down. Desks could not check in either.
PASS_GAP_S = 10.0
# A tick renews its lease before each visit (taking the lock again if it ran out and nobody took it: a
# slow database read of the departures must not stop the visits), and frees the lock only while it is
# its own: one whose lock another worker took stops (that worker visits), and does not free the other's
# lock (a third would then answer the same customers beside it): found in review, messages answered twice.
_RENEW_IF_HOLDER = """
local holder = redis.call('get', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# A notice state is written only while the record is still as it was read when the notice was chosen: waiting, its
# notice state, its last leaving (TRANSFER_FIELD) and its wait (``waiting_since``) unchanged. Found in review: another
# agent taking the customer and leaving them within the round trip between the read and the write wrote "your agent
# left" (``with_agent``, under his leaving's mark), and the write put the place over it: never said. Not written,
# nothing is said: the next pass reads the record again. Its notice state already the new one (this write sent once
# more after a connection broke before its answer, ``bot.redis_reconnect``) counts as written, so the notice is still
# said. KEYS[1] the conversation hash; ARGV: the new state, now, then the three fields as read ('' for none: none is
# ever empty). 1 when written.
_NOTICE_IF_UNCHANGED = """
local now = redis.call('HMGET', KEYS[1], 'state', 'notified', '""" + TRANSFER_FIELD + """', 'waiting_since')
if now[1] ~= 'waiting' or (now[3] or '') ~= ARGV[4] or (now[4] or '') ~= ARGV[5] then return 0 end
if now[2] == ARGV[1] then return 1 end
if (now[2] or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'notified', ARGV[1], 'status_at', ARGV[2])
return 1
"""
# What ``_NOTICE_IF_UNCHANGED`` compares, in its order.
NOTICE_READ = ["notified", TRANSFER_FIELD, "waiting_since"]
# How long one visit (or the departures check) may keep the lock by the renewing thread alone. A visit waits
# on the conversation's lock, the database, the model: at the peak that outlasts the lease (2 s), and another
# worker then visited the same customers while this one was still answering them (found in review). One
# stuck longer than this (a hung database) lets the next worker carry on with everyone else.
VISIT_HOLD_S = 15.0


class WaitingRoom:
    def __init__(self, queue: HandoffQueue, conversations: RasaConversations,
                 settings: WaitingRoomSettings | None = None, accounts: AccountStore | None = None) -> None:
        self.queue = queue
        self.conversations = conversations
        self._settings = settings
        self.accounts = accounts
        self.departures = Departures(queue, accounts)
        self._renew = queue.redis.register_script(_RENEW_IF_HOLDER)
        self._release = queue.redis.register_script(RELEASE_IF_HOLDER)
        self._held: tuple[str, int, float] | None = None  # token, lease ms, kept until (monotonic) during a tick
        self._held_lock = threading.Lock()  # the loop sets it, the renewing thread reads it
        self._renewer = RenewingThread("waiting room lease", lambda: client_like(queue.redis), self._renew_held,
                                       self._every_s, "handoff.watcher.renew_failed")
        self.notes_writer: asyncio.Task | None = None  # the ticket notes owed being written (bot.handoff.notes_owed)

    @property
    def settings(self) -> WaitingRoomSettings:
        return self._settings or load_waiting_room()

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad tick must not stop the waiting room
                    logger.exception("handoff.watcher.tick_failed")
                await asyncio.sleep(self.queue.rules.watch_interval_s)
        finally:
            if self.notes_writer is not None:  # stopped with the waiting room: its notes stay owed
                self.notes_writer.cancel()

    async def tick(self) -> None:
        rules = self.queue.rules
        lease_ms = int(max(1.0, rules.watch_interval_s) * 2000)
        token = uuid.uuid4().hex
        if not await self.queue.redis.set(keys.watcher_lock(), token, nx=True, px=lease_ms):
            return
        self._hold(token, lease_ms)
        self._renewer.start()
        try:
            await self.after_a_gap()
            try:
                await self.departures.check()  # conversations back in the queue: told their place by this visit
            except Exception:  # noqa: BLE001 - the database down must not stop the customers' waiting room
                logger.exception("handoff.watcher.departures_failed")
            for skill in rules.skills:
                line = await read_line(self.queue, skill)
                for conversation_id, call, gone in line.order:
                    if not await self._renew(keys=[keys.watcher_lock()], args=[token, lease_ms]):
                        logger.warning("handoff.watcher.lease_lost")
                        return
                    self._hold(token, lease_ms)
                    tell_place = await self.attend(conversation_id)
                    still_waiting = await self.queue.redis.zscore(keys.queue(skill), conversation_id) is not None
                    if tell_place is not None and still_waiting:
                        await self.notify_if_changed(conversation_id, line.place(call), line.available)
                    line.passed(call, gone, still_waiting)
            if await self._renew(keys=[keys.watcher_lock()], args=[token, lease_ms]):
                await finish_owed(self.queue, self.conversations)  # handoffs that ended short of the hand-back
                await finish_owed_joins(self.queue, self.conversations)  # claims cut off before "an agent joined"
                await finish_owed_transfers(self.queue, self.conversations)  # transfers cut off after their script
                await self.write_owed_notes()  # ticket notes the database did not take
        finally:
            self._renewer.stop()
            with self._held_lock:
                self._held = None
            await self._release(keys=[keys.watcher_lock()], args=[token])

    def _hold(self, token: str, lease_ms: int) -> None:
        """Let the renewing thread keep the lock for ``VISIT_HOLD_S`` from now (a visit, or the check before)."""
        with self._held_lock:
            self._held = (token, lease_ms, time.monotonic() + VISIT_HOLD_S)

    def _every_s(self) -> float:
        with self._held_lock:
            lease_ms = self._held[1] if self._held else 2000
        return lease_ms / 3000

    def _renew_held(self, client) -> None:
        """The renewing thread's round: the tick's lease again, unless its visit is past ``VISIT_HOLD_S``."""
        with self._held_lock:
            held = self._held
        if held is None or time.monotonic() > held[2]:
            return
        token, lease_ms, _ = held
        if not client.register_script(EXTEND_IF_HOLDER)(keys=[keys.watcher_lock()], args=[token, lease_ms]):
            with self._held_lock:
                still_held = self._held is not None  # else the tick released it meanwhile
            if still_held:
                logger.warning("handoff.watcher.lease_not_renewed")  # ran out or taken: the loop's renewal decides

    async def write_owed_notes(self) -> None:
        """The ticket notes owed and due written in a task of its own, one at a time: a database not answering keeps
        a try for seconds, which must not hold up the customers' waiting room."""
        if self.notes_writer is not None and not self.notes_writer.done():
            return
        if await self.queue.redis.zcount(keys.ticket_notes_owed(), "-inf", repr(self.queue.clock() - NOTE_GRACE_S)):
            self.notes_writer = asyncio.create_task(self._write_owed_notes())

    async def _write_owed_notes(self) -> None:
        try:
            await write_owed_notes(self.queue)
        except Exception:  # noqa: BLE001 - tried again on the next pass
            logger.exception("handoff.watcher.notes_owed_failed")

    async def after_a_gap(self) -> None:
        """Notes when this pass began; after a gap of more than ``PASS_GAP_S`` since the last (Redis not
        answering, every server down), desks get ``presence_timeout_s`` to check in again before their agents
        count as absent (``AgentRoster.excuse``): they could not check in during it either."""
        now = self.queue.clock()
        last = as_text_or_none(await self.queue.redis.getset(keys.watcher_pass(), repr(now)))
        if last is not None and now - float(last) > PASS_GAP_S:
            await self.queue.roster.excuse(float(last), now + self.queue.rules.presence_timeout_s)
            logger.warning("handoff.watcher.after_a_gap gap_s=%.0f", now - float(last))

    # -- one waiting conversation -------------------------------------------------
    async def visit(self, conversation_id: str) -> None:
        """One conversation on its own, its place read now (a tick reads everyone's from its line)."""
        entry = await self.attend(conversation_id)
        position = await self.queue.position(conversation_id) if entry is not None else None
        if position is not None and position.position:
            await self.notify_if_changed(conversation_id, position,
                                         await self.queue.roster.capacity_for(entry["skill"]) > 0)

    async def attend(self, conversation_id: str) -> dict | None:
        """Answer what the customer said since the last visit, or see them out; their queue entry while
        they are still in line and should hear their place (``notify_if_changed``), else None."""
        entry = await self.queue.entry(conversation_id)
        if entry is None or entry["state"] != "waiting":
            return None
        if is_callback(entry["request"].context):
            # A callback booked for later (bot.contacts.offer): an agent rings the customer, who is
            # not waiting in the chat. Queue notices there, or the chat's closing, are not theirs; that the
            # agent who was ringing them left, and the callback stands, is (bot.handoff.callback_requeued).
            if entry["notified"] == WITH_AGENT:
                await tell_callback_requeued(self.queue, self.conversations, conversation_id, entry)
            return None
        max_wait_s = self.queue.rules.max_wait_s
        # Since it last joined the queue: a transfer, or a hand-back from an agent who left, keeps the
        # place in time (``enqueued_at``), but the time with the agent was no wait (found in review: a
        # customer handed on after a long conversation was timed out by the next tick).
        if max_wait_s and self.queue.clock() - entry["waiting_since"] > max_wait_s:
            if await self.queue.stop_waiting(conversation_id, "timeout"):
                await self.conversations.resume(conversation_id, "utter_queue_timeout",
                                                **left_queue_marker(entry["channel"]))
            return None
        key = keys.conversation(conversation_id)
        stored = await self.conversations.stored_count(conversation_id)
        seen_raw, seen_count, last_user_at = await self.queue.redis.hmget(
            key, ["seen_events", "seen_count", "last_user_at"])
        if stored is not None and seen_count is not None and int(seen_count) == stored:
            # Nothing said since the last visit: no transcript to read, only the clock and the queue moved.
            return None if await self.left_silently(conversation_id, entry, float(last_user_at or 0)) else entry
        events = await self.conversations.events(conversation_id)
        if seen_raw is None:
            seen = max((i for i, e in enumerate(events) if (e.get("timestamp") or 0) <= entry["waiting_since"]),
                       default=-1)
        else:
            seen = int(seen_raw)
        # The request's own turn ("转人工") may be saved after the first visit: only later messages are new.
        # After a transfer only what was said since: a button pressed while with the agent is no command now.
        fresh = [e for e in events[seen + 1:]
                 if e.get("event") == "user" and (e.get("timestamp") or 0) > entry["waiting_since"]]
        last_user_at = max((float(e.get("timestamp") or 0) for e in events if e.get("event") == "user"), default=0.0)
        seen = {"seen_events": len(events) - 1, "last_user_at": last_user_at}
        if stored is not None:  # counted before the events were read: a message saved meanwhile is read next time
            seen["seen_count"] = stored
        await self.queue.redis.hset(key, mapping=seen)
        if not fresh and await self.left_silently(conversation_id, entry, last_user_at):
            return None
        for event in fresh:
            if not await self.answer(conversation_id, entry, event):
                return None  # the customer left the queue
        return entry

    async def left_silently(self, conversation_id: str, entry: dict, last_user_at: float) -> bool:
        """A closed web chat or a silent REST client past its grace period leaves the queue, and so does a
        call whose process stopped vouching for it."""
        if entry["channel"] == PHONE_CHANNEL:
            return await self.call_lost(conversation_id, entry)
        grace = self.settings.grace_for(entry["channel"])
        if grace is None:
            return False
        signs = [entry["waiting_since"], last_user_at]
        if entry["channel"] == "webchat":
            seen = await customer_last_seen(self.queue.redis, conversation_id)
            signs.append(seen or 0.0)
        # After a gap in the passes, as for the agents' desks: no page could say it was open, nor a REST
        # client be heard, while Redis was down (found in review: every waiting customer was taken for gone).
        if max(signs) > await self.queue.roster.seen_since(grace):
            return False
        reason = "customer_gone" if entry["channel"] == "webchat" else "customer_silent"
        if not await self.queue.stop_waiting(conversation_id, reason):
            return True  # an agent took it meanwhile: not this loop's any more
        if entry["channel"] == "webchat":
            # Said into the conversation, so the page gets it when it comes back (the replay after
            # seen_at): a phone that was in a pocket learns it left the queue and can rejoin, rather than
            # seeing its old place (mobile tester, finding 2). Its marker greys out the waiting room's buttons.
            await self.conversations.resume(conversation_id, "utter_queue_left_away", **left_queue_marker("webchat"))
        else:
            await self.conversations.resume(conversation_id, None)
        logger.info("handoff.watcher.left_silently conversation=%s reason=%s", conversation_id, reason)
        return True

    async def call_lost(self, conversation_id: str, entry: dict) -> bool:
        """A call whose process died (no word from it for ``PAGE_SILENT_S``: bot.ivr.held_calls) leaves the
        queue as abandoned (``call_lost``), its wait ending at that process's last word: the line went with
        the process, and no agent could reach the caller. After a gap in the passes, as for a web chat, only
        once its process had time to vouch for it again (a Redis that did not answer let no renewal in)."""
        absence = await customer_gone(self.queue.redis, entry, self.queue.clock())
        if absence is None or absence.seen_at > await self.queue.roster.seen_since(PAGE_SILENT_S):
            return False
        if await self.queue.stop_waiting(conversation_id, "call_lost", left_at=absence.seen_at):
            await self.conversations.resume(conversation_id, None)
            logger.warning("handoff.watcher.call_lost conversation=%s", conversation_id)
        return True

    async def answer(self, conversation_id: str, entry: dict, event: dict) -> bool:
        """Handle one customer message; False once the customer has left the queue."""
        text = (event.get("text") or "").strip()
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        mode = as_text_or_none(await self.queue.redis.hget(keys.conversation(conversation_id), "mode")) or ""
        command = self.queue.rules.waiting_commands.get(text) or self.typed_command(text, intent, mode)
        if mode == CONFIRM_CANCEL:  # 您是要取消人工排队吗？ answered (是的, 不用) or passed over: asked once
            await self.set_mode(conversation_id, "")
            mode = ""
            command = command or {"affirm": "cancel", "deny": "status"}.get(intent or "")
        if command == "cancel":
            if await self.queue.stop_waiting(conversation_id, "customer_cancelled"):
                await self.conversations.resume(conversation_id, "utter_queue_cancelled")
            return False  # left, or an agent took the conversation meanwhile: theirs now
        if command == "confirm_cancel":  # 取消 alone: the step at hand ends, and leaving the queue is asked
            await self.set_mode(conversation_id, CONFIRM_CANCEL)
            await self.conversations.utter(conversation_id, "utter_queue_confirm_cancel")
            return True
        if command == "status":  # 继续排队, "我还要等多久": a number asked for is not any more
            if mode.startswith("ask_number:") and await self.end_number_step(conversation_id):
                await self.conversations.utter(conversation_id, "utter_queue_message_not_left")
            await self.tell_place(conversation_id, entry)
            return True
        if command is None and mode.startswith("ask_number:"):
            return await self.take_number(conversation_id, entry, text, mode.split(":", 1)[1])
        if command is None and mode == "message" and text:
            return await self.take_message(conversation_id, entry, event, text)
        if command is None and intent == "leave_message":  # "给我回个电话" typed, not inside a message
            # "我想留言" is the message (found in the verification trial: it booked a callback with no message)
            command = "message" if names_any(text, labels().get("message_request_words")) else "callback"
        if command in ("callback", "message"):
            return await self.callback_or_message(conversation_id, entry, command)
        if command == "selfhelp":
            await self.send_selfhelp(conversation_id, entry)
            return True
        if mode == "selfhelp_asked" and (intent == "affirm" or text in self.settings.resolved_words):
            return await self.resolved_by_selfhelp(conversation_id, entry)
        if mode == "selfhelp_asked" and (intent == "deny" or text in self.settings.unresolved_words):
            await self.set_mode(conversation_id, "")
            await self.selfhelp_not_worked(conversation_id, entry)
            await self.conversations.utter(conversation_id, "utter_queue_selfhelp_not_worked")
            return True
        if intent in FAULT_INTENTS:
            await self.queue.redis.hset(keys.conversation(conversation_id), "fault_type", intent)
            await self.send_selfhelp(conversation_id, entry, text=text)
            return True
        await self.conversations.utter(conversation_id, "utter_queue_noted")
        return True

    def typed_command(self, text: str, intent: str | None, mode: str) -> str | None:
        """The waiting room's own words typed, as good as its buttons: "算了不等了" leaves (cancel), 取消 alone
        asks first (confirm_cancel), "多久能排到我" asks the place (status) — the NLU reads the last two as a
        service change and a ticket question (found in a review: both were only noted). While a number or a
        message is asked for, only a word alone (a message may say "不等了" or "还要等多久"): found driving the
        chat, 不等了 was refused as a wrong number, each time, and the spent buttons left no way out. A number asked
        for a callback (no message to come) is asked the place inside a message too: found in a live trial, "我还要
        等多久" was refused as a wrong number."""
        settings = self.settings
        said = text.casefold()  # "Cancel", "How long": mixed-language customers type the editors' words too
        alone = ALONE_EDGES.sub("", said)
        asked = mode.startswith("ask_number:") or mode == "message"
        message_asked = mode in ("message", "ask_number:message")  # a message may come: it may say 还要等多久

        def typed(words: tuple[str, ...], within: bool) -> bool:
            words = tuple(word.casefold() for word in words)
            return alone in words or within and any(word in said for word in words)

        if typed(settings.leave_words, not asked) or not asked and intent == "goodbye":
            return "cancel"
        if typed(settings.confirm_leave_words, False) or typed(settings.confirm_leave_within, not asked):
            return "confirm_cancel"
        if typed(settings.place_words, not message_asked) and self.number_typed(text) is None:  # "还要等多久啊 我的号码139…": the number
            return "status"
        return None

    async def tell_place(self, conversation_id: str, entry: dict) -> None:
        """The place in line and the wait, asked for: said as the waiting room's notices say them, and
        remembered as told (no notice repeats it) unless the notice owed first is that their agent left, or the record
        changed since it was read (:func:`remember_notice`: another agent took them and left meanwhile)."""
        position = await self.queue.position(conversation_id)
        if position is None or not position.position:
            return
        available = await self.queue.roster.capacity_for(entry["skill"]) > 0
        minutes = wait_minutes(position.estimated_wait_s)
        opens_at = None if available else agents_back_at(self.queue.clock())
        if available:
            await self.conversations.utter(conversation_id, "utter_queue_update", position=position.position,
                                           wait_minutes=minutes)
        else:
            await self.tell_nobody_online(conversation_id, opens_at)
        await remember_notice(self.queue, conversation_id,
                              notice_state(position.position, minutes, available, opens_at))

    async def tell_nobody_online(self, conversation_id: str, opens_at: str | None) -> None:
        """Nobody online to serve them: said so, with when the agents are back outside the hotline's hours."""
        if opens_at is None:
            await self.conversations.utter(conversation_id, "utter_queue_nobody_available")
        else:
            await self.conversations.utter(conversation_id, "utter_queue_after_hours", opens_at=opens_at)

    async def set_mode(self, conversation_id: str, mode: str) -> None:
        await self.queue.redis.hset(keys.conversation(conversation_id), "mode", mode)

    # -- self-help while waiting ---------------------------------------------------
    async def send_selfhelp(self, conversation_id: str, entry: dict, text: str = "") -> None:
        from actions.selfhelp import selfhelp_message  # the bot's own rendering of an entry
        from bot.selfhelp import load_catalogue
        from bot.settings import get_settings

        slots = (entry["request"].context or {}).get("slots") or {}
        fault_type = as_text_or_none(await self.queue.redis.hget(keys.conversation(conversation_id), "fault_type")) \
            or slots.get("fault_type")
        if not fault_type:
            await self.set_mode(conversation_id, "")
            await self.conversations.utter(conversation_id, "utter_queue_selfhelp_ask_problem")
            return
        catalogue = load_catalogue(get_settings().selfhelp_catalogue)
        sent = set(slots.get("selfhelp_sent") or []) | set(await self.pushed_selfhelp(conversation_id))
        failed = await failed_before(entry["request"])
        # The fault as the conversation knows it, as the assistant's triage matches it: the customer's own words
        # (those before the handoff too: a button press says nothing of the symptom) and the fault code.
        words = " ".join(customer_said(entry["request"]) + [text])
        done = catalogue.said_done(fault_type, words)  # "重起了也不行": not the restart again
        found = catalogue.best_match(fault_type, words, slots.get("fault_code"), exclude=sent | failed | done)
        if found is None:
            await self.conversations.utter(conversation_id, "utter_queue_no_selfhelp")
            return
        await remember_pushed_selfhelp(self.queue.redis, conversation_id, found.id)
        message = selfhelp_message(found)
        await self.conversations.utter(conversation_id, message.pop("response"), **message)
        await self.conversations.utter(conversation_id, "utter_ask_selfhelp_worked_handed_over")  # no 转人工: queued
        await self.set_mode(conversation_id, "selfhelp_asked")

    async def pushed_selfhelp(self, conversation_id: str) -> list[str]:
        raw = await self.queue.redis.lrange(pushed_selfhelp_key(conversation_id), 0, -1)
        return [as_text_or_none(v) for v in raw]

    async def selfhelp_not_worked(self, conversation_id: str, entry: dict) -> None:
        """没解决 to the entry sent last: shown to the agent (the packet), and recorded like the assistant's
        own (``selfhelp_failed``), so a proven customer is not sent it again on any channel."""
        pushed = await self.pushed_selfhelp(conversation_id)
        if not pushed:
            return
        await remember_selfhelp_answer(self.queue.redis, conversation_id, pushed[-1], "failed")
        customer_id = customer_id_of(entry["request"])
        await self.record_outcome(conversation_id, entry, "selfhelp_failed", {
            "selfhelp_id": pushed[-1],
            "customer": customer_key(customer_id=customer_id) if customer_id is not None else ""})

    async def resolved_by_selfhelp(self, conversation_id: str, entry: dict) -> bool:
        if not await self.queue.stop_waiting(conversation_id, "resolved_by_selfhelp"):
            return False  # an agent took the conversation meanwhile
        # Outcome call site for the outcome recorder (issue #15): resolved by self-help while waiting.
        await self.record_outcome(conversation_id, entry, "resolved_by_selfhelp_while_waiting",
                                  {"selfhelp_ids": await self.pushed_selfhelp(conversation_id)})
        await self.conversations.resume(conversation_id, "utter_queue_selfhelp_worked")
        return False

    # -- callbacks and messages ------------------------------------------------------
    async def verified_phone(self, conversation_id: str, entry: dict) -> str | None:
        return await known_phone(self.queue.redis, conversation_id, entry["request"])

    async def callback_or_message(self, conversation_id: str, entry: dict, command: str) -> bool:
        phone = await self.verified_phone(conversation_id, entry)
        if phone is None:
            await self.set_mode(conversation_id, f"ask_number:{command}")
            await self.conversations.utter(conversation_id, "utter_queue_ask_number")
            return True
        if command == "message":
            await self.set_mode(conversation_id, "message")
            await self.conversations.utter(conversation_id, "utter_queue_message_prompt")
            return True
        return await self.book(conversation_id, entry, "callback", phone, "")

    async def take_number(self, conversation_id: str, entry: dict, text: str, then: str) -> bool:
        """The number asked for (``then``: the callback or the message it is for). Asked what it is for, the customer
        hears it and the step stays open; declined or back to waiting instead (bot.handoff.number_step), the step ends,
        nothing is booked and the place is kept: found in a live trial, both were refused as a wrong number."""
        key = keys.conversation(conversation_id)
        number = self.number_typed(text)
        given = number is not None  # "为什么要号码？13912345678" gives it
        if not given and asks_why(text):
            await self.conversations.utter(conversation_id, "utter_queue_number_why")
            return True
        refused = self.settings.number_refused_words if then == "callback" else ()  # a message may say 不想给
        back = self.settings.back_to_waiting_words + refused
        if not given and declines(text, back, message_may_come=then == "message"):
            dropped = await self.end_number_step(conversation_id)
            await self.conversations.utter(conversation_id, "utter_queue_number_declined")
            if dropped:
                await self.conversations.utter(conversation_id, "utter_queue_message_not_left")
            return True
        if not given:
            if then == "message" and text and not is_number_attempt(text):
                # The message came before the number (found by testers: it was refused as a bad
                # number, then asked for again, even when it only mentioned "20块"): keep it and ask
                # for the number once more.
                await self.queue.redis.hset(key, "left_message", text)
                await self.conversations.utter(conversation_id, "utter_queue_message_kept_ask_number")
                return True
            await self.conversations.utter(conversation_id, "utter_queue_number_invalid")
            return True
        await self.queue.redis.hset(key, "callback_phone", number)
        kept = as_text_or_none(await self.queue.redis.hget(key, "left_message"))
        if then == "message" and kept:
            return await self.book(conversation_id, entry, "callback", number, kept)
        return await self.callback_or_message(conversation_id, entry, then)

    def number_typed(self, text: str) -> str | None:
        """The mobile number ``text`` gives, its digits read together ("139 1234 5678"), or None."""
        number = "".join(ch for ch in text if ch.isdigit())
        return number if self.settings.phone_pattern.match(number) else None

    async def end_number_step(self, conversation_id: str) -> bool:
        """The number no longer asked for, and a message typed before it dropped (not filed later with another step's
        number): True when there was one, which the customer is told was not left."""
        key = keys.conversation(conversation_id)
        kept = as_text_or_none(await self.queue.redis.hget(key, "left_message"))
        await self.set_mode(conversation_id, "")
        await self.queue.redis.hdel(key, "left_message")
        return bool(kept)

    async def take_message(self, conversation_id: str, entry: dict, event: dict, text: str) -> bool:
        phone = await self.verified_phone(conversation_id, entry)
        if phone is None:
            await self.set_mode(conversation_id, "ask_number:message")
            await self.conversations.utter(conversation_id, "utter_queue_ask_number")
            return True
        voice = (event.get("metadata") or {}).get("wechat_msg_type") == "voice"
        return await self.book(conversation_id, entry, "voice_message" if voice else "callback", phone, text)

    async def book(self, conversation_id: str, entry: dict, kind: str, phone: str, message: str) -> bool:
        """The callback or message as a work item, and the customer out of the queue. The database not
        answering: the customer is told it did not go through and to send it again (their number and the
        step they were at are kept), and stays in line. Found in a fault review: the error ended the
        waiting room's whole pass, the press went unanswered for good, and those behind waited a pass."""
        try:
            ticket_id, due = await waiting_room_ticket(entry["request"], kind=kind, phone=phone, message=message,
                                                       within_hours=self.settings.callback_within_hours,
                                                       now=self.queue.clock())
        except (SQLAlchemyError, DatabaseError) as exc:
            logger.warning("handoff.watcher.booking_failed conversation=%s kind=%s error=%s", conversation_id, kind,
                           database_error(exc))
            await self.conversations.utter(conversation_id, "utter_service_unavailable")
            return True
        reason = "message" if message else "callback"
        response = "utter_queue_message_booked" if message else "utter_queue_callback_booked"
        told = {"ticket_id": ticket_id, "callback_by": promised_time(due, self.queue.clock()),
                "phone_masked": mask_phone(phone)}
        await note_words(self.queue, conversation_id, reason, response, **told)  # said even if cut off
        if not await self.queue.stop_waiting(conversation_id, reason):
            return False  # an agent took the conversation meanwhile; the work item stays for a person
        await self.conversations.resume(conversation_id, response, **told)
        # Crossed off at once, as the desk's close does: the callback is offered to the agents once its hand-back is
        # done (bot.contacts.offer), not 30 s later when the look at the hand-backs owed would cross it off.
        await handed_back(self.queue, conversation_id)
        return False

    # -- queue notices -----------------------------------------------------------------
    async def notify_if_changed(self, conversation_id: str, position: QueuePosition, available: bool) -> None:
        """Tell the customer their place only when it (or the estimate, or who is there) changed."""
        key = keys.conversation(conversation_id)
        minutes = wait_minutes(position.estimated_wait_s)
        opens_at = None if available else agents_back_at(self.queue.clock())
        state = notice_state(position.position, minutes, available, opens_at)
        as_read = await self.queue.redis.hmget(key, NOTICE_READ + ["channel"])
        last, transfer, _, channel = map(as_text_or_none, as_read)
        if last == state:
            return
        if last == WITH_AGENT:  # back in line because their agent left (bot.handoff.departures): told so first
            # As a hand-over: a proof the agent asked for ends with them (found in review: the six digits the customer
            # then typed for the next agent were checked as the departed agent's proof). Only while they still wait
            # from the transfer that put them back, once under its mark: found in review, an agent who took them
            # as this pass began heard the customer told the agent before them had left, and their place.
            # Said before the notice state moves on from with_agent, as a callback's (bot.handoff.callback_requeued):
            # found in review, a process stopped between that write and the words left it never said, the next pass
            # finding the place already told. Stopped after the words, the next pass says the place only (the mark).
            if not await self.tell_agent_left(conversation_id, json.loads(transfer) if transfer else {}, channel):
                return
        if not await remember_notice_if_unchanged(self.queue, conversation_id, state, as_read[:len(NOTICE_READ)]):
            return  # taken, left, moved meanwhile: the next pass tells what is true then
        if not available:
            await self.tell_nobody_online(conversation_id, opens_at)
        elif last in (NOBODY, AFTER_HOURS):
            await self.conversations.utter(conversation_id, "utter_queue_agents_back",
                                           position=position.position, wait_minutes=minutes)
        elif last is not None:
            await self.conversations.utter(conversation_id, "utter_queue_update", position=position.position,
                                           wait_minutes=minutes)
        # last is None: the first visit; the request itself has just told the customer their place.

    async def tell_agent_left(self, conversation_id: str, requeued: dict, channel: str | None) -> bool:
        """"Your agent left", once under the mark of the transfer that put the customer back, and only while they
        wait from it (read under the conversation's lock). False when they no longer do: taken by another agent
        meanwhile, who must hear neither that nor a place."""
        still = waiting_from(self.queue, conversation_id, {"mark": requeued.get("mark")})
        said = await self.conversations.hand_over(conversation_id, "utter_queue_agent_left",
                                                  once=f"agent_left:{requeued.get('mark')}", still_owed=still,
                                                  **agent_left_marker(channel or ""))
        return said is not None or await still()

    async def record_outcome(self, conversation_id: str, entry: dict, kind: str, data: dict) -> None:
        from bot.outcomes import record

        await record(conversation_id, kind, channel=entry["channel"], skill=entry["skill"], **data)


async def failed_before(request: HandoffRequest) -> set[str]:
    """The entries the customer said did not help, on any channel within the ledger's repeat window, when
    the request is a proven customer's (a verified chat, a caller ID the trunk vouched for: only then does
    it carry ``customer_id``); none for anyone else, or when the record cannot be read."""
    customer_id = customer_id_of(request)
    return set() if customer_id is None else await failed_selfhelp(repository().engine, customer_id)


def left_queue_marker(channel: str) -> dict:
    """Goes with the message that tells a customer their request left the queue without them asking
    (removed by a supervisor, timed out): the web chat greys out the waiting room's buttons shown
    earlier (取消排队, 留言...), which no longer do anything. Found by a tester: they stayed live until
    the page was reloaded. Other channels keep no buttons."""
    return {"custom": {"kind": "queue_left"}} if channel == "webchat" else {}


def is_number_attempt(text: str) -> bool:
    """Whether a reply to "your number?" is a (maybe mistyped) number rather than words that mention one."""
    return not NUMBER_CHARS.sub("", text) or NUMBER_RUN.search(text) is not None


CONFIRM_CANCEL = "confirm_cancel"  # the mode of "您是要取消人工排队吗？" asked: a yes leaves, a no keeps the place
NOBODY = "nobody"  # the notice state of "nobody is online to serve this queue"
AFTER_HOURS = "nobody:after_hours"  # ... said outside the agents' hours, with when they are back
WITH_AGENT = "with_agent"  # and of "just put back in line by their agent's leaving" (bot.handoff.departures)


def notice_state(position: int, minutes: int, available: bool, opens_at: str | None = None) -> str:
    """What the customer was last told about their wait; a notice goes out only when this changes. Nobody online
    within the agents' hours and after them are told apart: found in review, a customer told "nobody online" at 20:55
    was never told at 21:00 that the agents had gone for the night."""
    if available:
        return f"{position}:{minutes}"
    return AFTER_HOURS if opens_at else NOBODY


async def remember_notice(queue, conversation_id: str, state: str) -> bool:
    """``state`` remembered as just told to a waiting customer (their place on their request, the phone flow's "nobody
    is online", the desk's transfer, "多久能排到我"), so no notice repeats it: read now, written only while the record
    is still as read (:func:`remember_notice_if_unchanged`), and not over "your agent left" (``WITH_AGENT``), which
    the next pass says first. Found in review: a plain write put the place over the leaving of an agent who took the
    customer and left since they were queued or transferred, never said then. False when not written."""
    as_read = await queue.redis.hmget(keys.conversation(conversation_id), NOTICE_READ)
    if as_text_or_none(as_read[0]) == WITH_AGENT:
        return False
    return await remember_notice_if_unchanged(queue, conversation_id, state, as_read)


async def remember_notice_if_unchanged(queue, conversation_id: str, state: str, as_read: list) -> bool:
    """``state`` remembered as told, only while the record's ``NOTICE_READ`` fields are still ``as_read`` and it
    waits (``_NOTICE_IF_UNCHANGED``); False when not written."""
    written = await queue.redis.register_script(_NOTICE_IF_UNCHANGED)(
        keys=[keys.conversation(conversation_id)],
        args=[state, repr(queue.clock()), *(b"" if value is None else value for value in as_read)])
    return bool(written)
