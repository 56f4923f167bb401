"""What an agent can do at the desk, independent of HTTP: sign in, watch the queues, claim,
read the context packet, chat on the customer's channel, push self-help, reveal a number
(logged), record the customer's wish not to be contacted again (logged) and close with a
disposition that hands the conversation back to the bot.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from bot.analytics.config import centre_zone
from bot.db.recordings import CALLER_CLIP, RecordingStore, playable
from bot.db.repository import Repository
from bot.handoff import close_filing, keys, masking
from bot.handoff.accounts import AccountStore, AgentAccount
from bot.handoff.agent_selfhelp import mark_asked
from bot.handoff.agents import is_callback
from bot.handoff.context import summary
from bot.handoff.estimate import wait_minutes
from bot.handoff.handback import (WORDS_FIELD, agent_left_marker, ask_csat, close_mark, close_words, finish,
                                  handback_mark, handed_back)
from bot.handoff.handback import owed as handback_owed
from bot.handoff.joined import claimed_as_read, join_mark, say_joined, told
from bot.handoff import lost_calls
from bot.handoff.desk_view import (pushed_selfhelp_key, remember_pushed_selfhelp, selfhelp_answers_key, shown_turns,
                                   with_pushed_selfhelp, with_selfhelp_pages)
from bot.handoff.undelivered import mark_undelivered, pending_turns, undelivered_marks, with_undelivered
from bot.handoff.conversations import RasaConversations
from bot.handoff.queue import (LOST_AT_FIELD, TRANSFER_FIELD, CallLost, HandoffError, HandoffQueue,
                              left_by_customer)
from bot.handoff.callback_transferred import CALLBACK_TRANSFERRED, note_transferred
from bot.handoff.transfer_owed import TRANSFERRED, lost_on_the_way, tell_transferred
from bot.handoff.transfer_owed import finish as finish_transfer
from bot.handoff.transfer_owed import told as transfer_told
from bot.handoff.sessions import open_session
from bot.handoff.presence import gone_among, gone_reason
from bot.handoff.tickets import (DISPOSITIONS, customer_id_of, disposition_ticket, own_open_ticket, session_began,
                                work_items)
from bot.handoff.unanswered import absent_at_close, call_lost_at, customer_left_at, lost_by_silence
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.waiting_tickets import agent_callback_ticket, known_phone, promised_time
from bot.handoff.work_item_view import phone_to_call, readable, voice_message_audio
from bot.ivr.caller_clips import untranscribed
from bot.ledger.ledger import fault_of, named_skill
from bot.outcomes import record
from bot.redis_text import as_text, as_text_or_none
from bot.settings import get_settings
from bot.ticket_notes import history_note

logger = logging.getLogger(__name__)

NOTE_LIMIT = 1000  # the agent's closing note, as its ticket, its transfer and its event keep it
CLAIM_TRIES = 3  # customers who left between a claim and its pause, passed over before "nobody waits"


def named_claim(named: float | None, claimed_at: float | None) -> bool:
    """Whether a page's close names the claim ``claimed_at`` (the view's, back through JSON: to the millisecond,
    as claims of one conversation are much further apart); a page naming none names the current one."""
    return named is None or (claimed_at is not None and abs(named - claimed_at) < 0.001)


class DeskError(Exception):
    """A desk request that cannot be done; ``code`` is a key of the UI strings."""

    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class Desk:
    def __init__(self, queue: HandoffQueue, conversations: RasaConversations, accounts: AccountStore,
                 repository: Repository | None = None, voice_bridge=None) -> None:
        self.queue = queue
        self.conversations = conversations
        self.accounts = accounts
        self.repository = repository or Repository(get_settings().database_url)
        self.recordings = RecordingStore(self.repository.url)  # voice messages and callers' clips
        self.voice_bridge = voice_bridge  # bot.ivr.bridge.VoiceBridge, or None: phone by text and TTS

    # -- signing in ----------------------------------------------------
    async def login(self, name: str, password: str) -> tuple[str, AgentAccount] | None:
        account = await asyncio.to_thread(self.accounts.authenticate, name, password)
        if account is None:
            logger.info("handoff.desk.login_failed")
            return None
        # Signing in again (another tab or PC, or after an outage) keeps a working desk's status: resetting it
        # to away silently stopped routing to the agent's first session. A first sign-in starts away.
        roster = self.queue.roster
        current = await roster.get(account.agent_id)
        status = current.status if await roster.present(current) else "away"
        await roster.register(account.agent_id, name=account.display_name, skills=account.skills,
                              capacity=account.capacity, status=status)
        token = await open_session(self.queue.redis, account.agent_id, account.display_name, account.credential)
        logger.info("handoff.desk.login agent=%s", account.agent_id)
        return token, account

    async def set_status(self, agent_id: str, status: str, skills: list[str] | None) -> None:
        """An agent's own status, and which of the skill groups a supervisor granted them they take now.

        Granting is the supervisor's (``grant_skills``): an agent who could pick any group could
        take queues (and the customers' data in them) nobody gave them.
        """
        if skills is not None:
            account = await asyncio.to_thread(self.accounts.get, agent_id)
            if not skills or account is None or set(skills) - set(account.skills):
                raise DeskError("error_skills", 403 if account is not None and skills else 400)
            await self.queue.roster.set_skills(agent_id, skills)
        try:
            await self.queue.roster.set_status(agent_id, status)
        except ValueError as exc:
            raise DeskError("error_status") from exc

    async def grant_skills(self, agent_id: str, skills: list[str]) -> None:
        """A supervisor sets the skill groups an agent may serve (the account, and the roster at once)."""
        if not skills or set(skills) - set(self.queue.rules.skills):
            raise DeskError("error_skills")
        if await asyncio.to_thread(self.accounts.get, agent_id) is None:
            raise DeskError("error_no_agent", 404)
        await asyncio.to_thread(self.accounts.set_skills, agent_id, skills)
        if await self.queue.roster.get(agent_id) is not None:
            await self.queue.roster.set_skills(agent_id, skills)

    # -- overview ------------------------------------------------------
    async def overview(self, agent_id: str) -> dict:
        await self.queue.roster.heartbeat(agent_id)
        rules, now = self.queue.rules, self.queue.clock()
        queues = []
        for skill, label in rules.skills.items():
            found = list(enumerate(await self.queue.entries(await self.queue.waiting(skill)), start=1))
            gone = await gone_among(self.queue.redis, [e for _, e in found], now)
            # no conversation id: any agent sees every queue, and an id lets one talk as the customer.
            # A customer who left keeps the place for the grace period, shown as gone, and is not handed out.
            # enqueued_at tells entries apart across refreshes (the desk announces a newcomer once).
            entries = [{"channel": entry["channel"], "priority": entry["priority"], "position": place,
                        "waited_s": round(now - entry["waiting_since"], 1), "enqueued_at": entry["enqueued_at"],
                        "gone": entry["conversation_id"] in gone,
                        # a booked callback: the agent rings the customer, who is not waiting in a chat
                        "callback": is_callback(entry["request"].context)}
                       for place, entry in found]
            estimate = await self.queue.estimated_wait(skill)
            # wait_minutes: what a customer joining now is told, in the same minutes (bot.handoff.estimate).
            queues.append({"skill": skill, "label": label, "waiting": len(entries) - len(gone), "gone": len(gone),
                           "estimated_wait_s": estimate, "wait_minutes": wait_minutes(estimate),
                           "sla_s": rules.sla_seconds.get(skill), "entries": entries})
        state = await self.queue.roster.get(agent_id)
        account = await asyncio.to_thread(self.accounts.get, agent_id)
        items = await asyncio.to_thread(work_items, lambda ticket: self.sees_ticket(account, ticket))
        return {
            "agent": {"agent_id": agent_id, "name": state.name if state else agent_id,
                      "role": account.role if account else None,
                      "granted_skills": list(account.skills) if account else [],
                      "status": state.status if state else "away", "skills": list(state.skills) if state else [],
                      "capacity": state.capacity if state else 0},
            "skills": rules.skills,
            "timezone": centre_zone().key,  # the desk shows every time in the centre's zone
            "queues": queues,
            "serving": await self.queue.serving(agent_id),
            "serving_entries": await self._serving_entries(agent_id),
            "work_items": await asyncio.to_thread(lambda: [readable(t, self.repository) for t in items]),
        }

    async def _serving_entries(self, agent_id: str) -> list[dict]:
        """The agent's conversations as the waiting list shows its entries (channel, priority, wait),
        with who it is: the customer's name once verified, else the number the channel vouches for,
        masked. Found by a tester: 我正在服务 listed id prefixes an agent could not tell apart."""
        shown = []
        for conversation_id in await self.queue.serving(agent_id):
            entry = await self.queue.entry(conversation_id)
            if entry is None:
                continue
            packet = entry["request"].context or {}
            customer = packet.get("customer") or {}
            phone = str(packet.get("phone") or customer.get("phone") or "")
            shown.append({"conversation_id": conversation_id, "channel": entry["channel"],
                          "priority": entry["priority"], "customer_name": customer.get("name") or None,
                          "phone_masked": masking.mask_phone(phone) if phone else None,
                          "waited_s": round((entry["claimed_at"] or self.queue.clock()) - entry["waiting_since"], 1),
                          "claimed_at": entry["claimed_at"],
                          # the customer closed the page or lost the connection: the desk shows them offline
                          "customer_left_at": await customer_left_at(self.queue, entry)})
        return shown

    # -- one conversation ----------------------------------------------
    async def claim(self, agent_id: str, agent_name: str, request_id: str = "") -> dict | None:
        """The next customer's view, or None when nobody waits; ``error_at_capacity`` when the agent
        already serves as many as they may (customers may well be waiting); ``error_on_a_call`` when
        they are on a call and only callers wait (``take_next``: one call per agent).

        ``request_id``: the page's, the same on a retry of a claim it got no answer to: the retry gets the
        customer that claim took (``HandoffQueue.take_next``), who is told "an agent joined" once. What a claim
        cut off owes the customer, the waiting room finishes (``bot.handoff.joined``).

        A customer who leaves before they are told (a caller hanging up as the agent takes them) is passed over as
        one who left before the pause is: the next customer is taken. Found in review: "an agent joined" paused
        again the conversation the leave had just handed back, and the claim answered ``error_not_serving``.
        Only a customer who left: a claim lost otherwise (the agent signed out, a supervisor took it back) answers
        ``error_not_serving`` (found in review: the retry took the customer put back again, for the agent who had
        just signed out)."""
        for _ in range(CLAIM_TRIES):
            request = await self._take_and_pause(agent_id, request_id)
            if request is None:
                return None
            try:
                return await self._joined(agent_id, agent_name, request)
            except DeskError as exc:
                if exc.code != "error_not_serving":
                    raise
                if not left_by_customer(await self.queue.entry(request.conversation_id), agent_id):
                    raise  # the claim was lost, the customer is still there: not taken again
            await self._give_back_left(request.conversation_id, agent_id)
            logger.info("handoff.desk.left_before_joined conversation=%s agent=%s", request.conversation_id, agent_id)
        return None

    async def _give_back_left(self, conversation_id: str, agent_id: str) -> None:
        """Undo the claim's pause of a customer who left after it: a leave that handed the conversation back
        before leaving the queue (``wechat_followers.follower_left``) had it paused again by the desk in between.
        Found in review: the follower was left paused with nobody until the waiting room's hand-back. Only while
        the entry still shows them gone (asked under the conversation's lock): never one claimed or waiting again."""
        async def still_left() -> bool:
            return left_by_customer(await self.queue.entry(conversation_id), agent_id)

        await self.conversations.unpause(conversation_id, still_owed=still_left)

    async def _joined(self, agent_id: str, agent_name: str, request) -> dict:
        """The customer the claim took told an agent joined, and their view; ``error_not_serving`` when they left
        first (nothing said, nothing paused: ``say_joined`` only while the claim holds, under the conversation's
        lock)."""
        entry = await self._held(agent_id, request.conversation_id)
        # Ends a proof still open asked by an earlier agent (a transfer cut off before it ended it): found in review,
        # the customer's next six digits for this agent were checked as its password.
        if not await say_joined(self.conversations, request, agent_name, once=join_mark(entry),
                                still_owed=claimed_as_read(self.queue, entry)):
            raise DeskError("error_not_serving", 404)
        await told(self.queue, request.conversation_id)  # else the waiting room finishes it (bot.handoff.joined)
        view = await self.view(agent_id, request.conversation_id)
        view["voice_bridged"] = await self._bridge(agent_id, request)
        # Said once, at the claim: without a bridge or a recogniser the caller's words come as recordings.
        view["speech_not_transcribed"] = not view["voice_bridged"] and request.channel == "ivr" \
            and await untranscribed(self.queue.redis, request.conversation_id)
        return view

    async def _take_and_pause(self, agent_id: str, request_id: str = ""):
        """The next request, with the bot paused for it: whatever way it came, a booked callback joins the
        queue on a conversation the bot had back (found by a tester: the customer's messages then went to
        the bot, not to the agent). A customer who left between the claim and the pause had their
        conversation given back to the bot before it was paused (found in review: a WeChat follower who
        unfollowed then, and followed again, met a bot that never answered): given back again, and the
        next customer taken instead. A claim lost otherwise (the agent signed out) answers ``error_not_serving``."""
        for _ in range(CLAIM_TRIES):
            taken, request = await self.queue.take_next(agent_id, request_id)
            if taken == "full":
                raise DeskError("error_at_capacity", 409)
            if taken == "on_a_call":
                raise DeskError("error_on_a_call", 409)
            if request is None:
                return None
            await self.conversations.pause(request.conversation_id)
            entry = await self.queue.entry(request.conversation_id)
            if entry is not None and entry["state"] == "claimed" and entry["agent_id"] == agent_id:
                return request
            if not left_by_customer(entry, agent_id):  # lost otherwise (the agent signed out...): not taken again, as
                # in claim, and still paused as everyone queued is (found in review: unpaused, a customer put back at
                # the head of the queue was told they were not waiting)
                raise DeskError("error_not_serving", 404)
            await self._give_back_left(request.conversation_id, agent_id)
            logger.info("handoff.desk.left_before_pause conversation=%s agent=%s", request.conversation_id, agent_id)
        return None

    async def _bridge(self, agent_id: str, request) -> bool:
        """A phone caller: have the carrier dial the agent in, when a voice bridge is configured."""
        from bot.ivr.bridge import BridgeError, bridged_agent

        if self.voice_bridge is None or request.channel != "ivr":
            return False
        if await bridged_agent(self.queue.redis, request.conversation_id) == agent_id:
            return True  # a claim retried (its reply lost): the agent's phone was dialled in already
        try:
            return await self.voice_bridge.connect(self.queue.redis, request.conversation_id, agent_id)
        except BridgeError as exc:
            logger.warning("handoff.desk.bridge_failed conversation=%s error=%s", request.conversation_id, exc)
            return False

    async def _held(self, agent_id: str, conversation_id: str) -> dict:
        """The entry of a conversation the agent is serving; else one answer, ``error_not_serving`` (404),
        whether it is another agent's, ended or never was: found by a tester, a separate "held by
        another agent" let an agent probing ids learn which conversations exist and are being served."""
        entry = await self.queue.entry(conversation_id)
        if entry is None or entry["state"] != "claimed" or entry["agent_id"] != agent_id:
            raise DeskError("error_not_serving", 404)
        return entry

    async def view(self, agent_id: str, conversation_id: str) -> dict:
        entry = await self._held(agent_id, conversation_id)
        packet = entry["request"].context or {}
        pushed = [as_text(v) for v in await self.queue.redis.lrange(pushed_selfhelp_key(conversation_id), 0, -1)]
        if pushed or packet.get("selfhelp"):
            from bot.selfhelp import load_catalogue

            catalogue = load_catalogue(get_settings().selfhelp_catalogue)
            if pushed:
                titles, faults = catalogue.titles_and_faults()
                answers = {as_text(k): as_text(v) for k, v in
                           (await self.queue.redis.hgetall(selfhelp_answers_key(conversation_id))).items()}
                packet = with_pushed_selfhelp(packet, pushed, titles, answers, faults)
            packet = with_selfhelp_pages(packet, catalogue)
        wait_s = (entry["claimed_at"] or self.queue.clock()) - entry["waiting_since"]  # since it last joined the queue
        shown = masking.masked_packet({**packet, "summary": summary(packet, self.queue.rules, wait_s)})
        # claimed_at: the claim on screen, which the page's close names (:meth:`close`)
        shown.update(conversation_id=conversation_id, wait_s=round(wait_s, 1), state=entry["state"],
                     claimed_at=entry["claimed_at"],
                     customer_left_at=await customer_left_at(self.queue, entry))
        if entry["request"].channel == "wechat":  # the desk tells the agent a long reply goes out in parts
            from bot.channels.wechat_split import TEXT_LIMIT_BYTES

            shown["part_bytes"] = TEXT_LIMIT_BYTES
        return shown

    async def packet(self, agent_id: str, conversation_id: str) -> dict:
        """The unmasked packet of a conversation the agent holds: input for views that mask it themselves."""
        entry = await self._held(agent_id, conversation_id)
        return {**(entry["request"].context or {}), "conversation_id": conversation_id}

    async def messages(self, agent_id: str, conversation_id: str, after: int) -> dict:
        await self._held(agent_id, conversation_id)
        turns = with_undelivered(shown_turns(await self.conversations.events(conversation_id)),
                                 await undelivered_marks(self.queue.redis, conversation_id))
        return {"turns": [turn for turn in turns if turn["index"] > after], "last": len(turns) - 1,
                "pending": pending_turns(turns)}

    async def send(self, agent_id: str, agent_name: str, conversation_id: str, text: str) -> None:
        entry = await self._held(agent_id, conversation_id)
        text = (text or "").strip()
        if not text or len(text) > 2000:
            raise DeskError("error_message")
        await self._not_a_lost_call(entry)
        output = await self.conversations.utter(conversation_id, "utter_agent_message", agent_name=agent_name,
                                                agent_text=text)
        undelivered = getattr(output, "undelivered", None)
        if undelivered:
            # Recorded (the agent did say it) but marked, so the transcript does not pass it off as read.
            reason = undelivered[0]
            await mark_undelivered(self.queue.redis, conversation_id, await self.conversations.events(conversation_id),
                                   text, reason)
            logger.warning("handoff.desk.not_delivered conversation=%s reason=%s", conversation_id, reason)
            raise DeskError(f"error_not_delivered_{reason}", 502)

    async def push_selfhelp(self, agent_id: str, conversation_id: str, entry_id: str) -> None:
        from actions.selfhelp import selfhelp_message  # the bot's own rendering of an entry
        from bot.selfhelp import load_catalogue

        await self._not_a_lost_call(await self._held(agent_id, conversation_id))
        entry = load_catalogue(get_settings().selfhelp_catalogue).get(entry_id)
        if entry is None:
            raise DeskError("error_selfhelp", 404)
        message = selfhelp_message(entry)
        await self.conversations.utter(conversation_id, message.pop("response"), **message)
        await self.conversations.utter(conversation_id, "utter_ask_selfhelp_worked_handed_over")  # no 转人工: has one
        await remember_pushed_selfhelp(self.queue.redis, conversation_id, entry.id)
        await mark_asked(self.queue.redis, conversation_id, entry.id)  # the answer counts (bot.handoff.agent_selfhelp)
        await self._record(conversation_id, "selfhelp_sent", {"selfhelp_id": entry.id, "agent_id": agent_id})

    async def _not_a_lost_call(self, entry: dict) -> None:
        """Refuses what would be said into a lost call's dead line (``error_call_lost``): nobody would hear it, yet
        the transcript would show the caller told (bot.handoff.lost_calls)."""
        if await call_lost_at(self.queue, entry) is not None:
            raise DeskError("error_call_lost", 409)

    async def reveal(self, agent_id: str, conversation_id: str, field: str) -> object:
        entry = await self._held(agent_id, conversation_id)
        try:
            value = masking.reveal(entry["request"].context or {}, field)
        except KeyError as exc:
            raise DeskError("error_reveal") from exc
        if value in (None, "", [], {}):  # nothing was disclosed: the audit trail must not say otherwise
            return value
        await self._record(conversation_id, "handoff_pii_revealed", {"agent_id": agent_id, "field": field})
        logger.info("handoff.desk.revealed agent=%s conversation=%s field=%s", agent_id, conversation_id, field)
        return value

    async def ask_proof(self, agent_id: str, conversation_id: str) -> str:
        """请客户验证身份: the bot asks the customer the agent serves for proof and checks the answer,
        which the agent never reads (``bot.handoff.desk_proof``). Returns where the proof stands."""
        from bot.handoff import desk_proof

        entry = await self._held(agent_id, conversation_id)
        if entry["request"].channel == "ivr":  # the caller's keypad is not read while an agent is on the line
            raise DeskError("error_proof_phone", 409)
        shown = await desk_proof.ask(self.conversations, conversation_id, asked_under=join_mark(entry))
        await self._record(conversation_id, "handoff_proof_asked", {"agent_id": agent_id, "state": shown})
        logger.info("handoff.desk.proof_asked agent=%s conversation=%s state=%s", agent_id, conversation_id, shown)
        return shown

    async def opt_out(self, agent_id: str, conversation_id: str) -> str:
        """客户要求不再联系: the customer being served is opted out of every automated contact, as by
        TD or by telling the assistant (bot/contacts/optout.py). Returns the masked number (or "" for a
        WeChat account only). Only addresses the conversation proved are used (opt_out_addresses);
        anything else is refused with ``error_opt_out_unknown`` rather than guessed."""
        from bot.contacts.optout import opt_out, opt_out_addresses

        entry = await self._held(agent_id, conversation_id)
        request = entry["request"]
        addresses = opt_out_addresses(request.channel, conversation_id, request.context or {},
                                      verified=bool(request.customer_id))
        if not addresses:
            raise DeskError("error_opt_out_unknown", 409)
        await opt_out(self.repository.url, addresses, conversation_id=conversation_id, channel=request.channel,
                      via="agent", agent_id=agent_id)
        logger.info("handoff.desk.opted_out agent=%s conversation=%s", agent_id, conversation_id)
        phone = next((a.split(":", 1)[1] for a in addresses if a.startswith("phone:")), "")
        return masking.mask_number(phone) if phone else ""

    async def close(self, agent_id: str, conversation_id: str, disposition: str, note: str = "",
                    skill: str | None = None, phone: str = "", agent_name: str = "",
                    claimed_at: float | None = None) -> dict:
        """``phone``: the number a callback goes to, when the customer gave the agent one.

        The agent's note (trimmed, at most NOTE_LIMIT) goes with the close's event, and a transfer's with the
        conversation to the next group's agent.
        The answer says what the desk words: ``customer_gone`` (nothing was exchanged, bot.handoff.unanswered)
        and ``call_lost`` (a call whose line was lost: the desk never words it as a web chat's departure).
        A call lost after words with the agent keeps the agent's disposition, noted lost (``HandoffQueue.close``).
        A retry of a close the agent made (its answer lost, or cut off after the queue's script) is answered as
        that close (:meth:`_closed_before`), not ``error_not_serving``; one cut off before that script files
        nothing twice, nor do two closes at once (bot.handoff.close_filing).
        ``claimed_at``: the claim the page closes (its view's); a close of an earlier claim of the conversation (a
        retry arriving after the agent took the customer again) is refused, ``error_not_serving``, and closes
        nothing. None (a page of the version before) closes the current claim.
        """
        note = note.strip()[:NOTE_LIMIT]
        async with close_filing.one_at_a_time(self.queue.redis, conversation_id):
            try:
                entry = await self._held(agent_id, conversation_id)
            except DeskError:
                return await self._closed_before(agent_id, conversation_id, claimed_at=claimed_at)
            if not named_claim(claimed_at, entry["claimed_at"]):
                logger.info("handoff.desk.stale_close agent=%s conversation=%s", agent_id, conversation_id)
                raise DeskError("error_not_serving", 409)
            return await self._close_held(agent_id, entry, disposition, note, skill, phone, agent_name)

    async def _close_held(self, agent_id: str, entry: dict, disposition: str, note: str, skill: str | None,
                          phone: str, agent_name: str) -> dict:
        """:meth:`close` of the claim the agent holds (``entry``)."""
        conversation_id = entry["conversation_id"]
        if disposition not in DISPOSITIONS:
            raise DeskError("error_disposition")
        if disposition == "transfer" and await call_lost_at(self.queue, entry) is not None:
            raise DeskError("error_transfer_call_lost", 409)  # nobody is on the line to wait for the next group
        lost_at = None
        if disposition != "transfer":
            absence, lost_at = await absent_at_close(self.queue, self.conversations, entry)
            if absence is not None:
                return await self._close_unanswered(agent_id, entry, disposition, note, phone,
                                                    absence.left_by(entry["claimed_at"]))
        notice: dict | None = None  # what the close filed for the customer, as a message: its reply and values
        try:
            if disposition == "transfer":
                if not skill or skill not in self.queue.rules.skills:
                    raise DeskError("error_skills")
                # A booked callback's customer is not on the line: told the callback stands, not a place. Named in
                # the call, where `kefu validate` reads that ``says`` is only compared once read back.
                callback = is_callback(entry["request"].context)
                try:  # a call lost since the check above is refused by the script too: the agent keeps it, to close
                    position = await self.queue.transfer(conversation_id, agent_id, skill, note=note,
                                                         agent_name=agent_name,
                                                         says=CALLBACK_TRANSFERRED if callback else TRANSFERRED,
                                                         unless_lost=await lost_by_silence(self.queue, entry))
                except CallLost as exc:
                    raise DeskError("error_transfer_call_lost", 409) from exc
                owed = await self.queue.transfer_recorded(conversation_id)
                await note_transferred(self.queue, conversation_id, owed)  # a callback's ticket says where it went
                if await lost_on_the_way(self.queue, self.conversations, conversation_id):  # known lost meanwhile
                    await transfer_told(self.queue, conversation_id)
                    return {"transferred_to": skill, "position": 0, "call_lost": True}
                await tell_transferred(self.queue, self.conversations, conversation_id, owed, position)
                await transfer_told(self.queue, conversation_id)  # else the waiting room finishes it
                return {"transferred_to": skill, "position": position.position}
            ticket_id, notice = await self._filed(entry, agent_id, disposition, note, phone)
            # The customer keeps the number to follow up: noted with the close, so the waiting room says it too.
            text, words = await self._noted_words(entry, notice, phone, lost=lost_at is not None)
            await self.queue.close(conversation_id, agent_id, disposition, note, words=words, lost_at=lost_at)
        except HandoffError as exc:  # ended, or (NotYourConversation) another agent's: one answer for both
            return await self._closed_before(agent_id, conversation_id, exc)
        if lost_at is not None:
            return await self._hand_back_lost(entry, ticket_id, text, answered=True)
        if notice:
            await self.conversations.utter(conversation_id, once=close_mark(entry), **notice)
        # The web chat's marker: the assistant answers again, so the page shows its typing dots again.
        await self.conversations.resume(conversation_id, "utter_agent_handback", once=handback_mark(entry),
                                        **agent_left_marker(entry["request"].channel))
        if disposition == "resolved":
            await ask_csat(self.conversations, conversation_id, entry["request"].channel, agent_id,
                           self.repository.url)
        await handed_back(self.queue, conversation_id)  # else the waiting room finishes it (bot.handoff.handback)
        return {"ticket_id": ticket_id}

    async def _close_unanswered(self, agent_id: str, entry: dict, disposition: str, note: str, phone: str,
                                left_at: float) -> dict:
        """The customer was gone before any exchange (``bot.handoff.unanswered``): recorded as their
        abandonment, not an answer. 已解决 files no ledger item (nothing was resolved, nobody to follow
        up); a follow-up ticket or a callback the agent asks for is still made: they chose to chase the
        customer. No satisfaction survey. The answer says ``call_lost`` for a call: the desk does not confirm
        it as a web chat whose customer left before the agent joined."""
        conversation_id = entry["conversation_id"]
        ticket_id, notice = None, None
        lost = gone_reason(entry["channel"]) == "call_lost"
        try:
            if disposition in ("callback", "ticket"):
                ticket_id, notice = await self._filed(entry, agent_id, disposition, note, phone)
            text, words = await self._noted_words(entry, notice, phone, lost=lost)
            await self.queue.close_unanswered(conversation_id, agent_id, left_at, words=words)
        except HandoffError as exc:
            return await self._closed_before(agent_id, conversation_id, exc)
        if lost:
            return await self._hand_back_lost(entry, ticket_id, text, answered=False)
        if notice:  # said into the conversation: the page shows it when the customer comes back
            await self.conversations.utter(conversation_id, once=close_mark(entry), **notice)
        await self.conversations.resume(conversation_id, "utter_agent_handback", once=handback_mark(entry))
        await handed_back(self.queue, conversation_id)
        logger.info("handoff.desk.closed_unanswered agent=%s conversation=%s", agent_id, conversation_id)
        return {"ticket_id": ticket_id, "customer_gone": True}

    async def _filed(self, entry: dict, agent_id: str, disposition: str, note: str, phone: str
                     ) -> tuple[str | None, dict | None]:
        """What the close files for ``disposition`` (not a transfer): its ticket and the customer's notice of it (a
        message), or (None, None). Filed once for the claim: an earlier try's ticket (cut off before the queue's
        script, bot.handoff.close_filing) is the one answered, not filed again."""
        if disposition == "callback":
            return await self._callback(entry, agent_id, note, phone)
        earlier = await close_filing.filed_before(self.repository, entry["conversation_id"], close_mark(entry),
                                                  disposition)
        if earlier is not None:
            ticket_id = earlier["ticket_id"]
        else:
            reach = await self._follow_up_number(entry, phone) if disposition == "ticket" else None
            ticket_id = await disposition_ticket(entry["request"], disposition, note, agent_id, callback_phone=reach,
                                                 filed_by=close_mark(entry))
        notice = {"response": "utter_agent_closed_with_ticket", "ticket_id": ticket_id} \
            if ticket_id and disposition == "ticket" else None
        return ticket_id, notice

    async def _hand_back_lost(self, entry: dict, ticket_id: str | None, text: dict | None, *, answered: bool) -> dict:
        """The end of a lost call's close (``bot.handoff.lost_calls``): what it filed texted to the caller, then back
        to the assistant without a word (its line is dead). The answer says where it was texted (``notice_texted``,
        masked) or why not (``notice_withheld``: the caller opted out), so the desk tells the agent whether the caller
        learns the ticket's number."""
        conversation_id = entry["conversation_id"]
        told = await lost_calls.send_text(text, self.repository)  # notice_texted, or notice_withheld and why
        if told:
            await lost_calls.texted(self.queue, conversation_id, text)
        await self.conversations.resume(conversation_id, None)
        await handed_back(self.queue, conversation_id)
        logger.info("handoff.desk.closed_lost_call conversation=%s texted=%s", conversation_id,
                    bool(told.get("notice_texted")))
        return {"ticket_id": ticket_id, "call_lost": True, **({} if answered else {"customer_gone": True}), **told}

    async def _noted_words(self, entry: dict, notice: dict | None, typed: str, *,
                           lost: bool) -> tuple[dict | None, str]:
        """What a close notes as its words (``close_words``, said by whoever hands back), and for a lost call the SMS
        its notice goes by instead: its close is noted silent (bot.handoff.lost_calls)."""
        if lost:
            text = await self._lost_caller_text(entry, notice, typed)
            return text, lost_calls.silent_close(text)
        return None, close_words(entry, **notice) if notice else ""

    async def _lost_caller_text(self, entry: dict, notice: dict | None, typed: str) -> dict | None:
        """The SMS of a lost call's notice, to the number its callback or follow-up reaches the caller on."""
        if not notice:
            return None
        try:
            return lost_calls.notice_text(notice, await self._callback_number(entry, typed),
                                          customer_id_of(entry["request"]),
                                          close=f"{entry['conversation_id']}:{close_mark(entry)}")
        except DeskError:  # no number known: the desk says the caller was not told
            return None

    async def _closed_before(self, agent_id: str, conversation_id: str, refused: HandoffError | None = None, *,
                             claimed_at: float | None = None) -> dict:
        """The answer to a close of a conversation the agent closed already, as that close's: the agent pressed 结束
        again after an error (the close cut off after the queue's script: Redis not answering, the server
        restarting) or a second request met the first's script done. What that close still owes is done now, as the
        waiting room would do it 30 s on: its event recorded, once, dated when it was made, and the customer handed
        back with its words, once. Found in review: the retry was refused with ``error_not_serving`` (该会话已结束，
        或不是由您接待), the close left open on the agent's screen, the customer paused until the waiting room's pass.
        A transfer the agent made is answered so too while the customer waits from it (:meth:`_transferred_before`).
        Anything else (another agent's, ended otherwise, never was, a close of an earlier claim than ``claimed_at``
        says): ``error_not_serving``, as ``_held`` answers."""
        entry = await self.queue.entry(conversation_id)
        if entry is not None and (entry["state"] == "waiting" or await self._seen_out_lost(conversation_id, entry)):
            transferred = await self._transferred_before(agent_id, conversation_id, claimed_at)
            if transferred is not None:
                return transferred
        if entry is None or entry["state"] != "closed" or entry["agent_id"] != agent_id or \
                not named_claim(claimed_at, entry["claimed_at"]):
            raise DeskError("error_not_serving", 404 if refused is None else 409) from refused
        if await handback_owed(self.queue, conversation_id):
            await finish(self.queue, self.conversations, conversation_id)
            await handed_back(self.queue, conversation_id)
        else:
            await self.queue.close_recorded(conversation_id, late=True)
        words, lost_at = (as_text_or_none(v) for v in await self.queue.redis.hmget(
            keys.conversation(conversation_id), [WORDS_FIELD, LOST_AT_FIELD]))
        noted = json.loads(words) if words else {}
        gone = entry["disposition"] == "customer_gone"  # HandoffQueue.close_unanswered's
        lost = lost_at is not None or (gone and gone_reason(entry["channel"]) == "call_lost")
        logger.info("handoff.desk.closed_before agent=%s conversation=%s", agent_id, conversation_id)
        # A lost call's close is noted silent, its notice kept as the SMS's fields (bot.handoff.lost_calls).
        values = noted.get("values") or (noted.get("text") or {}).get("fields") or {}
        return {"ticket_id": values.get("ticket_id") if noted.get("reason") == "closed" else None,
                "disposition": entry["disposition"], "closed_before": True,
                **({"customer_gone": True} if gone else {}), **({"call_lost": True} if lost else {})}

    async def _seen_out_lost(self, conversation_id: str, entry: dict) -> bool:
        """Whether the conversation left the queue as a lost call (the waiting room saw it out): a transfer of it the
        agent retries is answered as made, and lost (:meth:`_transferred_before`), not ``error_not_serving``."""
        return entry["state"] == "abandoned" and \
            as_text_or_none(await self.queue.redis.hget(keys.conversation(conversation_id), "reason")) == "call_lost"

    async def _transferred_before(self, agent_id: str, conversation_id: str,
                                  claimed_at: float | None = None) -> dict | None:
        """The answer to a retry of the agent's 转接 whose customer waits from it (the record's last transfer is theirs,
        made at the desk: not a conversation put back as they left), as that transfer's; what it still owes done now
        (its events recorded once, the customer told once), as the waiting room would 30 s on. A call lost meanwhile
        (before or as it was transferred: ``transfer_owed.lost_on_the_way``), seen out of the queue now or already,
        is told nothing and answered ``call_lost``. None otherwise."""
        noted, transferred_claim = (as_text_or_none(v) for v in await self.queue.redis.hmget(
            keys.conversation(conversation_id), [TRANSFER_FIELD, "transfer_claimed_at"]))
        owed = json.loads(noted) if noted else {}
        if owed.get("agent_id") != agent_id or owed.get("says") not in (TRANSFERRED, CALLBACK_TRANSFERRED):
            return None
        if transferred_claim is not None and not named_claim(claimed_at, float(transferred_claim)):
            return None  # the transfer of another claim than the page's
        if await self.queue.redis.zscore(keys.transfers(), conversation_id) is not None:
            await finish_transfer(self.queue, self.conversations, conversation_id)  # nothing said to a lost call
            await transfer_told(self.queue, conversation_id)
        else:
            await self.queue.transfer_recorded(conversation_id, late=True)
        lost = await lost_on_the_way(self.queue, self.conversations, conversation_id)
        position = None if lost else await self.queue.position(conversation_id)
        logger.info("handoff.desk.transferred_before agent=%s conversation=%s", agent_id, conversation_id)
        return {"transferred_to": owed["to_skill"], "position": position.position if position else 0,
                "disposition": "transfer", "closed_before": True, **({"call_lost": True} if lost else {})}

    async def _callback(self, entry: dict, agent_id: str, note: str, typed: str) -> tuple[str, dict]:
        """The callback's work item, and what the customer is told (a message: its reply, and by when, on
        which number, masked). Written whole here, so `kefu validate` reads which values fill that reply.

        Without a number (typed by the agent, or known: the customer's, a caller's line, one given
        while waiting) nobody could ever call back, so the agent is asked for one first.
        """
        request, now = entry["request"], self.queue.clock()
        earlier = await close_filing.filed_before(self.repository, entry["conversation_id"], close_mark(entry),
                                                  "callback")
        if earlier is not None:  # an earlier try of this close booked it (bot.handoff.close_filing)
            ticket_id, phone = earlier["ticket_id"], earlier["details"]["callback_phone"]
            due = datetime.fromisoformat(earlier["details"]["callback_by"])
        else:
            phone = await self._callback_number(entry, typed)
            ticket_id, due = await agent_callback_ticket(
                request, phone=phone, note=note, agent_id=agent_id, now=now,
                within_hours=load_waiting_room().callback_within_hours, filed_by=close_mark(entry))
        return ticket_id, {"response": "utter_agent_closed_with_callback", "ticket_id": ticket_id,
                           "callback_by": promised_time(due, now), "phone_masked": masking.mask_phone(phone)}

    async def _follow_up_number(self, entry: dict, typed: str) -> str | None:
        """Where a 转工单跟进 reaches a customer nobody knows (found by a tester: a ticket with no
        customer and no number, which nobody could act on and the customer could not query)."""
        if customer_id_of(entry["request"]) is not None and not typed.strip():
            return None  # on the customer's account
        if not typed.strip() and await own_open_ticket(self.repository, entry["conversation_id"],
                                                       since=session_began(entry["request"])) is not None:
            return None  # the follow-up adds to the ticket this conversation filed, which reaches them already
        return await self._callback_number(entry, typed, missing="error_ticket_number")

    async def _callback_number(self, entry: dict, typed: str, missing: str = "error_callback_number") -> str:
        from bot.handoff.contact_details import CLEANERS, ContactDetailError, callback_number

        if typed.strip():
            try:
                return CLEANERS["callback_phone"](typed)
            except ContactDetailError as exc:
                raise DeskError(exc.code) from exc
        request = entry["request"]
        customer = await asyncio.to_thread(self.repository.get_customer, int(request.customer_id)) \
            if request.customer_id and str(request.customer_id).isdigit() else None
        if customer is not None:  # the number an agent corrected wins over the registered one
            return await asyncio.to_thread(callback_number, self.repository.url, customer)
        known = await known_phone(self.queue.redis, entry["conversation_id"], request)
        if not known:
            raise DeskError(missing)
        return known

    def sees_ticket(self, account: AgentAccount | None, ticket: dict) -> bool:
        """A ticket is for the agents of its skill group (and supervisors): others do not read its numbers."""
        skill = self.queue.rules.ticket_skill(ticket["kind"], named_skill(ticket), fault_of(ticket))
        return account is not None and account.sees(skill)

    async def _work_item(self, agent_id: str, ticket_id: str) -> dict:
        """An open work item the agent may see; 404 otherwise (whether it exists is not theirs to learn)."""
        ticket = await asyncio.to_thread(self.repository.get_ticket, ticket_id)
        account = await asyncio.to_thread(self.accounts.get, agent_id)
        if (ticket is None or not ticket["needs_human"] or ticket["status"] not in ("open", "assigned")
                or not self.sees_ticket(account, ticket)):
            raise DeskError("error_ticket", 404)
        return ticket

    async def reveal_work_item(self, agent_id: str, ticket_id: str) -> str | None:
        """The full number to call back, recorded like a packet's reveal."""
        ticket = await self._work_item(agent_id, ticket_id)
        phone = await asyncio.to_thread(phone_to_call, ticket, self.repository)
        if not phone:
            return phone
        await self._record(ticket["conversation_id"] or f"ticket:{ticket['ticket_id']}", "handoff_pii_revealed",
                           {"agent_id": agent_id, "field": "phone", "ticket_id": ticket["ticket_id"]})
        logger.info("handoff.desk.revealed agent=%s ticket=%s field=phone", agent_id, ticket["ticket_id"])
        return phone

    async def finish_work_item(self, agent_id: str, ticket_id: str, note: str = "") -> None:
        ticket = await self._work_item(agent_id, ticket_id)
        await asyncio.to_thread(self.repository.move_ticket, ticket["ticket_id"], "resolved",
                                history_note("work_item_done", agent=agent_id, note=note[:500]))
        await asyncio.to_thread(self.repository.set_ticket_owner, ticket["ticket_id"], agent_id, if_unowned=True)
        message_id = (ticket.get("details") or {}).get("voice_message_id")
        if message_id:  # its recording is kept KEFU_VOICE_MESSAGE_EXPIRY_SECONDS more, then deleted
            await asyncio.to_thread(self.recordings.expire, message_id, "voice_message",
                                    get_settings().voice_message_expiry_s)

    async def work_item_audio(self, agent_id: str, ticket_id: str, *, new_playback: bool = True) -> tuple[bytes, str]:
        """The recording of a voice-message work item (audio, content type), for an agent of its skill
        group to listen to, whichever instance took the message. ``new_playback=False``: a part of a
        playback already recorded (a range request past its start), checked but not recorded again."""
        ticket = await self._work_item(agent_id, ticket_id)
        audio = await asyncio.to_thread(voice_message_audio, ticket, self.recordings, get_settings().data_dir)
        if audio is None:
            raise DeskError("error_ticket", 404)
        if new_playback:
            await self._played(ticket["conversation_id"] or f"ticket:{ticket['ticket_id']}", agent_id,
                               "voice_message", (ticket.get("details") or {}).get("voice_message_id") or "",
                               ticket_id=ticket["ticket_id"])
        return audio

    async def caller_clip(self, agent_id: str, conversation_id: str, clip_id: str, *,
                          new_playback: bool = True) -> tuple[bytes, str]:
        """A phone caller's untranscribed turn (audio, content type), for the agent serving the
        conversation (or a supervisor); only a clip that conversation names, so an id from another
        call plays nothing. ``new_playback`` as for :meth:`work_item_audio`."""
        from bot.handoff.accounts import SUPERVISOR
        from bot.ivr.caller_clips import clip_ids

        if await asyncio.to_thread(self.accounts.role_of, agent_id) != SUPERVISOR:
            await self._held(agent_id, conversation_id)
        audio = await asyncio.to_thread(playable, self.recordings, get_settings().data_dir, CALLER_CLIP, clip_id) \
            if clip_id in clip_ids(await self.conversations.events(conversation_id)) else None
        if audio is None:
            raise DeskError("error_clip", 404)
        if new_playback:
            await self._played(conversation_id, agent_id, "caller_clip", clip_id)
        return audio

    async def _played(self, conversation_id: str, agent_id: str, kind: str, recording_id: str, **extra) -> None:
        """A customer's voice was heard: recorded like a reveal (who, which recording, when)."""
        await self._record(conversation_id, "recording_played",
                           {"agent_id": agent_id, "kind": kind, "recording_id": recording_id, **extra})
        logger.info("handoff.desk.recording_played agent=%s conversation=%s kind=%s", agent_id, conversation_id, kind)

    async def _record(self, conversation_id: str, kind: str, data: dict) -> None:
        await record(conversation_id, kind, database_url=self.repository.url, **data)

