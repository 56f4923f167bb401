"""The flow engine: one small state machine per call, driven only by Kefu's call events.

``start`` creates the call's state in Redis and enters the flow's first node; ``handle`` loads
the state, applies one event (a key, an utterance, a recording, a timeout) to the current node
and saves it; ``end`` records the call and removes its state. The engine returns commands
(say this, listen like that, record, hold, end) and never touches audio or sockets.

A call has one conversation id, ``ivr:<call id>``: the assistant's tracker, the human queue,
the desk and the call record all use it, and the caller's number travels in the metadata.
While the caller waits for (or talks with) an agent the call's status is ``queued``: what the
caller says goes to the paused conversation for the agent to read, messages from the agent or
the waiting room (:class:`LineMessage`) are spoken, ``*`` stops waiting (not once an agent has
the call), and when the agent closes (:class:`HandedBack`) the flow continues at the waiting
node's ``next`` — the assistant. Once an agent has the call, the notices still queued for the
waiting caller (queue updates, the reminder, the transfer prompt, the assistant's "you are queued")
are dropped (:class:`AgentOnLine`), so the agent is heard at once.
Until an agent takes the call its Listen carries the hotline's hold audio, its timer reads the
flow's ``hold.reminder``, and the flow's ``hold.keys`` leave the queue for another node (a
callback booked from the queue entry, a voice message, a text sent before the caller leaves it).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timezone

from redis.exceptions import RedisError

from bot.handoff.estimate import QUEUE_NOTICES, wait_minutes
from bot.ivr.agent_route import asks_for_agent
from bot.ivr.bot_turns import spoken_replies
from bot.ivr.call_state import CallState
from bot.ivr.conditions import ConditionContext
from bot.ivr.errors import BotUnavailable, CallStateError, FlowError, HandoffUnavailable
from bot.ivr.events import (AgentOnLine, Beep, CallStart, EndCall, HandedBack, Hold, KeyPress, LineMessage, Listen,
                            NoInput, Recording, Say, StartRecording, Utterance)
from bot.ivr.flow import ALL_SELFHELP, Flow, Node
from bot.ivr.flow_loader import STOP_WAITING_KEY
from bot.ivr.line import conversation_id
from bot.ivr.long_wait import long_wait_words, routed_by_the_wait
from bot.ivr.matching import digits_valid, fill, match_phrases, said_more, spoken_digits
from bot.ivr.services import CallServices
from bot.notify import NotifyError

logger = logging.getLogger(__name__)

# What "the assistant cannot answer this turn" looks like; anything else is a bug and reaches the
# session's last handler (traceback in the log, technical_problem for the caller).
BOT_DOWN_ERRORS = (BotUnavailable, asyncio.TimeoutError, RedisError, ConnectionError)
MAX_STEPS = 64  # nodes entered without waiting for the caller (validation forbids such loops)
_CONFIRM, _RECORDING = "confirm", "recording"
QUEUED = "queued"
HOLD_LISTEN_S = 3600.0  # while queued the caller may speak at any time; silence is no reason to act
HOLD_REMINDER_LABEL = "hold:reminder"
HOLD_LONG_WAIT_LABEL = "hold:long_wait"
# The longest number a caller keys for the assistant (a bank card has 19 digits): keys past it are
# not kept, or one call could grow its state, saved at every key, and the assistant's turn without end.
MAX_KEYED_DIGITS = 32
CLEAR_KEY = "*"  # a number or code being keyed (collect_digits, the assistant's turn): start it again


class FlowEngine:
    def __init__(self, services: CallServices) -> None:
        self.services = services
        self._background: set[asyncio.Task] = set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, call: CallStart) -> list:
        hotline = self.services.hotline.get()
        registry = self.services.registry
        flow_id = call.flow if call.flow and registry.has(call.flow) else hotline.default_flow
        flow = await registry.current(flow_id)
        # The number says who is calling only when the trunk vouched for it (or Kefu dialled it):
        # a softphone can send any From, and the desk would show that customer as the caller. Nor is
        # any ``kefuContact`` it sends proof: only the token of the call Kefu placed to that number.
        if call.contact_token and not await self.services.records.placed_call(call.contact_token, call.caller):
            logger.warning("ivr.call.contact_token_refused call=%s", call.call_id)
            call = dataclasses.replace(call, contact_token="")
        trusted = call.caller_verified or bool(call.contact_token)
        customer = await self.services.records.find_customer(call.caller) if trusted else None
        state = CallState(call_id=call.call_id, caller=call.caller, flow=flow.id, version=flow.version,
                          node=flow.start, started_at=time.time(), carrier_call_id=call.carrier_call_id,
                          customer_id=customer.id if customer else None,
                          vip_tier=customer.vip_tier if customer else 0, caller_verified=call.caller_verified,
                          contact_token=call.contact_token, speech_recognised=call.speech_recognised)
        await self.services.store.create(state)
        # Analytics keys the contact by the number only when it is proven, as above: an unvouched
        # caller ID filed under ``phone:`` would merge a stranger's history with that number's owner.
        await self.services.records.contact_started(f"ivr:{call.call_id}", call.caller if trusted else "",
                                                    state.customer_id, outbound=bool(call.contact_token))
        logger.info("ivr.call.started call=%s flow=%s version=%s known=%s", call.call_id, flow.id,
                    flow.version, customer is not None)
        commands = await self._enter(flow, state, flow.start)
        await self.services.store.save(state)
        return commands

    async def handle(self, call_id: str, event) -> list:
        state = await self.services.store.load(call_id)
        flow = await self.services.registry.version(state.flow, state.version)
        node = flow.node(state.node)
        typed = isinstance(event, KeyPress) and typed_ahead(state, event)
        if isinstance(event, KeyPress) and not typed:  # a key of the next answer: a # from now on is its own end
            state.typed_ahead_until = 0.0
        if typed:
            # The rest of a number just rejected, keyed at the caller's pace: no menu choice, no hold
            # key, no first digit of the next try (found by an accessibility audit: a slow caller's
            # leftover 0 chose "keep waiting" and a 1 on hold booked a callback).
            logger.info("ivr.key.typed_ahead call=%s node=%s", call_id, node.id)
            if event.digit == "#":  # the number's own end: keys after it are the next answer (found on a live
                state.typed_ahead_until = 0.0  # call: a password keyed at once lost its first keys)
            commands = await self._still_listening(flow, state, node)
        elif state.status == QUEUED:
            commands = await self._queued(flow, state, node, event)
        elif isinstance(event, LineMessage):  # e.g. the agent's last words after the handback
            commands = await self._line_message(state, event)
        else:
            commands = await self._dispatch(flow, state, node, event)
        await self.services.store.save(state)
        return commands

    async def end(self, call_id: str, reason: str) -> None:
        """The call is over: its queue entry and live state go, and its end is recorded.

        With Redis not answering, the end is recorded all the same, with what is known here (the reason),
        before the error goes on: the call's keys expire on their own, but a call never recorded as ended
        was lost to the reports (found by CI: a Redis read timing out in the clean-up)."""
        state, read = None, False
        try:
            try:
                state = await self.services.store.load(call_id)
            except CallStateError:  # already gone (expired, or ended by another path): nothing to record
                pass
            read = True
            await self._clear(call_id, state, reason)
        finally:
            if state is not None or not read:
                await self.services.records.event(conversation_id(call_id), "ivr_call_ended", ended_record(state, reason))
        logger.info("ivr.call.ended call=%s reason=%s", call_id, reason)

    async def _clear(self, call_id: str, state: CallState | None, reason: str) -> None:
        if state is not None and state.phase == _CONFIRM:
            # Hung up at "确认留言请按1": the message is kept, as when the confirmation times out (found on a
            # live call: a caller who pressed # as told and hung up lost the message).
            await self._store_message(state, await self.services.store.recording(call_id) or b"", 8000)
        bridged = await self.services.store.bridged(call_id)
        # Whatever queued the call (a transfer node, the assistant) and whatever the agent did:
        # the entry goes and the conversation is the assistant's again, so no agent claims a dead
        # call — unless the carrier bridged the voice to the agent, who closes at the desk. Before
        # the call's state goes: a call no longer live is never still in a queue (found by CI, a
        # check between the two saw the state gone and the entry still waiting).
        try:
            if not bridged:
                await self.services.handoff.leave(conversation_id(call_id),
                                                  "caller_hung_up" if reason in ("caller", "hung_up") else f"call_{reason}")
        finally:
            await self.services.store.end(call_id)

    async def drain(self) -> None:
        """Wait for background work (voice messages being stored)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def current_node(self, state: CallState) -> str:
        return state.node

    # -- entering nodes ----------------------------------------------------------------
    async def _enter(self, flow: Flow, state: CallState, node_id: str, *, first_utterance: str = "") -> list:
        commands: list = []
        for _ in range(MAX_STEPS):
            node = flow.node(node_id)
            state.node = node_id
            state.reset_retries()
            state.bot_turns = 0
            state.buttons, state.agent_button = [], ""
            state.path = (state.path + [node_id])[-200:]
            if state.held_place and node_id not in self._keying_for_the_queue(flow, state):
                state.held_place = {}  # out of the number's nodes: no place to come back to any more
            kind = node.kind
            if kind == "play":
                commands.append(self._say(flow, state, node))
                node_id = node.next
            elif kind == "goto":
                node_id = await self._choose(node, state)
                if asks_for_agent(flow, node, node_id):  # the wait a caller sees starts here (KPIs)
                    await self.services.records.event(conversation_id(state.call_id), "handoff_requested",
                                                      {"reason": "caller_asked", "node": node.id})
            elif kind == "hangup":
                if node.say:
                    commands.append(self._say(flow, state, node))
                state.status = "ended"
                return commands + [EndCall("flow")]
            elif kind == "hold":
                if node.say:
                    commands.append(self._say(flow, state, node))
                return commands + [self._holding(flow, node) if state.status == QUEUED else Hold()]
            elif kind == "notify" and await self._tried_before(state, node):
                # Not the same self-help again: said so, then an agent or a repair (``on_tried``).
                logger.info("ivr.selfhelp.tried_before call=%s node=%s", state.call_id, node.id)
                if node.tried_say:
                    commands.append(Say(fill(node.tried_say, state.vars), prompt_id=flow.prompt_id(node, "tried"),
                                        barge_in=node.barge_in, label=f"{node.id}:tried"))
                node_id = node.on_tried
            elif kind in ("notify", "callback") and self._reply_number(flow, state, node) is None:
                if node.ask_number:  # key a number there; its `next` comes back here
                    node_id = node.ask_number
                    continue
                said = self.services.hotline.get().prompts.get(
                    "unverified_not_sent" if kind == "notify" else "unverified_no_callback", "")
                commands += [Say(said, label=f"{node.id}:unverified")] if said else []
                # Sent or booked nothing: `next` may say it was (care.yml's callback), so not there.
                node_id = node.on_failure or node.next
            elif kind == "notify":
                sent = await self._send_text(state, node, self._reply_number(flow, state, node))
                if not sent and state.held_place and (back := await self._back_in_line(flow, state, "send_failed")):
                    return commands + back
                node_id = node.next if sent or not node.on_failure else node.on_failure
            elif kind == "callback":
                now = self._now()  # one reading of the clock: the booking and the promise agree
                due, promised = self._callback_due(now)
                ticket = await self.services.records.callback_ticket(
                    conversation_id=conversation_id(state.call_id), customer_id=state.customer_id,
                    caller=self._reply_number(flow, state, node),
                    skill=node.skill, priority=node.priority + (1 if state.vip_tier >= 2 else 0),
                    callback_at=self._next_opening(now), callback_by=due)
                state.vars.update(ticket_id=ticket or "", callback_by=promised if ticket else "")
                if not ticket:  # the database refused it: said so, then the flow's way round
                    hotline = self.services.hotline.get()
                    said = hotline.prompts.get("callback_failed", "")
                    commands += [Say(said, label=f"{node.id}:failed")] if said else []
                    if state.held_place and (back := await self._back_in_line(flow, state)):
                        return commands + back
                    if not node.on_failure:  # `next` says it was booked (`kefu validate` asks for on_failure)
                        return commands + [Say(hotline.prompt("technical_problem"), label="technical_problem"),
                                           EndCall("callback_failed")]
                node_id = node.next if ticket else node.on_failure
            elif kind == "answer":
                await self.services.records.contact_answer(conversation_id(state.call_id), state.contact_token,
                                                           node.answer, fill(node.value, state.vars))
                node_id = node.next
            elif kind == "transfer":
                target = await self._transfer(flow, state, node, commands)
                if target is None:
                    return commands + [self._holding(flow, node)]
                node_id = target
            elif kind == "bot":
                return commands + await self._enter_bot(flow, state, node, first_utterance)
            elif kind == "record":
                # Reached, message or not: a caller who hangs up here without one gave up a message
                # (bot/analytics/contacts.py), not "said nothing" (found by the head-of-operations tester).
                await self.services.records.event(conversation_id(state.call_id), "ivr_voicemail_started",
                                                  {"node": node.id})
                return commands + self._record_prompt(flow, state, node)
            else:  # menu, collect_digits
                return commands + [self._say(flow, state, node), self._listen(node)]
        raise FlowError(flow.source, node_id, "next", f"more than {MAX_STEPS} nodes without waiting for the caller")

    async def _choose(self, node: Node, state: CallState) -> str:
        context = self._conditions()
        for case in node.cases:
            if await context.holds(case.when, state):
                routed_by_the_wait(case.when, state)
                return case.target
        return node.target

    @staticmethod
    def _own_line(state: CallState) -> str | None:
        """The caller's number when it may be texted or called back: only if the trunk vouched for it
        (or Kefu dialled it). A claimed caller ID is only a hint (found by a tester: any media stream
        had texts sent to, and callbacks booked for, whatever number it claimed)."""
        return state.caller if state.caller_verified or state.contact_token else None

    async def _tried_before(self, state: CallState, node: Node) -> bool:
        """Whether a notify node's self-help is what this caller already said did not help. Only a proven
        caller (the trunk vouched for the number, or Kefu dialled it) has a history: a claimed caller ID
        is a hint, and whoever claims it gets the usual text and learns nothing."""
        if not node.selfhelp or state.customer_id is None or not (state.caller_verified or state.contact_token):
            return False
        failed = await self.services.records.failed_selfhelp(state.customer_id)
        return bool(failed) if ALL_SELFHELP in node.selfhelp else bool(failed & set(node.selfhelp))

    def _reply_number(self, flow: Flow, state: CallState, node: Node) -> str | None:
        """A notify or callback node's number: the caller's own line, else the one keyed at ``ask_number``."""
        keyed = state.vars.get(flow.node(node.ask_number).store_as) if node.ask_number else None
        return self._own_line(state) or keyed or None

    def _now(self) -> datetime:
        return self.services.clock() if self.services.clock else datetime.now(timezone.utc)

    def _next_opening(self, now: datetime):
        """After hours a callback is for when the agents are back (naive UTC); None while they are in."""
        from bot.contacts.callbacks import next_opening

        return next_opening(self.services.hotline.get().hours, now)

    def _callback_due(self, now: datetime) -> tuple[datetime, str]:
        """By when a callback booked now is promised, and that time as the caller hears it: as the chat and
        the hold keys promise it (``callback_within_hours``, from the next opening when closed), not 尽快."""
        from bot.handoff.waiting_settings import load_waiting_room
        from bot.handoff.waiting_tickets import callback_by, promised_time

        due = callback_by(now.timestamp(), load_waiting_room().callback_within_hours,
                          hours=self.services.hotline.get().hours)
        return due, promised_time(due, now.timestamp())

    def _conditions(self) -> ConditionContext:
        return ConditionContext(self.services.hotline.get().hours, self.services.handoff.estimated_wait,
                                self.services.clock, self.services.handoff.agents_available)

    async def _transfer(self, flow: Flow, state: CallState, node: Node, commands: list) -> str | None:
        priority = node.priority + (node.vip_priority_bonus if state.vip_tier >= 2 else 0)
        if node.on_nobody and not await self.services.handoff.agents_available(node.skill):
            await self.services.records.event(conversation_id(state.call_id), "ivr_nobody_available",
                                              {"skill": node.skill})
            state.told_no_agents = True
            return node.on_nobody  # told so, and offered a callback or a message before any wait
        try:
            ticket = await self.services.handoff.enqueue(
                conversation_id=conversation_id(state.call_id), skill=node.skill, priority=priority,
                customer_id=state.customer_id, phone=self._own_line(state) or "",  # a callback reaches it
                collected={"flow": state.flow, "path": list(state.path), "vars": keyed_values(flow, state.vars)})
        except HandoffUnavailable as exc:
            logger.warning("ivr.transfer.failed call=%s skill=%s error=%s", state.call_id, node.skill, exc)
            return node.on_failure
        if state.told_no_agents:  # the waiting room's first notice would say it again (found on a live call)
            await self.services.handoff.told_no_agents(conversation_id(state.call_id))
        state.vars.update(position=ticket.position, wait_minutes=wait_minutes(ticket.estimated_wait_s))
        state.status = QUEUED
        await self.services.records.event(conversation_id(state.call_id), "ivr_transferred",
                                          {"skill": node.skill, "priority": priority, "position": ticket.position})
        if node.say:  # "transferring you": not played once an agent has the call
            commands.extend(hold_notices([self._say(flow, state, node)]))
        return None

    # -- events --------------------------------------------------------------------------
    async def _dispatch(self, flow: Flow, state: CallState, node: Node, event) -> list:
        kind = node.kind
        if kind == "menu":
            return await self._menu(flow, state, node, event)
        if kind == "collect_digits":
            return await self._digits(flow, state, node, event)
        if kind == "bot":
            return await self._bot(flow, state, node, event)
        if kind == "record":
            return await self._record(flow, state, node, event)
        return []  # holding in a queue, or between nodes: nothing to answer

    async def _menu(self, flow: Flow, state: CallState, node: Node, event) -> list:
        if isinstance(event, NoInput):
            return await self._no_input(flow, state, node)
        options = [o for o in node.options if o.when.empty or await self._conditions().holds(o.when, state)]
        if isinstance(event, KeyPress):
            chosen = next((o for o in options if o.digits == event.digit), None)
            unsure, state.unsure_words = state.unsure_words, ""
            if chosen is not None and unsure and node.free_speech \
                    and said_more(unsure, chosen, self.services.hotline.get().unfinished_starts):
                # The key answers "which one?" after a sentence naming two options: the sentence goes along.
                return await self._enter(flow, state, chosen.target, first_utterance=unsure)
        elif isinstance(event, Utterance):
            matched = match_phrases(event.text, options)
            if len(matched) > 1:
                return await self._which_option(flow, state, node, event.text.strip())
            chosen = matched[0] if matched else None
            if chosen is None and node.free_speech and event.text.strip():
                return await self._enter(flow, state, node.free_speech, first_utterance=event.text.strip())
        else:
            return []
        if chosen is None and isinstance(event, KeyPress):
            # A key is heard for sure: "didn't catch that" is wrong for it (found by a tester). Say the key
            # is not an option, then the menu again; without that prompt, the node's own no-match words.
            said = self._key_not_an_option()
            return await self._no_match(flow, state, node, said, label="not_an_option" if said else "retry")
        if chosen is None:
            return await self._no_match(flow, state, node)
        if isinstance(event, Utterance) and node.free_speech \
                and said_more(event.text, chosen, self.services.hotline.get().unfinished_starts):
            # 您也可以直接说出您的问题: the problem said goes to the assistant the option leads to, rather than
            # be asked for again (found on a live call: 我家电视没信号了 was answered 请说出您遇到的问题).
            return await self._enter(flow, state, chosen.target, first_utterance=event.text.strip())
        return await self._enter(flow, state, chosen.target)

    async def _which_option(self, flow: Flow, state: CallState, node: Node, text: str) -> list:
        """Words of two options, each covering as much of the sentence (我要报停宽带): ask which (content/ivr.yml
        ``prompts.which_option``, then the menu), counted as a try like any answer the menu could not take;
        the sentence is kept for the option the caller then picks."""
        state.unsure_words = text
        said = self.services.hotline.get().prompts.get("which_option", "")
        return await self._no_match(flow, state, node, said, label="which_option" if said else "retry")

    async def _digits(self, flow: Flow, state: CallState, node: Node, event) -> list:
        if isinstance(event, KeyPress):
            if event.digit == node.terminator:
                return await self._check_digits(flow, state, node)
            if event.digit == CLEAR_KEY:  # as on any phone: what was keyed goes, and the question is asked again
                state.digits = ""  # (found in review: it was ignored, and the number keyed again ran on from the old)
                return [self._say(flow, state, node), self._listen(node)]
            if not event.digit.isdigit():
                return await self._still_listening(flow, state, node)
            state.digits += event.digit
            if len(state.digits) >= node.max_length:  # complete: the # the prompt asked for may still come
                return await self._check_digits(flow, state, node, event.at, complete=True)
            return [self._listen(node, collecting=True)]
        if isinstance(event, Utterance):
            state.digits = spoken_digits(event.text)
            return await self._check_digits(flow, state, node)
        if isinstance(event, NoInput):
            if state.digits:  # cut by the pause between two keys: the caller may still be keying
                return await self._check_digits(flow, state, node, event.at)
            return await self._no_input(flow, state, node)
        return []

    async def _check_digits(self, flow: Flow, state: CallState, node: Node, at: float = 0.0,
                            complete: bool = False) -> list:
        """``complete``: the number's last key (``at``) made it as long as it may be, with no # yet."""
        digits, state.digits = state.digits, ""
        if digits_valid(digits, node.min_length, node.max_length, node.pattern, node.checksum):
            state.vars[node.store_as] = digits
            commands = await self._enter(flow, state, node.next)
            # Only the # the prompt asked for is still this number's: a digit after it is the next answer (found
            # in review: a password keyed at once after an account number lost its first keys).
            return self._heard_whole(state, commands, at, end_only=True) if complete else commands
        return await self._rejected(flow, state, node, digits, at)

    async def _rejected(self, flow: Flow, state: CallState, node: Node, digits: str, at: float) -> list:
        """A number that will not do. The caller hears why (too short, or not a valid number) and then,
        whole, the prompt again or where the flow goes after the last try: said without barge-in, so the
        rest of the number still being keyed cannot cut it (found by an accessibility audit: the caller
        never heard that the number was thrown away). When the pause between two keys ended the number, or
        its last key made it as long as it may be (``at``: when), keys in the next moments are its rest
        (:func:`typed_ahead`); after # the caller had finished, and keys are a new try."""
        why = node.too_short_say if len(digits) < node.min_length and node.too_short_say else node.invalid_say
        apology = fill(why, {**state.vars, "count": len(digits)})
        state.no_match += 1
        if state.no_match > node.retry.max_no_match:
            said = [Say(apology, label=f"{node.id}:invalid")] if apology else []
            commands = said + await self._escalate(flow, state, node.retry.on_no_match)
        else:
            commands = self._retry(flow, state, node, apology, True)
        return self._heard_whole(state, commands, at)

    def _heard_whole(self, state: CallState, commands: list, cut_at: float, end_only: bool = False) -> list:
        """The answer to a number: said without barge-in. When the pause between two keys cut the number, or
        its last digit made it as long as it may be (``cut_at``: when), keys in the next
        ``limits.typed_ahead_key_seconds`` are its rest or the # that ends it (:func:`typed_ahead`): found on a
        live call, the # after a full 11-digit number cut the verification question that followed at once.
        ``end_only``: the number was taken whole, so only that # is still its own."""
        guard = self.services.hotline.get().typed_ahead_key_s
        state.typed_ahead_until = cut_at + guard if cut_at and guard else 0.0
        state.typed_ahead_end_only = end_only
        return [dataclasses.replace(c, barge_in=False) if isinstance(c, Say) else c for c in commands]

    async def _still_listening(self, flow: Flow, state: CallState, node: Node) -> list:
        """After an ignored key: the session stopped the node's timer for it, so start it again (found on a
        live call: a * at a number, or a # after the number the assistant asked for, left the caller in
        silence for the rest of the call)."""
        if state.status == QUEUED:
            return [await self._queued_listen(flow, state, node)]
        if node.kind == "record" and state.phase == _CONFIRM:
            return [Listen(node.id, speech=False, keys=True, timeout_s=node.retry.timeout_s)]
        if node.kind in ("menu", "collect_digits") or (node.kind == "bot" and state.status == "active"):
            return [self._listen(node, collecting=bool(state.digits), state=state)]
        return []

    # -- the assistant ---------------------------------------------------------------------
    async def _enter_bot(self, flow: Flow, state: CallState, node: Node, first_utterance: str) -> list:
        if first_utterance:
            return await self._bot_turn(flow, state, node, first_utterance)
        if node.intro:
            commands = [self._say(flow, state, node)] if node.say else []
            return commands + await self._bot_turn(flow, state, node, fill(node.intro, state.vars))
        return [self._bot_prompt(flow, state, node), self._listen(node)]

    def _bot_prompt(self, flow: Flow, state: CallState, node: Node) -> Say:
        """A bot node's own prompt. Only speech answers it: on a line that cannot hear, say so and which keys work."""
        unavailable = self.services.hotline.get().prompts.get("speech_unavailable")
        if not state.speech_recognised and not node.say_keys_only and unavailable:
            return Say(unavailable, label=f"{node.id}:speech_unavailable")
        return self._say(flow, state, node)

    async def _bot(self, flow: Flow, state: CallState, node: Node, event) -> list:
        if isinstance(event, KeyPress):
            if event.digit.isdigit() and (state.digits or state.keying_number):
                # A number being keyed: its "0" is not the node's key for an agent (found by a tester:
                # 138000… went to the queue at the first 0, and the rest of the number was lost).
                state.digits = (state.digits + event.digit)[:MAX_KEYED_DIGITS]
                return [self._listen(node, collecting=True, state=state)]
            if event.digit == CLEAR_KEY and state.digits:
                # As at a collect_digits node: what was keyed goes and the caller keys it again; with nothing keyed
                # * is the node's own key (main.yml: the main menu). Found by the maintainers: a code being keyed
                # went to the main menu with the *, while * at a number the flow asks for clears it.
                state.digits = ""
                cleared = self.services.hotline.get().prompts.get("keyed_cleared", "")
                said = [Say(cleared, label=f"{node.id}:cleared")] if cleared else self._asked_again(flow, state, node)
                return [*said, self._listen(node, state=state)]
            if state.agent_button and event.digit == self.services.hotline.get().agent_button[1]:
                # 转人工请按0 after the assistant's question: its own handoff, which knows the problem told
                return await self._bot_turn(flow, state, node, state.agent_button)
            if event.digit in dict(node.keys):
                return await self._enter(flow, state, dict(node.keys)[event.digit])
            if event.digit.isdigit() and state.buttons and 0 < int(event.digit) <= len(state.buttons):
                return await self._bot_turn(flow, state, node, state.buttons[int(event.digit) - 1])
            if event.digit.isdigit():  # keying a number the assistant asked for
                state.digits = (state.digits + event.digit)[:MAX_KEYED_DIGITS]
                return [self._listen(node, collecting=True, state=state)]
            if event.digit == "#" and state.digits:
                return await self._keyed_for_bot(flow, state, node)
            # # (or a * the node has no use for) with nothing keyed: a number's end ends no number. The caller hears
            # the question again, told first, where no number was asked, that the key is no option (found by the
            # maintainers: it was ignored without a word).
            return self._named_nothing(flow, state, node, not_an_option=not state.keying_number)
        if isinstance(event, NoInput):
            if state.digits:  # cut by the pause between two keys: the caller may still be keying
                return await self._keyed_for_bot(flow, state, node, event.at)
            if state.pending_question:
                # Silence after a question (a number, a code): the question again, not "anything else?"
                # (found by an accessibility audit: the caller looking for a bill lost the question).
                return await self._no_input(flow, state, node, reprompt=False, say=state.pending_question)
            return await self._no_input(flow, state, node, reprompt=False)
        if isinstance(event, Utterance):
            unavailable = self.services.hotline.get().prompts.get("speech_unavailable")
            if not event.recognisable and unavailable:  # asking again cannot help: say so, and what keys do
                return [Say(unavailable, label=f"{node.id}:speech_unavailable"), self._listen(node)]
            if not event.text.strip():
                return await self._no_match(flow, state, node, reprompt=False)
            # What was said is the turn: keys pressed before it are no number begun, or the next button's key
            # would be taken for its next digit (found on a live call: 预约上门请按1, then silence).
            state.digits = ""
            return await self._bot_turn(flow, state, node, event.text.strip())
        return []

    async def _keyed_for_bot(self, flow: Flow, state: CallState, node: Node, cut_at: float = 0.0) -> list:
        """What was keyed at a bot node, ended by # or by the pause (``cut_at``): the assistant's turn. A lone key
        where its turn asked for no number names nothing (a button's key chose it at once): the caller hears it is
        not an option, as at a menu, and the question again (found in review: the digit went to the assistant,
        which answered 抱歉，我没听清楚 as if the caller had not been heard)."""
        digits, state.digits = state.digits, ""
        if len(digits) == 1 and not state.keying_number and self._key_not_an_option():
            return self._named_nothing(flow, state, node, not_an_option=True)
        commands = await self._bot_turn(flow, state, node, digits)
        return self._heard_whole(state, commands, cut_at) if cut_at else commands

    def _named_nothing(self, flow: Flow, state: CallState, node: Node, not_an_option: bool) -> list:
        """A key that named nothing at the assistant's turn: ``not_an_option``, told so as at a menu; then the
        question again, and the caller's turn."""
        said = self._key_not_an_option() if not_an_option else ""
        told = [Say(said, label=f"{node.id}:not_an_option")] if said else []
        return [*told, *self._asked_again(flow, state, node), self._listen(node, state=state)]

    def _asked_again(self, flow: Flow, state: CallState, node: Node) -> list:
        """What the caller is to answer, said again: the assistant's last question, or the node's own prompt
        before the assistant spoke (nothing when the assistant's last turn asked nothing)."""
        if state.pending_question:
            return [Say(state.pending_question, label=f"{node.id}:question")]
        return [self._bot_prompt(flow, state, node)] if node.say and not state.bot_turns else []

    async def _bot_turn(self, flow: Flow, state: CallState, node: Node, text: str) -> list:
        hotline = self.services.hotline.get()
        gateway = self.services.bot
        try:
            if gateway is None:
                raise BotUnavailable("no assistant connected to the phone channel")
            started = time.monotonic()
            messages = await gateway.turn(conversation_id(state.call_id), text, self._metadata(state))
            logger.info("ivr.bot.turn call=%s rasa_ms=%.0f", state.call_id, 1000 * (time.monotonic() - started))
        except BOT_DOWN_ERRORS as exc:  # Rasa down, slow or its stores gone: apologise, move on in the flow
            logger.warning("ivr.bot.failed call=%s error=%s: %s", state.call_id, type(exc).__name__, exc)
            return [Say(hotline.prompt("bot_unavailable"), label=f"{node.id}:bot_unavailable")] + \
                await self._leave_bot(flow, state, node)
        spoken = spoken_replies(messages, hotline.button_template, hotline.max_buttons_read, hotline.number_prompts,
                                hotline.agent_button, hotline.goodbye_replies)
        commands: list = [Say(t, label=f"{node.id}:bot") for t in spoken.texts]
        state.buttons, state.agent_button = spoken.buttons, spoken.agent_button
        state.keying_number = spoken.asks_number
        state.pending_question = spoken.question
        state.bot_turns += 1
        state.no_input = state.no_match = 0
        if spoken.links:  # before the question, which is left for the caller to answer (found on a live call)
            commands.insert(len(commands) - 1 if spoken.asks_question and commands else len(commands),
                            await self._send_links(state, spoken.links))
        if spoken.queued is not None:  # "you are queued" and the waiting node's prompts: moot once an agent has it
            return hold_notices(commands + await self._queued_by_assistant(flow, state, node, spoken.queued))
        if spoken.says_goodbye:
            # The caller took leave (谢谢 拜拜): on as a caller gone quiet goes (main.yml: the score, once),
            # not 8 s of waiting and 请问还有什么可以帮您？ (found on a live call).
            if node.retry.on_no_input is None:
                state.status = "ended"
                return commands + [EndCall("caller_goodbye")]
            return commands + await self._enter(flow, state, node.retry.on_no_input)
        if state.bot_turns >= node.max_turns:
            return commands + await self._leave_bot(flow, state, node)
        return commands + [self._listen(node, state=state)]

    def _metadata(self, state: CallState) -> dict:
        """What the assistant learns about the caller: ``phone`` (a handoff's number to call back) only
        when the trunk vouched for it; identification reads the signed claim."""
        return {"phone": self._own_line(state) or "", "call_id": state.call_id, "channel": "ivr",
                **caller_claim(state, conversation_id(state.call_id))}

    async def _queued_by_assistant(self, flow: Flow, state: CallState, node: Node, status) -> list:
        """The assistant queued the caller (its structured ``queue_status``): wait at ``on_handoff``."""
        state.status = QUEUED
        state.vars.update(position=status.position, wait_minutes=status.wait_minutes)
        if not node.on_handoff:
            return [self._holding(flow, node)]
        buttons = state.buttons  # the waiting options just read out stay on the keypad
        commands = await self._enter(flow, state, node.on_handoff)
        state.buttons = buttons
        return commands

    # -- waiting for and talking with an agent ------------------------------------------------
    def _holding(self, flow: Flow, node: Node) -> Listen:
        """Waiting for an agent: hold audio between announcements, the reminder when the timer runs out."""
        hotline = self.services.hotline.get()
        reminder_s = hotline.hold_reminder_every_s if flow.hold.reminder else HOLD_LISTEN_S
        return Listen(node.id, speech=True, keys=True, timeout_s=reminder_s, hold_audio=hotline.hold_audio,
                      announcement_gap_s=hotline.hold_announcement_gap_s)

    async def _queued_listen(self, flow: Flow, state: CallState, node: Node) -> Listen:
        """Hold audio only while the entry still waits: once an agent has the call, the line is theirs."""
        if await self.services.handoff.waiting(conversation_id(state.call_id)):
            return self._holding(flow, node)
        return self._with_agent(node)

    @staticmethod
    def _with_agent(node: Node) -> Listen:
        return Listen(node.id, speech=True, keys=True, timeout_s=HOLD_LISTEN_S)

    async def _queued(self, flow: Flow, state: CallState, node: Node, event) -> list:
        if isinstance(event, LineMessage):
            return await self._queued_message(flow, state, node, event)
        if isinstance(event, NoInput):  # the hold timer: remind the waiting caller of the keys
            listen = await self._queued_listen(flow, state, node)
            if listen == self._with_agent(node) or not flow.hold.reminder:
                return [listen]
            if (state.buttons or state.agent_button) and not state.reminder_deferred:
                # A waiting-room question is open (解决了请按1): its keys stay one more round, rather than
                # become the hold keys (预约回电请按1) while the reminder still waits its turn to be heard
                # (found in review: 解决了 pressed there booked a callback).
                state.reminder_deferred = True
                return [listen]
            state.buttons, state.agent_button = [], ""  # the hold keys are the ones just read
            # Once in a call, the wait grown long on hold: the busy-time offer in the reminder's turn (its keys).
            long_wait = await long_wait_words(flow, state, self.services.handoff, conversation_id(state.call_id))
            if long_wait:
                return [Say(long_wait, label=HOLD_LONG_WAIT_LABEL, hold_notice=True, paced="reminder"), listen]
            return [Say(fill(flow.hold.reminder, state.vars), label=HOLD_REMINDER_LABEL, hold_notice=True,
                        paced="reminder"), listen]
        hold_keys = dict(flow.hold.keys)
        if isinstance(event, KeyPress) and event.digit in hold_keys and not self._is_button(state, event.digit) \
                and await self.services.handoff.waiting(conversation_id(state.call_id)):
            return await self._hold_key(flow, state, hold_keys[event.digit])
        if isinstance(event, HandedBack):
            state.status = "active"
            return await self._after_agent(flow, state, node)
        # * stops waiting; once an agent has the call it must not drop them (found by a tester).
        if isinstance(event, KeyPress) and event.digit == STOP_WAITING_KEY \
                and not await self.services.handoff.with_agent(conversation_id(state.call_id)):
            await self.services.handoff.leave(conversation_id(state.call_id), "caller_cancelled")
            state.status = "active"
            said = self.services.hotline.get().prompts.get("stopped_waiting", "")
            return ([Say(said, label="stopped_waiting")] if said else []) + await self._after_agent(flow, state, node)
        if isinstance(event, KeyPress) and self._is_button(state, event.digit):
            payload = self._button(state, event.digit)
            state.buttons, state.agent_button = [], ""  # answered: the keys are the hold keys again
            await self._tell_agent_side(state, payload)
        elif isinstance(event, Utterance) and event.text.strip():
            # Words answer the question as well as its keys (没解决): after them 1 is a callback again, not
            # the 解决了 of a question answered (found on a live call: it got 收到，人工客服接入后会看到您的消息).
            state.buttons, state.agent_button = [], ""
            await self._tell_agent_side(state, event.text.strip())
        elif isinstance(event, Utterance) and event.audio \
                and await self.services.handoff.with_agent(conversation_id(state.call_id)):
            await self._tell_agent_unheard(state, event)
        elif isinstance(event, KeyPress) and await self.services.handoff.waiting(conversation_id(state.call_id)):
            return self._not_a_hold_key(flow, state) + [self._holding(flow, node)]
        elif not isinstance(event, (KeyPress, Utterance)):
            return []
        return [await self._queued_listen(flow, state, node)]  # the caller's input stopped the reminder timer

    async def _queued_message(self, flow: Flow, state: CallState, node: Node, event: LineMessage) -> list:
        """A message for a queued caller. While the entry waits it is a hold notice. Once an agent has
        the call, the notices still queued for the waiting caller are dropped so the agent is heard at
        once (found by a tester: queue positions drowned the agent's first words), and a notice about
        the wait that crossed the claim is not said at all."""
        queue_notice = event.message.get("utter_action") in QUEUE_NOTICES
        if await self.services.handoff.waiting(conversation_id(state.call_id)):
            # The waiting room's place-and-wait notices come whenever the queue moves: spaced out by
            # playback (found by a tester: five in 35 s), the newest replacing one not yet said.
            said = hold_notices(await self._line_message(state, event))
            if queue_notice:
                said = [dataclasses.replace(c, paced="queue") if isinstance(c, Say) else c for c in said]
            return said + [self._holding(flow, node)]
        if queue_notice:
            return [self._with_agent(node)]
        return [AgentOnLine()] + await self._line_message(state, event) + [self._with_agent(node)]

    def _not_a_hold_key(self, flow: Flow, state: CallState) -> list:
        """A key that does nothing while waiting: the caller is told so and hears the keys that do (the flow's
        ``hold.reminder``), unless a waiting-room question is open, whose keys were just read out (found in
        review: the key was ignored, and the caller heard only the hold audio)."""
        said = self._key_not_an_option()
        texts = [said] if said else []
        if flow.hold.reminder and not (state.buttons or state.agent_button):
            texts.append(fill(flow.hold.reminder, state.vars))
        return [Say(text, label="hold:not_an_option", hold_notice=True) for text in texts]

    def _is_button(self, state: CallState, digit: str) -> bool:
        """A digit naming one of the buttons read out last (a waiting-room message's options)."""
        return self._button(state, digit) is not None

    def _button(self, state: CallState, digit: str) -> str | None:
        """The payload of the button read out last with ``digit``: the agent button on the agent key."""
        if state.agent_button and digit == self.services.hotline.get().agent_button[1]:
            return state.agent_button
        return state.buttons[int(digit) - 1] if digit.isdigit() and 0 < int(digit) <= len(state.buttons) else None

    async def _hold_key(self, flow: Flow, state: CallState, target: str) -> list:
        """A hold key: out of the queue and on to ``target``. A callback is booked from the queue entry,
        like the waiting room's 预约回电 (ticket, contact schedule, what the caller said)."""
        call = conversation_id(state.call_id)
        kind = flow.node(target).kind
        if kind == "callback" and self._own_line(state):
            from bot.ivr.services import local_phone

            booked = await self.services.handoff.book_callback(call, local_phone(state.caller) or state.caller,
                                                               hours=self.services.hotline.get().hours)
            if booked is not None:
                state.status = "active"
                state.path = (state.path + [target])[-200:]
                state.vars.update(ticket_id=booked.ticket_id, callback_by=booked.callback_by)
                await self.services.records.event(call, "callback_booked", {
                    "ticket_id": booked.ticket_id, "skill": flow.node(target).skill, "while_waiting": True,
                    "callback_by": booked.due})
                return await self._enter(flow, state, flow.node(target).next)
        if kind == "notify" and self._own_line(state):
            return await self._text_from_the_queue(flow, state, flow.node(target))
        # A number to key first (``ask_number``): the place in line is kept, as the text above keeps it until sent.
        keyed = kind in ("callback", "notify") and flow.node(target).ask_number and not self._own_line(state)
        place = await self.services.handoff.place(call) if keyed else None
        await self.services.handoff.leave(call, "caller_chose_" + kind)
        state.status = "active"
        if place:
            state.held_place = {"place": place, "node": state.node, "target": target}
        return await self._enter(flow, state, target)

    @staticmethod
    def _keying_for_the_queue(flow: Flow, state: CallState) -> tuple[str, ...]:
        """The nodes of the number a caller left the queue to key (``held_place``): the hold key's node, its
        ``ask_number``."""
        target = flow.node(state.held_place["target"])
        return (target.id, target.ask_number) if target.ask_number else (target.id,)

    async def _back_in_line(self, flow: Flow, state: CallState, why: str = "") -> list | None:
        """A caller who left the queue by a hold key to key a number (``held_place``) and whose number was refused
        or went unused (not valid, nothing keyed, no text sent or callback booked with it; ``why``: the hotline
        prompt that says so): back at the place they left, ahead of whoever queued since, holding at the node they
        waited at. Found in review: main.yml's ``on_no_match`` queued them at the back (its ways on are for a caller
        not queued yet), or left them a voice message only. None when the queue does not take them back: the
        flow's way on then."""
        held, state.held_place = state.held_place, {}
        target = flow.node(held["target"])
        if target.ask_number:  # found in review: the number that would not do was used unasked for the next key
            state.vars.pop(flow.node(target.ask_number).store_as, None)
        call = conversation_id(state.call_id)
        ticket = await self.services.handoff.rejoin(call, held["place"])
        if ticket is None:
            return None
        if state.told_no_agents:  # the waiting room's first notice would say it again
            await self.services.handoff.told_no_agents(call)
        node = flow.node(held["node"])
        state.node, state.status = node.id, QUEUED
        state.reset_retries()
        state.path = (state.path + [node.id])[-200:]
        state.vars.update(position=ticket.position, wait_minutes=wait_minutes(ticket.estimated_wait_s))
        logger.info("ivr.queue.back_in_line call=%s position=%s", state.call_id, ticket.position)
        prompts = self.services.hotline.get().prompts
        said = [prompts.get(why, "") if why else "", prompts.get("back_in_line", "")]
        return [Say(text, label=f"hold:{name}", hold_notice=True)
                for name, text in zip((why, "back_in_line"), said) if text] + [self._holding(flow, node)]

    async def _text_from_the_queue(self, flow: Flow, state: CallState, node: Node) -> list:
        """A hold key naming a notify node (main.yml's 3: the self-help guide by SMS), for a caller whose own
        line takes texts: sent before the caller leaves the queue, and out of it only once sent. The node's
        ``on_tried`` and ``on_failure`` are for a caller not queued yet (peak_offer's: queued at the back, the
        call ended); a caller on hold told the text is not sent (one they said did not help, the gateway down,
        the number's texts used up) keeps their place and waits on."""
        holding = [self._holding(flow, flow.node(state.node))]
        if await self._tried_before(state, node):
            logger.info("ivr.selfhelp.tried_before call=%s node=%s on_hold", state.call_id, node.id)
            said = fill(node.tried_say, state.vars)
            return ([Say(said, label=f"{node.id}:tried", hold_notice=True)] if said else []) + holding
        if not await self._send_text(state, node, self._own_line(state)):
            said = self.services.hotline.get().prompts.get("send_failed", "")
            return ([Say(said, label=f"{node.id}:not_sent", hold_notice=True)] if said else []) + holding
        await self.services.handoff.leave(conversation_id(state.call_id), "caller_chose_notify")
        state.status = "active"
        state.path = (state.path + [node.id])[-200:]
        return await self._enter(flow, state, node.next)

    async def _send_text(self, state: CallState, node: Node, number: str) -> bool:
        """A notify node's text to ``number``. A self-help text sent is recorded (``ivr_selfhelp_sent``): a caller
        who asked for a person and took the guide instead of waiting (peak_offer's 1, the hold's 3) was counted
        as abandoning the queue (bot/analytics/contacts.py), and one whose text was not sent still is."""
        sent = await self._notify(state, number, node.channel, "ivr_notify", fill(node.text, state.vars))
        if sent and node.selfhelp:
            await self.services.records.event(conversation_id(state.call_id), "ivr_selfhelp_sent",
                                              {"node": node.id, "selfhelp": list(node.selfhelp)})
        return sent

    async def _tell_agent_side(self, state: CallState, text: str) -> None:
        """The caller's words while queued: into the paused conversation, where the agent reads them."""
        if self.services.bot is not None:
            await self._relay(state, self.services.bot.turn(conversation_id(state.call_id), text, self._metadata(state)))

    async def _tell_agent_unheard(self, state: CallState, event: Utterance) -> None:
        """Words nobody could transcribe (no recogniser, or it heard nothing): the agent gets the audio."""
        if self.services.bot is None or self.services.clips is None:
            return
        clip = await asyncio.to_thread(self.services.clips.store_clip, event.audio, event.sample_rate,
                                       conversation_id(state.call_id))
        metadata = {**self._metadata(state), **clip.metadata()}
        await self._relay(state, self.services.bot.unheard(conversation_id(state.call_id), metadata))

    @staticmethod
    async def _relay(state: CallState, sending) -> None:
        try:
            await sending
        except Exception as exc:  # noqa: BLE001 - Rasa down: the caller still waits, the agent misses a line
            logger.warning("ivr.queued.relay_failed call=%s error=%s", state.call_id, type(exc).__name__)

    async def _line_message(self, state: CallState, event: LineMessage) -> list:
        hotline = self.services.hotline.get()
        # Read as the assistant's turns are: its agent button on the agent key, the others numbered from 1
        # (found in review: a waiting-room message read 重新排队请按1 预约回电请按2).
        spoken = spoken_replies([event.message], hotline.button_template, hotline.max_buttons_read,
                                agent_button=hotline.agent_button)
        said = event.message.get("utter_action")
        label = f"line:{said}" if isinstance(said, str) and said else "line"  # the mark after the audio
        commands: list = [Say(t, label=label) for t in spoken.texts]
        if spoken.buttons or spoken.agent_button:
            state.buttons, state.agent_button = spoken.buttons, spoken.agent_button
            state.reminder_deferred = False
        if spoken.links:
            commands.append(await self._send_links(state, spoken.links))
        return commands

    async def _after_agent(self, flow: Flow, state: CallState, node: Node) -> list:
        """Back to the assistant: the waiting node's ``next`` (a bot node waiting for the caller)."""
        target = node.id if node.kind == "bot" else node.next
        if target is None:
            state.status = "ended"
            return [EndCall("agent_done")]
        target_node = flow.node(target)
        if target_node.kind != "bot":
            return await self._enter(flow, state, target)
        state.node = target
        state.reset_retries()
        state.bot_turns = 0
        state.buttons, state.agent_button = [], ""
        state.path = (state.path + [target])[-200:]
        return [self._listen(target_node)]  # the handback message already asked what else we can do

    async def _leave_bot(self, flow: Flow, state: CallState, node: Node) -> list:
        """The assistant is done (turns used up) or unreachable: on to ``next`` (e.g. "press 0")."""
        target = node.next
        if target is None:
            return [EndCall("bot_done")]
        return await self._enter(flow, state, target)

    async def _send_links(self, state: CallState, links: list[dict]) -> Say:
        hotline = self.services.hotline.get()
        text = hotline.link_text(links)
        number = self._own_line(state)
        if number is None:
            return Say(hotline.prompts.get("unverified_not_sent") or hotline.prompt("send_failed"),
                       label="sent_to_phone:unverified")
        sent = await self._notify(state, number, hotline.notify_channel, "ivr_links", text, links=links)
        return Say(hotline.prompt("sent_to_phone" if sent else "send_failed"), label="sent_to_phone")

    async def _notify(self, state: CallState, number: str, channel: str, kind: str, text: str, **extra) -> bool:
        budget = self.services.sms_budget
        if channel == "sms" and budget is not None and not await budget.may_send(state.call_id, number):
            # A keyed number proves nothing: texts per number and per call are budgeted, as the chat's codes.
            logger.warning("ivr.notify.over_budget call=%s kind=%s", state.call_id, kind)
            return False
        try:
            await self.services.notifier.send(number, {"channel": channel, "kind": kind, "text": text,
                                                             "call_id": state.call_id, **extra})
            return True
        except NotifyError as exc:
            logger.warning("ivr.notify.failed call=%s error=%s", state.call_id, exc)
            return False

    # -- voice messages ---------------------------------------------------------------------
    def _record_prompt(self, flow: Flow, state: CallState, node: Node) -> list:
        state.phase = _RECORDING
        commands = [self._say(flow, state, node)]
        if node.beep:
            commands.append(Beep(label=f"{node.id}:beep"))
        return commands + [StartRecording(node.max_seconds, node.end_silence_s, node.finish_key)]

    async def _record(self, flow: Flow, state: CallState, node: Node, event) -> list:
        if isinstance(event, Recording):
            seconds = len(event.pcm) / 2 / event.sample_rate
            if event.finished_by == "hangup":
                if seconds >= node.min_seconds and event.heard_speech:
                    await self._store_message(state, event.pcm, event.sample_rate)
                return []
            if seconds < node.min_seconds or not event.heard_speech:
                state.no_input += 1
                if state.no_input > node.retry.max_no_input:
                    return await self._escalate(flow, state, node.retry.on_no_input or node.next)
                return [Say(self.services.hotline.get().prompt("recording_too_short"), label=f"{node.id}:short")] \
                    + self._record_prompt(flow, state, node)
            if not node.confirm_say:
                await self._store_message(state, event.pcm, event.sample_rate)
                return self._saved(flow, state, node) + await self._enter(flow, state, node.next)
            await self.services.store.save_recording(state.call_id, event.pcm)
            state.phase = _CONFIRM
            return [Say(fill(node.confirm_say, state.vars), prompt_id=flow.prompt_id(node, "confirm"),
                        label=f"{node.id}:confirm"),
                    Listen(node.id, speech=False, keys=True, timeout_s=node.retry.timeout_s)]
        if state.phase != _CONFIRM:
            return []
        if isinstance(event, KeyPress) and event.digit in ("1", "2"):
            if event.digit == "2" and state.rerecords < node.max_rerecord:
                state.rerecords += 1
                return self._record_prompt(flow, state, node)
            pcm = await self.services.store.recording(state.call_id) or b""
            await self._store_message(state, pcm, 8000)
            return self._saved(flow, state, node) + await self._enter(flow, state, node.next)
        if isinstance(event, NoInput):  # an unconfirmed message is kept rather than lost
            pcm = await self.services.store.recording(state.call_id) or b""
            await self._store_message(state, pcm, 8000)
            return self._saved(flow, state, node) + await self._enter(flow, state, node.next)
        return await self._still_listening(flow, state, node) if isinstance(event, KeyPress) else []

    def _saved(self, flow: Flow, state: CallState, node: Node) -> list:
        return [Say(fill(node.saved_say, state.vars), prompt_id=flow.prompt_id(node, "saved"),
                    label=f"{node.id}:saved")] if node.saved_say else []

    async def _store_message(self, state: CallState, pcm: bytes, sample_rate: int) -> None:
        sink = self.services.voicemail
        if sink is None or not pcm:
            logger.warning("ivr.voicemail.dropped call=%s reason=%s", state.call_id, "no_sink" if pcm else "empty")
            return
        # An unproven caller ID is no one's: the message is filed, texted and called back by no number.
        task = asyncio.create_task(sink(pcm, sample_rate, self._own_line(state) or "", state.call_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        await self.services.records.event(conversation_id(state.call_id), "ivr_voicemail_left",
                                          {"seconds": round(len(pcm) / 2 / sample_rate, 2)})

    # -- retries ----------------------------------------------------------------------------
    async def _no_input(self, flow: Flow, state: CallState, node: Node, reprompt: bool = True,
                        say: str = "") -> list:
        state.no_input += 1
        if state.no_input > node.retry.max_no_input:
            return await self._escalate(flow, state, node.retry.on_no_input)
        return self._retry(flow, state, node, say or node.retry.no_input_say, reprompt)

    async def _no_match(self, flow: Flow, state: CallState, node: Node, say: str = "", reprompt: bool = True,
                        label: str = "retry") -> list:
        state.no_match += 1
        if state.no_match > node.retry.max_no_match:
            return await self._escalate(flow, state, node.retry.on_no_match)
        return self._retry(flow, state, node, say or node.retry.no_match_say, reprompt, label)

    def _retry(self, flow: Flow, state: CallState, node: Node, apology: str, reprompt: bool,
               label: str = "retry") -> list:
        commands = [Say(fill(apology, state.vars), label=f"{node.id}:{label}")] if apology else []
        if reprompt or not apology:
            commands.append(self._say(flow, state, node))
        return commands + [self._listen(node, state=state)]

    async def _escalate(self, flow: Flow, state: CallState, target: str | None) -> list:
        if state.held_place and (back := await self._back_in_line(flow, state)):
            return back  # the number asked for after a hold key: refused, or nothing keyed
        if target is None:
            state.status = "ended"
            return [EndCall("retries_exhausted")]
        return await self._enter(flow, state, target)

    # -- helpers ------------------------------------------------------------------------------
    def _key_not_an_option(self) -> str:
        """``prompts.key_not_an_option`` (抱歉，没有这个选项。), said to a key that is no option at a menu, at the
        assistant's turn and on hold; "" when the hotline has none."""
        return self.services.hotline.get().prompts.get("key_not_an_option", "")

    def _say(self, flow: Flow, state: CallState, node: Node) -> Say:
        if not state.speech_recognised and node.say_keys_only:  # found by a tester: "just say it" on a line that cannot hear
            return Say(fill(node.say_keys_only, state.vars), prompt_id=flow.prompt_id(node, "keys_only"),
                       barge_in=node.barge_in, label=node.id)
        return Say(fill(node.say, state.vars), prompt_id=flow.prompt_id(node), barge_in=node.barge_in, label=node.id)

    def _listen(self, node: Node, collecting: bool = False, state: CallState | None = None) -> Listen:
        phrases = () if (node.kind != "menu" or node.free_speech) else tuple(node.phrases())
        asked = node.kind == "bot" and state is not None and bool(state.pending_question)
        timeout = max(node.retry.timeout_s, node.question_timeout_s) if asked else node.retry.timeout_s
        return Listen(node.id, speech=True, keys=True, phrases=phrases, timeout_s=timeout,
                      inter_digit_timeout_s=node.inter_digit_timeout_s if collecting else 0.0)


def ended_record(state: CallState | None, reason: str) -> dict:
    """What ``ivr_call_ended`` says: the reason, and the call's flow and path when its state could be read."""
    if state is None:
        return {"reason": reason}
    return {"reason": reason, "flow": state.flow, "version": state.version, "path": state.path,
            "last_node": state.node, "seconds": round(time.time() - state.started_at, 1)}


def typed_ahead(state: CallState, key: KeyPress) -> bool:
    """A key that came within ``limits.typed_ahead_key_seconds`` of a number cut by the pause or rejected: still
    that number. After a full number taken only its # is: any other key is the caller's next answer."""
    within = bool(key.at) and key.at < state.typed_ahead_until
    return within and (key.digit == "#" or not state.typed_ahead_end_only)


def hold_notices(commands: list) -> list:
    """What is said to a caller waiting for an agent: dropped, if still queued, once the agent has the call."""
    return [dataclasses.replace(command, hold_notice=True) if isinstance(command, Say) else command
            for command in commands]


def caller_claim(state: CallState, sender_id: str) -> dict:
    """A signed caller-ID claim for the assistant, only when the trunk vouched for the number."""
    from bot.ivr.services import local_phone
    from bot.security.claims import CALLER_ID, channel_claim

    phone = local_phone(state.caller)
    return channel_claim(CALLER_ID, phone, sender_id) if state.caller_verified and phone else {}


def keyed_values(flow: Flow, values: dict) -> dict:
    """What the caller keyed in (``collect_digits`` answers, by their ``store_as`` name) for the agent's
    packet: the flow's own working values (``wait_minutes``, ``position``, a ``ticket_id`` it filed) are
    not what the caller said. Found by a tester: the desk showed ``wait_minutes=3`` as 电话中输入, masked
    behind a reveal button like a phone number."""
    keyed = {node.store_as for node in flow.nodes.values() if node.kind == "collect_digits"}
    return {name: value for name, value in values.items() if name in keyed}
