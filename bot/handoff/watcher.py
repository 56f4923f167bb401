"""The waiting room: keeps customers company while they wait for an agent.

Runs inside the Rasa server (started by the agent desk channel). The bot is paused for a
waiting conversation, so this loop reads the customer's new messages from the tracker and
answers them: the waiting buttons (self-help, callback, leave a message, cancel — payloads
mapped in content/handoff.yml ``waiting_commands``), a left message becomes a ticket for a
person, and anything else is answered with the refreshed place in line; every
``status_refresh_s`` the wait is pushed again, and after ``max_wait_s`` the request times out
and the bot takes the conversation back. A Redis lock per tick keeps several Rasa workers from answering twice.
"""
from __future__ import annotations

import asyncio
import logging

from bot.handoff import keys
from bot.handoff.conversations import RasaConversations
from bot.handoff.estimate import wait_minutes
from bot.handoff.queue import HandoffQueue
from bot.handoff.tickets import leave_message_ticket

logger = logging.getLogger(__name__)


class WaitingRoom:
    def __init__(self, queue: HandoffQueue, conversations: RasaConversations) -> None:
        self.queue = queue
        self.conversations = conversations

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad tick must not stop the waiting room
                logger.exception("handoff.watcher.tick_failed")
            await asyncio.sleep(self.queue.rules.watch_interval_s)

    async def tick(self) -> None:
        rules = self.queue.rules
        lease_ms = int(max(1.0, rules.watch_interval_s) * 2000)
        if not await self.queue.redis.set(keys.watcher_lock(), "1", nx=True, px=lease_ms):
            return
        try:
            for skill in rules.skills:
                for conversation_id in await self.queue.waiting(skill):
                    await self.visit(conversation_id)
        finally:
            await self.queue.redis.delete(keys.watcher_lock())

    async def visit(self, conversation_id: str) -> None:
        entry = await self.queue.entry(conversation_id)
        if entry is None or entry["state"] != "waiting":
            return
        max_wait_s = self.queue.rules.max_wait_s
        if max_wait_s and self.queue.clock() - entry["enqueued_at"] > max_wait_s:
            await self.queue.abandon(conversation_id, "timeout")
            await self.conversations.resume(conversation_id, "utter_queue_timeout")
            return
        key = keys.conversation(conversation_id)
        events = await self.conversations.events(conversation_id)
        seen_raw = await self.queue.redis.hget(key, "seen_events")
        if seen_raw is None:
            seen = max((i for i, e in enumerate(events) if (e.get("timestamp") or 0) <= entry["enqueued_at"]),
                       default=-1)
        else:
            seen = int(seen_raw)
        fresh = [e for e in events[seen + 1:] if e.get("event") == "user"]
        await self.queue.redis.hset(key, "seen_events", len(events) - 1)
        for event in fresh:
            if not await self.answer(conversation_id, entry, event):
                return  # the customer left the queue
        await self.refresh_if_due(conversation_id, entry, answered=bool(fresh))

    async def answer(self, conversation_id: str, entry: dict, event: dict) -> bool:
        """Handle one customer message; False once the customer has left the queue."""
        rules = self.queue.rules
        text = (event.get("text") or "").strip()
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        key = keys.conversation(conversation_id)
        command = rules.waiting_commands.get(text)
        if command is None and await self.queue.redis.hget(key, "mode") in (b"message", "message") and text:
            voice = (event.get("metadata") or {}).get("wechat_msg_type") == "voice"
            ticket_id = await leave_message_ticket(entry["request"], text, voice=voice)
            await self.queue.abandon(conversation_id, "message")
            await self.conversations.resume(conversation_id, "utter_queue_message_saved", ticket_id=ticket_id)
            return False
        if command is None and intent == "leave_message":
            command = "callback"
        if command == "cancel":
            await self.queue.abandon(conversation_id, "customer_cancelled")
            await self.conversations.resume(conversation_id, "utter_queue_cancelled")
            return False
        if command == "callback":
            await self.queue.abandon(conversation_id, "callback")
            await self.conversations.resume_with_intent(conversation_id, "leave_message")
            return False
        if command == "message":
            await self.queue.redis.hset(key, "mode", "message")
            await self.conversations.utter(conversation_id, "utter_queue_message_prompt")
            return True
        if command == "selfhelp":
            await self.send_selfhelp(conversation_id, entry)
            return True
        await self.say_position(conversation_id)
        return True

    async def send_selfhelp(self, conversation_id: str, entry: dict) -> None:
        from actions.selfhelp import selfhelp_message  # the bot's own rendering of an entry
        from bot.selfhelp import load_catalogue
        from bot.settings import get_settings

        slots = (entry["request"].context or {}).get("slots") or {}
        catalogue = load_catalogue(get_settings().selfhelp_catalogue)
        sent = set(slots.get("selfhelp_sent") or [])
        sent |= set(await self.pushed_selfhelp(conversation_id))
        found = catalogue.best_match(slots.get("fault_type") or "", "", slots.get("fault_code"), exclude=sent) \
            if slots.get("fault_type") else None
        if found is None:
            await self.conversations.utter(conversation_id, "utter_queue_no_selfhelp")
            return
        await self.queue.redis.rpush(keys.conversation(conversation_id) + ":selfhelp", found.id)
        message = selfhelp_message(found)
        await self.conversations.utter(conversation_id, message.pop("response"), **message)

    async def pushed_selfhelp(self, conversation_id: str) -> list[str]:
        raw = await self.queue.redis.lrange(keys.conversation(conversation_id) + ":selfhelp", 0, -1)
        return [v.decode() if isinstance(v, bytes) else v for v in raw]

    async def say_position(self, conversation_id: str) -> None:
        position = await self.queue.position(conversation_id)
        if position is None or position.position == 0:
            return
        await self.conversations.utter(conversation_id, "utter_queue_update", position=position.position,
                                       wait_minutes=wait_minutes(position.estimated_wait_s))
        await self.queue.redis.hset(keys.conversation(conversation_id), "status_at", self.queue.clock())

    async def refresh_if_due(self, conversation_id: str, entry: dict, answered: bool) -> None:
        key = keys.conversation(conversation_id)
        if answered:
            return
        last = await self.queue.redis.hget(key, "status_at")
        since = float(last) if last is not None else entry["enqueued_at"]
        if self.queue.clock() - since >= self.queue.rules.status_refresh_s:
            await self.say_position(conversation_id)
