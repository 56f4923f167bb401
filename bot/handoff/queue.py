"""The handoff queue: one Redis sorted set per skill group, claimed atomically by Lua scripts.

Ordering: score = -priority * 1e12 + enqueue time in ms, so a higher priority always comes
first and equal priorities are served first come, first served. Everything (requests, claims,
agents' open conversations, handle times) is in Redis: a new client on the same Redis carries
on where a restarted process left off. KPI events go through ``recorder`` (the database by
default): handoff_queued, handoff_claimed (wait_s), handoff_abandoned (reason, wait_s; left_at and
removed_at when the customer left before the entry was removed; agent_id when an agent closed a
conversation whose customer was gone before any exchange, or the customer left as an agent claimed them, before
the claim reached them), handoff_customer_left (left while served), handoff_closed (disposition, wait_s, handle_s).
Each ``wait_s`` is the wait since the conversation last joined the queue: after a transfer, the
new one; the first agent's time was no wait.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from bot.handoff import keys
from bot.handoff.agents import (CALLS_PER_AGENT, IS_CALLBACK_LUA, PHONE_CHANNEL, AgentRoster, is_call, is_callback,
                                kinds_among, recorded_call)
from bot.handoff.desk_push import desk_changed
from bot.handoff.estimate import HandleHistory, mean_handle_time, wait_behind
from bot.handoff.handback import WORDS_FIELD, close_mark
from bot.handoff.handle_history import DatabaseHandleTimes
from bot.handoff.packet import transferred
from bot.handoff.presence import (HELD_AT_FIELD, PAGE_SILENT_S, VOUCH_LUA, WEBCHAT_CHANNEL, customer_gone,
                                  customer_pages_key, gone_among, gone_reason, customer_seen_key)
from bot.handoff.rules import HandoffRules, load_rules
from bot.redis_reconnect import reconnecting
from bot.redis_text import as_text, as_text_or_none

logger = logging.getLogger(__name__)

PRIORITY_WEIGHT = 1e12
# The record's field holding what a transfer still owes (bot.handoff.transfer_owed): its mark, who passed the
# customer on, from which group to which, the note, when the handling ended, what the customer is told next, the
# new wait's priority and customer (its ``handoff_queued`` says what was true then).
TRANSFER_FIELD = "transfer"
# How long a desk's claim is remembered under its request id, for the page's retry of a reply it never got.
CLAIM_REMEMBERED_S = 300

# How long the set a transfer notes its conversation in (``HandoffQueue.transfer``'s ``noted_in``) is kept: longer
# than a caller takes to retry a request cut off after the transfer's script.
NOTED_S = 3600

# How often a script that writes the record anew is tried, recording what the record owes before each retry
# (HandoffQueue._unless_owed): once is enough unless something else cut off in between.
OWED_TRIES = 3

Recorder = Callable[[str, str, str, dict], Awaitable[None]]


class HandoffError(Exception):
    """A queue operation that does not fit the conversation's state."""


class NotYourConversation(HandoffError):
    """An agent tried to close or act on a conversation another agent holds."""


class CallLost(HandoffError):
    """A transfer refused: the call's process stopped vouching for it (``HandoffQueue.transfer``'s ``unless_lost``):
    its line went with it, and nobody would wait for the next group."""


@dataclass
class HandoffRequest:
    conversation_id: str
    channel: str
    skill: str
    priority: int
    customer_id: str | None
    context: dict = field(default_factory=dict)


@dataclass
class QueuePosition:
    position: int
    estimated_wait_s: float


# The record's field a close's script notes its ``handoff_closed`` in until it is recorded (``HandoffQueue.close``):
# what the event needs that the record does not hold (the note), as JSON.
CLOSE_FIELD = "close_unrecorded"

# The fields of the record a close's event is recorded from (``HandoffQueue.close_recorded``), CLOSE_FIELD first.
_CLOSE_EVENT_FIELDS = [CLOSE_FIELD, "agent_id", "disposition", "skill", "channel", "claimed_at", "ended_at",
                       "waiting_since", "enqueued_at"]

# The record's field a close's script notes a call's loss in (``HandoffQueue.close``'s ``lost_at``): a retry of the
# close answers as the close did (bot.handoff.desk.Desk.close).
LOST_AT_FIELD = "lost_at"

# Whether the record still owes the events of a claim, a transfer or a close cut off after its script (noted under
# their marks, ``HandoffQueue.claim_recorded``, ``transfer_recorded`` and ``close_recorded``): the scripts that write
# the record anew answer 'owed' then, and the caller records them first (``HandoffQueue._unless_owed``). Found in
# review: a second transfer, or the customer queued again, within the waiting room's grace lost the first's events
# for good.
_OWES_EVENTS = """
local function owes_events(key)
  return redis.call('HEXISTS', key, 'claim_unrecorded') == 1 or redis.call('HEXISTS', key, 'transfer_unrecorded') == 1
    or redis.call('HEXISTS', key, '""" + CLOSE_FIELD + """') == 1
end
"""

# Enqueue unless already waiting or being served: returns the state it found ("" when new), or 'owed'
# (_OWES_EVENTS: nothing written).
# ``call`` (ARGV[9], "1"/"0"): serving it puts the agent on the phone (bot.handoff.agents.is_call).
# A call on the line is vouched for as it joins (bot.handoff.presence.VOUCH_LUA), as of ARGV[10]: now (not
# when its wait began: a caller back at a place kept from minutes ago was taken for a lost call, found in review).
_ENQUEUE = VOUCH_LUA + _OWES_EVENTS + """
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'waiting' or state == 'claimed' then return state end
if owes_events(KEYS[2]) then return 'owed' end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'request', ARGV[1], 'state', 'waiting', 'skill', ARGV[2],
           'priority', ARGV[3], 'enqueued_at', ARGV[4], 'channel', ARGV[6], 'waiting_since', ARGV[8],
           'call', ARGV[9])
vouch(KEYS[2], ARGV[10])
redis.call('PERSIST', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[7])
return ''
"""

# KEYS[1] the agent's active set, KEYS[2] the joins owed (bot.handoff.joined), KEYS[3] the desk request's
# claim (keys.claim_request; "" without a request id), KEYS[4..] the queues of the agent's skills.
# ARGV: agent id, now, capacity, conversation key prefix, then bot.handoff.presence's key prefixes
# (seen, open pages), PAGE_SILENT_S, then CALLS_PER_AGENT, the phone's channel and the web chat's, then
# CLAIM_REMEMBERED_S, then bot.handoff.presence.HELD_AT_FIELD.
# A request the agent's desk sent before (its reply lost, the page retries) gets the conversation it took
# while that is still the agent's: {'again', id, 0}. Otherwise the claim is remembered under its request id,
# its event noted as not yet recorded (``claim_unrecorded``), and the customer noted in the joins owed, in this
# script: whatever cuts the desk's request off after it,
# the retry and the waiting room know what it did. A
# web-chat customer with no open page (bot.handoff.presence) keeps their place but is passed over: the
# head of each queue is its first entry whose customer is there. Whose page tells is
# bot.handoff.presence.page_tells_presence, here on the record's fields: a web chat's, unless it is a
# call (a callback booked in a web chat: the customer may have closed the page, an agent rings them).
# A call whose record the process holding it last vouched for (HELD_AT_FIELD) PAGE_SILENT_S ago or more is
# gone too: that process died, and the line with it (found in review: agents were handed dead calls). The
# claim keeps the field: the process goes on vouching for the call while the agent serves it (bot.ivr.held_calls).
# is_call is bot.handoff.agents.recorded_call: the ``call`` field, else (a record queued before it
# existed) the phone's channel or a packet whose ``callback`` is a non-empty object (IS_CALLBACK_LUA).
# An agent who holds CALLS_PER_AGENT calls passes over the calls too (they keep their place for a free
# agent): the head is the first chat.
# The claim forgets what the waiting room last told the customer (``notified``): found in review, "your agent left"
# (``with_agent``) stayed on the record of a customer another agent had taken.
# Returns {'ok', id, passed over} or {'again', id, 0} or {'empty', passed over} or {'on_a_call', passed over}
# (only calls wait, beside gone customers) or {'full'}.
_CLAIM = IS_CALLBACK_LUA + """
if KEYS[3] ~= '' then
  local taken = redis.call('GET', KEYS[3])
  if taken then
    local held = redis.call('HMGET', ARGV[4] .. taken, 'state', 'agent_id')
    if held[1] == 'claimed' and held[2] == ARGV[1] then return {'again', taken, 0} end
  end
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {'full'} end
local open_since = tonumber(ARGV[2]) - tonumber(ARGV[7])
local passed = 0
local function is_call(member)
  local fields = redis.call('HMGET', ARGV[4] .. member, 'call', 'channel')
  if fields[1] then return fields[1] == '1' end
  if not fields[2] then return false end
  if fields[2] == ARGV[9] then return true end
  local request = redis.call('HGET', ARGV[4] .. member, 'request')
  return request ~= false and is_callback(request)
end
local calls = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if is_call(member) then calls = calls + 1 end
end
local on_the_phone = calls >= tonumber(ARGV[8])
local calls_passed = 0
local function gone(member)
  local held_at = redis.call('HGET', ARGV[4] .. member, ARGV[12])
  if held_at then return tonumber(held_at) < open_since end
  if redis.call('HGET', ARGV[4] .. member, 'channel') ~= ARGV[10] or is_call(member) then return false end
  if redis.call('EXISTS', ARGV[5] .. member) == 0 then return false end
  return redis.call('ZCOUNT', ARGV[6] .. member, open_since, '+inf') == 0
end
local function head(key)
  local offset = 0
  while true do
    local batch = redis.call('ZRANGE', key, offset, offset + 99, 'WITHSCORES')
    if #batch == 0 then return nil, nil end
    for j = 1, #batch, 2 do
      if gone(batch[j]) then passed = passed + 1
      elseif on_the_phone and is_call(batch[j]) then calls_passed = calls_passed + 1
      else return batch[j], tonumber(batch[j + 1]) end
    end
    offset = offset + 100
  end
end
local best_key, best_member, best_score = nil, nil, nil
for i = 4, #KEYS do
  local member, score = head(KEYS[i])
  if member and (best_score == nil or score < best_score) then
    best_key, best_member, best_score = KEYS[i], member, score
  end
end
if best_member == nil then return {calls_passed > 0 and 'on_a_call' or 'empty', passed} end
redis.call('ZREM', best_key, best_member)
redis.call('SADD', KEYS[1], best_member)
redis.call('HSET', ARGV[4] .. best_member, 'state', 'claimed', 'agent_id', ARGV[1], 'claimed_at', ARGV[2],
           'claim_unrecorded', '1')
redis.call('HDEL', ARGV[4] .. best_member, 'notified')
redis.call('ZADD', KEYS[2], ARGV[2], best_member)
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], best_member, 'EX', ARGV[11]) end
return {'ok', best_member, passed}
"""

# When the wait now ending began: since the conversation last joined the queue (``waiting_since``; an
# entry written before it existed has only ``enqueued_at``). Not ``enqueued_at``, which a transfer keeps
# for the place in line: a wait counted from it took in the time with the first agent (found in review).
_WAITING_SINCE = """
local function waiting_since()
  return redis.call('HGET', KEYS[1], 'waiting_since') or redis.call('HGET', KEYS[1], 'enqueued_at')
end
"""

# Every script that ends a handoff (the customer left the queue or the agent, or the agent closed) notes
# the conversation in the hand-backs owed (bot.handoff.handback), in the same script as the state it ends.

# KEYS[1] conversation hash, KEYS[2] its queue, KEYS[3] the hand-backs owed. ARGV: now, reason, ttl, id.
# Returns waiting_since or false.
_ABANDON = _WAITING_SINCE + """
if redis.call('HGET', KEYS[1], 'state') ~= 'waiting' then return false end
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], 'state', 'abandoned', 'ended_at', ARGV[1], 'reason', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[4])
return waiting_since()
"""

# The customer left while an agent served them. KEYS[1] conversation hash, KEYS[2] the hand-backs owed, KEYS[3] the
# joins owed (bot.handoff.joined); ARGV: now, reason, ttl, the agent-active key prefix, conversation id.
# Returns {agent id, 1 if the claim's "an agent joined" was still owed, waiting_since}, or false when not claimed
# (the join stays noted: the waiting room records the claim's event if the desk and this leave were both cut off
# before it, then crosses it off, telling nobody). Still owed, the claim never reached the customer: they left as the agent
# took them (``HandoffQueue.abandon`` records it as their abandonment, not an answer).
_LEAVE = _WAITING_SINCE + """
if redis.call('HGET', KEYS[1], 'state') ~= 'claimed' then return false end
local agent = redis.call('HGET', KEYS[1], 'agent_id')
local unheard = redis.call('ZSCORE', KEYS[3], ARGV[5]) and 1 or 0
redis.call('SREM', ARGV[4] .. agent .. ':active', ARGV[5])
redis.call('HSET', KEYS[1], 'state', 'left', 'ended_at', ARGV[1], 'reason', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[5])
return {agent, unheard, waiting_since()}
"""

# Both scripts that end an agent's claim go on only while ``ARGV[1]``, the agent, holds ``KEYS[1]``, the
# conversation: otherwise they answer why not (bot.handoff.queue.HandoffQueue._released).
_HELD_BY_THE_AGENT = _WAITING_SINCE + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'claimed' then return {'not_claimed', state or ''} end
local holder = redis.call('HGET', KEYS[1], 'agent_id')
if holder ~= ARGV[1] then return {'not_yours', holder or ''} end
"""

# KEYS[1] conversation hash, KEYS[2] the agent's active set, KEYS[3] the hand-backs owed, KEYS[4] the closes owed
# (keys.closes_owed: a copy of the event owed, _CLOSE_EVENT_FIELDS as JSON, that no rewrite of the record drops:
# ``HandoffQueue.closes_recorded_late``). ARGV: agent, now,
# disposition, ttl, conversation id, then the record's field for the close's own words (bot.handoff.handback
# WORDS_FIELD) and those words ("" for none: none from an earlier try of the close stay), then the prefix of the
# groups' handle-time lists (keys.handle_times; "" for none: a close that is no answer,
# ``HandoffQueue.close_unanswered``) and their window, then the close's event owed (CLOSE_FIELD's JSON, "" for none),
# then when a call was lost ("" for none: ``HandoffQueue.close``'s ``lost_at``; the handle time ends then, and the
# record notes it, LOST_AT_FIELD).
# The handle time is kept, and the event noted as owed, in this script, as _TRANSFER does: whatever cuts the desk's
# request off after it, the waiting room (its look at the hand-backs owed, which this script notes) records it.
_CLOSE = _HELD_BY_THE_AGENT + """
local claimed_at = redis.call('HGET', KEYS[1], 'claimed_at')
redis.call('SREM', KEYS[2], ARGV[5])
if ARGV[7] == '' then redis.call('HDEL', KEYS[1], ARGV[6]) else redis.call('HSET', KEYS[1], ARGV[6], ARGV[7]) end
redis.call('HSET', KEYS[1], 'state', 'closed', 'ended_at', ARGV[2], 'disposition', ARGV[3])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], '""" + CLOSE_FIELD + """', ARGV[10])
  local record = redis.call('HMGET', KEYS[1], 'skill', 'channel', 'waiting_since', 'enqueued_at')
  redis.call('HSET', KEYS[4], ARGV[5] .. '|' .. claimed_at, cjson.encode({
    ['""" + CLOSE_FIELD + """'] = ARGV[10], agent_id = ARGV[1], disposition = ARGV[3], skill = record[1],
    channel = record[2], claimed_at = claimed_at, ended_at = ARGV[2], waiting_since = record[3] or '',
    enqueued_at = record[4] or ''}))
end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], '""" + LOST_AT_FIELD + """', ARGV[11]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[5])
if ARGV[8] ~= '' then
  local handle_times = ARGV[8] .. redis.call('HGET', KEYS[1], 'skill')
  local handled_until = tonumber(ARGV[2])
  if ARGV[11] ~= '' then
    handled_until = math.max(tonumber(claimed_at), math.min(tonumber(ARGV[11]), handled_until))
  end
  redis.call('LPUSH', handle_times, string.format('%.3f', math.max(0, handled_until - tonumber(claimed_at))))
  redis.call('LTRIM', handle_times, 0, math.max(1, tonumber(ARGV[9])) - 1)
end
return {'ok', waiting_since(), claimed_at}
"""

# A transfer (or a hand-back to the queue): _CLOSE's checks, then _ENQUEUE's record in one script, so a
# customer who leaves meanwhile finds the conversation either served or waiting, never in between (found
# in review: a caller who hung up as the agent transferred them was queued again, a dead call for the
# next agent). KEYS[1] conversation hash, KEYS[2] the agent's active set, KEYS[3] the new queue, KEYS[4] the
# transfers owed (bot.handoff.transfer_owed), KEYS[5] the old group's handle times.
# ARGV: agent, conversation id, then _ENQUEUE's ARGV[1..9] (as ARGV[3..11]), then what the rest of the transfer
# owes (TRANSFER_FIELD's JSON), now, when the agent's handling ended, the handle-time window, then the waiting
# room's notice state to start from ('' for none: ``HandoffQueue.transfer``'s ``notice``), then how long KEYS[6]
# keeps what it notes. KEYS[6]: a set the conversation is noted in ('' for none: ``HandoffQueue.transfer``'s
# ``noted_in``).
# The rest of the transfer is noted in the record and in the transfers owed, and the handle time kept, in this
# script: whatever cuts the desk's request off after it, the waiting room knows what is left to do. A call on
# the line is vouched for as it waits again (bot.handoff.presence.VOUCH_LUA), as _ENQUEUE does, unless its process
# vouched for it while the agent had it: then it keeps that word, so a call lost then is not taken for a live one
# for another PAGE_SILENT_S (found in review: a dead call transferred, or given back by an agent who left, was
# handed to the next agent, who greeted nobody).
# {'owed', ''} (_OWES_EVENTS) while the record still owes an earlier claim's or transfer's events: nothing written.
# ARGV[18]: a call whose process last vouched for it before this time is lost, and is not transferred ({'lost', ''}:
# nothing written; '' for no such check: ``HandoffQueue.transfer``'s ``unless_lost``).
_TRANSFER = VOUCH_LUA + _HELD_BY_THE_AGENT + _OWES_EVENTS + """
if owes_events(KEYS[1]) then return {'owed', ''} end
local claimed_at = redis.call('HGET', KEYS[1], 'claimed_at')
local held_at = redis.call('HGET', KEYS[1], '""" + HELD_AT_FIELD + """')
if ARGV[18] ~= '' and held_at and tonumber(held_at) < tonumber(ARGV[18]) then return {'lost', ''} end
local since = waiting_since()
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'request', ARGV[3], 'state', 'waiting', 'skill', ARGV[4],
           'priority', ARGV[5], 'enqueued_at', ARGV[6], 'channel', ARGV[8], 'waiting_since', ARGV[10],
           'call', ARGV[11], 'transfer', ARGV[12], 'transfer_claimed_at', claimed_at, 'transfer_since', since,
           'transfer_unrecorded', '1')
if ARGV[16] ~= '' then redis.call('HSET', KEYS[1], 'notified', ARGV[16]) end
if held_at then redis.call('HSET', KEYS[1], '""" + HELD_AT_FIELD + """', held_at) else vouch(KEYS[1], ARGV[13]) end
if KEYS[6] ~= '' then
  redis.call('SADD', KEYS[6], ARGV[2])
  redis.call('EXPIRE', KEYS[6], ARGV[17])
end
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[13], ARGV[2])
redis.call('LPUSH', KEYS[5], string.format('%.3f', math.max(0, tonumber(ARGV[14]) - tonumber(claimed_at))))
redis.call('LTRIM', KEYS[5], 0, math.max(1, tonumber(ARGV[15])) - 1)
return {'ok', since, claimed_at}
"""

# The proven customer's request, written only while the claim it was read under still holds (KEYS[1]
# conversation hash; ARGV: agent, claimed_at, request JSON): 1, else 0 (read it again).
_PROVEN = """
local held = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'claimed_at')
if held[1] ~= 'claimed' or held[2] ~= ARGV[1] or tonumber(held[3]) ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'request', ARGV[3])
return 1
"""


def event_id_of(conversation_id: str, mark: str, kind: str) -> str:
    """The id of the ``kind`` event of the step noted under ``mark``: the same whoever records it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kefu:{conversation_id}:{mark}:{kind}").hex


def utc(at: float) -> dt.datetime:
    """A queue time as an outcome event's ``at`` (naive UTC, bot.outcomes.events)."""
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).replace(tzinfo=None)


def finished_ttl_s() -> int:
    """How long a finished queue record stays in Redis (``KEFU_QUEUE_RECORD_EXPIRY_SECONDS``)."""
    from bot.settings import get_settings

    return get_settings().queue_record_expiry_s


def score(priority: int, enqueued_ms: float) -> float:
    return -int(priority) * PRIORITY_WEIGHT + enqueued_ms


def transfer_mark(agent_id: str, at: float) -> str:
    """The mark of the transfer ``agent_id`` made at ``at`` (the packet's hand-over names both): what is said and
    noted once of it is said and noted under this."""
    return f"transferred:{agent_id}:{at!r}"


def left_by_customer(entry: dict | None, agent_id: str) -> bool:
    """The customer left ``agent_id``'s claim (``_LEAVE``): not a claim the agent lost otherwise (signed out, taken
    back: the entry waits, is another agent's again, or was left after that: found in review, a caller put back by
    a sign-out who then hung up had the signed-out agent's claim go on to the next customer), nor one closed."""
    return entry is not None and entry["state"] == "left" and as_text(entry.get("agent_id") or "") == agent_id


class HandoffQueue:
    """See the module docstring. ``recorder`` defaults to the database's conversation events."""

    def __init__(self, redis: "redis.Redis", clock: Callable[[], float] = time.time, *,
                 rules: HandoffRules | None = None, recorder: Recorder | None = None,
                 history: HandleHistory | None = None) -> None:
        self.redis = redis
        self.clock = clock
        self._rules = rules
        self._recorder = recorder
        # Handle times for an estimate while Redis has none: from the record the queue writes to
        # (the database's, unless a recorder was given: tests keep their events to themselves).
        self._history = history if history is not None or recorder is not None else DatabaseHandleTimes()
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._abandon = redis.register_script(_ABANDON)
        self._leave = redis.register_script(_LEAVE)
        self._close = redis.register_script(_CLOSE)
        self._transfer = redis.register_script(_TRANSFER)
        self._proven = redis.register_script(_PROVEN)

    @property
    def rules(self) -> HandoffRules:
        return self._rules or load_rules()

    @property
    def roster(self) -> AgentRoster:
        return AgentRoster(self.redis, self.clock, self.rules.presence_timeout_s)

    # -- customers -----------------------------------------------------
    async def enqueue(self, request: HandoffRequest, *, enqueued_at: float | None = None,
                      waiting_since: float | None = None, back_in_line: bool = False) -> QueuePosition:
        """Join the skill's queue; asking again while waiting keeps the place in line. ``enqueued_at``: when
        the wait began, if before now (a booked callback: the time promised, bot/contacts/offer.py), so its
        speed of answer runs from then (found in review: a callback offered late was answered "in 10 s").
        ``back_in_line``: the customer comes back to the place they left (a phone caller whose number keyed
        after a hold key would not do, ``bot.ivr.handoff.QueueHandoff.rejoin``): its ``handoff_queued`` says so,
        and the reports count one wait, that leaving no way out (bot/analytics/waits.py ``one_wait``), from its
        ``waiting_since`` kept (a transferred caller's wait began at the transfer, not at ``enqueued_at``)."""
        now = self.clock() if enqueued_at is None else enqueued_at
        since = min(now if waiting_since is None else waiting_since, self.clock())
        try:
            found = await self._unless_owed(request.conversation_id, lambda: self._enqueue(
                keys=[keys.queue(request.skill), keys.conversation(request.conversation_id)],
                args=[*self._enqueue_args(request, now, waiting_since=since), repr(self.clock())],
            ))
            position = await self.position(request.conversation_id) or QueuePosition(0, 0.0)
        except (RedisError, OSError):
            await self._withdraw(request, now)
            raise
        if not as_text(found):  # recorded once the request stands, with its place read
            await self._queued(request, back_in_line=back_in_line)
        return position

    async def _withdraw(self, request: HandoffRequest, enqueued_at: float) -> None:
        """A request that failed is not left waiting: the caller tells the customer it failed (an apology, a
        callback offered; on the phone the flow's ``on_failure``), so a record this request wrote before the
        error (its reply lost, its place unreadable) comes out of the queue, as when the write itself failed
        (nothing recorded). Found in a fault review: Redis stalling just after the write left a customer told
        "no agent can be reached" waiting in line unseen, answered by the bot and the waiting room both, and
        handed to an agent later. Only this request's record (its ``enqueued_at``): a customer already in
        line keeps their place. Best effort: with Redis still down it stays, and the log says so."""
        try:
            entry = await self.entry(request.conversation_id)
            if entry is None or entry["state"] != "waiting" or entry["enqueued_at"] != enqueued_at:
                return
            await self._abandon(keys=[keys.conversation(request.conversation_id), keys.queue(entry["skill"]),
                                      keys.handbacks()],
                                args=[repr(self.clock()), "queue_unavailable", finished_ttl_s(),
                                      request.conversation_id])
            logger.warning("handoff.enqueue.withdrawn conversation=%s", request.conversation_id)
        except (RedisError, OSError):
            logger.warning("handoff.enqueue.not_withdrawn conversation=%s", request.conversation_id)

    def _enqueue_args(self, request: HandoffRequest, enqueued_at: float, *, waiting_since: float | None = None) -> list:
        """_ENQUEUE's ARGV[1..9] (the record's fields and score); the wait counts from ``waiting_since``
        (default now: a transfer keeps ``enqueued_at`` for the place in line, but waits anew)."""
        since = self.clock() if waiting_since is None else waiting_since
        return [json.dumps(asdict(request), ensure_ascii=False, default=str), request.skill, int(request.priority),
                repr(enqueued_at), score(request.priority, enqueued_at * 1000), request.channel,
                request.conversation_id, repr(since), "1" if is_call(request.channel, request.context) else "0"]

    async def _queued(self, request: HandoffRequest, *, transferred: bool = False, event_id: str | None = None,
                      at: float | None = None, back_in_line: bool = False) -> None:
        """``transferred``: queued again by an agent (a transfer, or given back): the same handoff.
        ``back_in_line``: back at the place the customer left: the same wait."""
        await self._record(request.conversation_id, "handoff_queued", request.channel,
                           {"skill": request.skill, "priority": request.priority, "customer_id": request.customer_id,
                            **({"transferred": True} if transferred else {}),
                            **({"back_in_line": True} if back_in_line else {})}, event_id=event_id, at=at)
        logger.info("handoff.queued conversation=%s skill=%s priority=%s",
                    request.conversation_id, request.skill, request.priority)

    async def position(self, conversation_id: str) -> QueuePosition | None:
        """1-based place in line and its estimated wait; (0, 0) once an agent has it; None if not queued."""
        entry = await self.entry(conversation_id)
        if entry is None:
            return None
        if entry["state"] == "claimed":
            return QueuePosition(0, 0.0)
        if entry["state"] != "waiting":
            return None
        rank = await self.redis.zrank(keys.queue(entry["skill"]), conversation_id)
        if rank is None:
            return None
        ahead = await self._kinds_ahead(entry["skill"], rank)
        return QueuePosition(sum(ahead) + 1, await self._wait_behind(entry["skill"], ahead, entry["call"]))

    async def abandon(self, conversation_id: str, reason: str) -> None:
        """The customer left (hung up, cancelled, timed out, chose a callback...): the entry goes.

        Waiting: out of the queue. Being served: out of the agent's conversations (the desk's open stream is
        woken to show it ended), so no agent works on a customer who is gone. Anything else: nothing to do.
        An agent who claims the entry after it was read waiting gets the second case, not a caller
        who hung up (found in review: the agent kept the call, and with it their one call slot). A customer who
        leaves before the claim reached them (the desk had not told them an agent joined) gave up waiting: see
        ``_left_unheard``.
        """
        entry = await self.entry(conversation_id)
        if entry is None:
            return
        if entry["state"] == "waiting" and await self.stop_waiting(conversation_id, reason):
            return
        now = self.clock()
        left = await self._leave(keys=[keys.conversation(conversation_id), keys.handbacks(), keys.joins()],
                                 args=[repr(now), reason, finished_ttl_s(), keys.agent(""), conversation_id])
        if left is None:
            return
        await desk_changed(self.redis, conversation_id)  # an open desk ends the conversation now, not 15 s on
        agent, unheard = as_text(left[0]), int(left[1])
        if unheard:
            await self._left_unheard(conversation_id, entry, reason, agent, now, float(as_text(left[2])))
            return
        await self._record(conversation_id, "handoff_customer_left", entry["channel"],
                           {"reason": reason, "agent_id": agent})
        logger.info("handoff.customer_left conversation=%s reason=%s", conversation_id, reason)

    async def _left_unheard(self, conversation_id: str, entry: dict, reason: str, agent_id: str, now: float,
                            since: float) -> None:
        """The customer left as ``agent_id`` claimed them, before the claim reached them (``_LEAVE``: "an agent
        joined" still owed): their abandonment naming the agent, as a close of a customer gone before any exchange
        records it (``close_unanswered``), after the claim's own event (recorded here if the desk has not yet, dated
        when it was made), so the reports count a wait given up, not an answer. Found in review: a caller who hung
        up as an agent claimed them was recorded ``handoff_claimed`` then ``handoff_customer_left``, and counted
        answered (and "not closed by the agent") though no agent ever reached them."""
        claimed = await self.claim_recorded(conversation_id, late=True)
        claimed_at = (claimed or {}).get("claimed_at") or now
        await self._record(conversation_id, "handoff_abandoned", entry["channel"], {
            "reason": reason, "skill": entry["skill"], "wait_s": round(max(0.0, now - since), 3),
            "agent_id": agent_id, "claimed_wait_s": round(claimed_at - since, 3)},
            event_id=event_id_of(conversation_id, f"claimed:{agent_id}:{claimed_at!r}", "handoff_abandoned"))
        logger.info("handoff.left_as_claimed conversation=%s reason=%s agent=%s", conversation_id, reason, agent_id)

    async def stop_waiting(self, conversation_id: str, reason: str, *, left_at: float | None = None,
                           by: str | None = None) -> bool:
        """Out of the queue only if still waiting (atomic); False once an agent has it or it ended.

        For what the customer chose in the waiting room (取消排队, a callback): a press that
        arrives as an agent claims the conversation must not end the agent's conversation.
        ``left_at``: when the customer actually left, if before now; a web chat that left the queue
        because its page is gone (``customer_gone``) left when it was last seen, not when the grace
        period ended. The wait recorded is the wait until then; ``removed_at`` says when the entry went.
        ``by``: the supervisor who removed it (a gone customer's entry, ``bot.handoff.supervisor``).
        """
        entry = await self.entry(conversation_id)
        if entry is None:
            return False
        now = self.clock()
        if left_at is None and reason == "customer_gone":
            absence = await customer_gone(self.redis, entry, now)
            left_at = absence.seen_at if absence else None
        since = await self._abandon(keys=[keys.conversation(conversation_id), keys.queue(entry["skill"]),
                                          keys.handbacks()],
                                    args=[repr(now), reason, finished_ttl_s(), conversation_id])
        if since is None:
            return False
        left = now if left_at is None else min(left_at, now)
        wait_s = round(max(0.0, left - float(as_text(since))), 3)
        when = {"left_at": round(left, 3), "removed_at": round(now, 3)} if left_at is not None else {}
        await self._record(conversation_id, "handoff_abandoned", entry["channel"],
                           {"reason": reason, "skill": entry["skill"], "wait_s": wait_s, **when,
                            **({"by": by} if by else {})})
        logger.info("handoff.abandoned conversation=%s reason=%s", conversation_id, reason)
        return True

    async def close_unanswered(self, conversation_id: str, agent_id: str, left_at: float, *, words: str = "") -> None:
        """The agent closes a conversation whose customer was gone before any exchange
        (``bot.handoff.unanswered``): the slot is freed like any close, but what is recorded is the
        customer's abandonment (``handoff_abandoned``, reason ``customer_gone``, or ``call_lost`` for a call
        whose process died, the wait until they left, and the agent), not an answer: no handle time, no
        disposition."""
        await self._release(conversation_id, agent_id, self.clock(), "customer_gone", words, answered=False,
                            owed=json.dumps({"unanswered": True, "left_at": left_at}))
        await self.close_recorded(conversation_id)  # noted as owed by the script, as an answered close's event is
        logger.info("handoff.closed_unanswered conversation=%s agent=%s", conversation_id, agent_id)

    async def estimated_wait(self, skill: str, channel: str = "") -> float:
        """The wait a customer on ``channel`` joining ``skill``'s queue now would be told (a chat's
        unless ``channel`` is the phone's, ``ivr``: one call per agent, bot.handoff.agents.AgentRoster.slots)."""
        return await self._wait_behind(skill, await self._kinds_ahead(skill, None), channel == PHONE_CHANNEL)

    # -- agents --------------------------------------------------------
    async def claim_next(self, agent_id: str) -> HandoffRequest | None:
        """Take the best waiting conversation from the agent's skill groups, or None."""
        return (await self.take_next(agent_id))[1]

    async def take_next(self, agent_id: str, request_id: str = "") -> tuple[str, HandoffRequest | None]:
        """Take the best waiting conversation: ("ok", request), or why not, ("full", None) when the
        agent already serves their capacity, ("on_a_call", None) when they are on a call and only
        calls wait, or ("empty", None) when nobody waits for their groups (the desk tells the agent
        which: found by a tester, an agent at capacity was told the queue was empty).
        An agent on a call (``CALLS_PER_AGENT``: a caller, or a callback they ring) gets the first
        chat in line, the calls ahead of it keep their place for a free agent; otherwise the order is
        the queue's. Found in review: an agent on a call was handed a second caller.
        A web-chat customer whose page is gone is passed over (they keep their place while the waiting
        room's grace period lasts): found by a tester, agents were handed empty chats and "resolved" them.
        Not a callback booked in a web chat: its customer was told they could close the page. So is a call
        whose process stopped vouching for it (bot.handoff.presence): the waiting room sees it out.

        Atomic (one Lua script): two agents never get the same conversation, an agent at capacity
        gets nothing, and two desks of one agent cannot both take a call. An agent unknown to the
        roster serves every skill group.

        ``request_id``: the desk request's (the page sends one per 接入下一位, and the same one again when it
        got no answer). A request seen before answers ("again", request) with the conversation it took, while
        the agent still has it, for ``CLAIM_REMEMBERED_S``: found in review, a claim whose reply was lost (a
        timeout, the server restarting) was retried and took a second customer, the first never told.
        """
        state = await self.roster.get(agent_id)
        skills = list(state.skills) if state and state.skills else list(self.rules.skills)
        capacity = state.capacity if state else self.rules.agent_capacity
        now = self.clock()
        result = await self._claim(
            keys=[keys.agent_active(agent_id), keys.joins(),
                  keys.claim_request(agent_id, request_id) if request_id else ""] + [keys.queue(s) for s in skills],
            args=[agent_id, repr(now), capacity, keys.conversation_prefix(), customer_seen_key(""),
                  customer_pages_key(""), PAGE_SILENT_S, CALLS_PER_AGENT, PHONE_CHANNEL, WEBCHAT_CHANNEL,
                  CLAIM_REMEMBERED_S, HELD_AT_FIELD],
        )
        status = as_text(result[0])
        passed = int(result[-1]) if status != "full" else 0
        if passed:
            logger.info("handoff.claim.passed_over_gone agent=%s count=%d", agent_id, passed)
        if status not in ("ok", "again"):
            return status, None
        conversation_id = as_text(result[1])
        # Recorded when it was taken, unless cut off then: the retry records it, dated then.
        entry = await self.claim_recorded(conversation_id, late=status == "again")
        if status == "again":
            logger.info("handoff.claimed_again conversation=%s agent=%s", conversation_id, agent_id)
            return status, entry["request"]
        logger.info("handoff.claimed conversation=%s agent=%s", conversation_id, agent_id)
        return "ok", entry["request"]

    async def claim_recorded(self, conversation_id: str, *, late: bool = False) -> dict | None:
        """``handoff_claimed`` for the claim last made of the conversation (this wait: since it last joined the
        queue), unless recorded already, under an id of the claim's own (a second recording is stored once,
        bot.outcomes); ``late``: by a retry or the waiting room, for a claim cut off after its script
        (``bot.handoff.joined``), dated when it was made. The entry (None: gone)."""
        entry = await self.entry(conversation_id)
        key = keys.conversation(conversation_id)
        if entry is None or entry["claimed_at"] is None or not await self.redis.hexists(key, "claim_unrecorded"):
            return entry
        claimed_at = entry["claimed_at"]
        mark = f"claimed:{entry['agent_id']}:{claimed_at!r}"
        await self._record(conversation_id, "handoff_claimed", entry["channel"], {
            "agent_id": entry["agent_id"], "skill": entry["skill"],
            "wait_s": round(claimed_at - entry["waiting_since"], 3)},
            event_id=event_id_of(conversation_id, mark, "handoff_claimed"), at=claimed_at if late else None)
        await self.redis.hdel(key, "claim_unrecorded")
        return entry

    async def close(self, conversation_id: str, agent_id: str, disposition: str, note: str = "", *,
                    words: str = "", lost_at: float | None = None) -> None:
        """The agent is done: frees their slot, records the handle time, the disposition and their note.
        ``words``: what the close says before its hand-back (``bot.handoff.handback.close_words``), noted with it.
        ``lost_at``: when a call cut off after words with the agent was lost (its process died,
        ``bot.handoff.unanswered.call_lost_at``). Its close keeps the agent's disposition (they may have
        settled it before the line went) and notes the loss as the one before any exchange is recorded
        (reason ``call_lost``, ``left_at``), so reports tell it from a call that ended well; its handle time
        ends at the loss, not when the agent noticed (90 s and more later, lengthening every wait estimate).
        The event is noted as owed in the close's script and recorded after it (:meth:`close_recorded`): found in
        review, a close cut off in between (Redis not answering, the process dying) lost it for good."""
        await self._release(conversation_id, agent_id, self.clock(), disposition, words, lost_at=lost_at,
                            owed=json.dumps({"note": note, "lost_at": lost_at}, ensure_ascii=False))
        await self.close_recorded(conversation_id)

    async def close_recorded(self, conversation_id: str, *, late: bool = False) -> None:
        """``handoff_closed`` for the agent's close last noted in the record (``CLOSE_FIELD``), unless recorded already,
        under an id of the close's own (a second recording is stored once, bot.outcomes); ``late``: by the waiting
        room (``bot.handoff.handback.finish_owed``) or before a script writes the record anew (``_unless_owed``), for a
        close cut off after its script, dated when it was made. Its times are the record's, as the script left them.
        For a close of a customer gone before any exchange (:meth:`close_unanswered`), their ``handoff_abandoned``."""
        key = keys.conversation(conversation_id)
        fields = dict(zip(_CLOSE_EVENT_FIELDS, (as_text_or_none(v) for v in await self.redis.hmget(
            key, _CLOSE_EVENT_FIELDS))))
        if fields[CLOSE_FIELD] is None:
            return
        await self._close_event(conversation_id, fields, late)
        async with self.redis.pipeline(transaction=False) as pipe:  # recorded: owed neither here nor in the copy
            pipe.hdel(key, CLOSE_FIELD)
            pipe.hdel(keys.closes_owed(), f"{conversation_id}|{fields['claimed_at']}")
            await pipe.execute()

    async def closes_recorded_late(self, older_than_s: float) -> None:
        """The events of the closes noted owed ``older_than_s`` ago or more, recorded (:meth:`close_recorded`), from the
        close's copy (keys.closes_owed) when the record no longer has it. Found in review: during a rolling upgrade a
        process of the version before CLOSE_FIELD, queueing the customer again, wrote the record anew and dropped a
        close cut off after its script; or its waiting room finished the hand-back without recording the close: the
        agent's contact was never recorded."""
        due = self.clock() - older_than_s
        for owed_key, noted in (await self.redis.hgetall(keys.closes_owed())).items():
            fields = {name: value or None for name, value in json.loads(as_text(noted)).items()}
            if float(fields["ended_at"]) > due:
                continue
            conversation_id = as_text(owed_key).rsplit("|", 1)[0]
            await self.close_recorded(conversation_id, late=True)  # the record's, if it still owes a close
            if await self.redis.hexists(keys.closes_owed(), owed_key):  # that record was written anew without it
                await self._close_event(conversation_id, fields, late=True)
                await self.redis.hdel(keys.closes_owed(), owed_key)

    async def _close_event(self, conversation_id: str, fields: dict, late: bool) -> None:
        """Records the close's event from ``fields`` (_CLOSE_EVENT_FIELDS: the record's, or the close's copy)."""
        noted = json.loads(fields[CLOSE_FIELD])
        agent_id, channel, skill = fields["agent_id"], fields["channel"], fields["skill"]
        claimed, closed_at, lost_at = float(fields["claimed_at"]), float(fields["ended_at"]), noted.get("lost_at")
        waited_from = float(fields["waiting_since"] or fields["enqueued_at"])  # as _WAITING_SINCE reads it
        mark = close_mark({"agent_id": agent_id, "claimed_at": claimed})
        if noted.get("unanswered"):  # the customer's abandonment, not an answer: no disposition, no handle time
            left = min(noted["left_at"], closed_at)
            await self._record(conversation_id, "handoff_abandoned", channel, {
                "reason": gone_reason(channel), "skill": skill, "wait_s": round(max(0.0, left - waited_from), 3),
                "left_at": round(left, 3), "removed_at": round(closed_at, 3), "agent_id": agent_id,
                "claimed_wait_s": round(claimed - waited_from, 3)},
                event_id=event_id_of(conversation_id, mark, "handoff_abandoned"), at=closed_at if late else None)
        else:
            ended = closed_at if lost_at is None else max(claimed, min(lost_at, closed_at))  # as _CLOSE's handle time
            lost = {"reason": gone_reason(channel), "left_at": round(ended, 3)} if lost_at is not None else {}
            await self._closed_event(conversation_id, skill, channel, agent_id, fields["disposition"], noted["note"],
                                     ended - claimed, claimed - waited_from,
                                     event_id=event_id_of(conversation_id, mark, "handoff_closed"),
                                     at=closed_at if late else None, lost=lost)

    async def _closed_event(self, conversation_id: str, skill: str, channel: str, agent_id: str, disposition: str,
                            note: str, handle_s: float, wait_s: float, event_id: str | None = None,
                            at: float | None = None, lost: dict | None = None) -> None:
        await self._record(conversation_id, "handoff_closed", channel, {
            "agent_id": agent_id, "disposition": disposition, "skill": skill,
            "wait_s": round(wait_s, 3), "handle_s": round(handle_s, 3), **({"note": note} if note else {}),
            **(lost or {})}, event_id=event_id, at=at)
        logger.info("handoff.closed conversation=%s agent=%s disposition=%s", conversation_id, agent_id, disposition)

    async def _release(self, conversation_id: str, agent_id: str, now: float, disposition: str,
                       words: str = "", *, answered: bool = True, owed: str = "",
                       lost_at: float | None = None) -> tuple[float, float]:
        """Free the agent's slot and finish the entry (one Lua script); its (waiting_since, claimed_at).
        ``answered``: the handle time is kept (not for a customer gone before any exchange), ending at ``lost_at``
        for a call lost; ``owed``: the close's event, noted as owed (_CLOSE's CLOSE_FIELD)."""
        return self._released(conversation_id, await self._close(
            keys=[keys.conversation(conversation_id), keys.agent_active(agent_id), keys.handbacks(),
                  keys.closes_owed()],
            args=[agent_id, repr(now), disposition, finished_ttl_s(), conversation_id, WORDS_FIELD, words,
                  keys.handle_times("") if answered else "", self.rules.handle_time_window, owed,
                  "" if lost_at is None else repr(lost_at)]))

    @staticmethod
    def _released(conversation_id: str, result: list) -> tuple[float, float]:
        """_CLOSE's or _TRANSFER's answer: (waiting_since, claimed_at), or why not as the exception."""
        status = as_text(result[0])
        if status == "not_yours":
            raise NotYourConversation(f"{conversation_id} is held by another agent")
        if status == "lost":
            raise CallLost(f"{conversation_id} is a lost call")
        if status != "ok":
            raise HandoffError(f"{conversation_id} is not being served (state {as_text(result[1]) or 'none'})")
        return float(as_text(result[1])), float(as_text(result[2]))

    async def transfer(self, conversation_id: str, agent_id: str, skill: str, *, note: str = "",
                       agent_name: str = "", served_until: float | None = None, says: str = "",
                       requeued: dict | None = None, notice: str = "", noted_in: str = "",
                       unless_lost: bool = False) -> QueuePosition:
        """Close as ``transfer`` and queue again for ``skill``, keeping the original place in time.

        The packet carries the hand-over (who, from which group, when, the note) to the next agent.
        ``served_until``: when the agent was last there, for a conversation taken back from a desk gone
        quiet; its handle time ends then, not minutes later when it was taken back (that wait, counted,
        made the mean handle time, and so every estimate told to customers, longer).
        ``says``: what the caller tells the customer next (the desk: "transferred", then the place); noted with
        the transfer, the waiting room says it if the caller is cut off (``bot.handoff.transfer_owed``), until
        the caller crosses it off. Without it nothing more is owed once the events are recorded.
        ``requeued``: given back to the queue as the agent left (``bot.handoff.departures.requeue``): the
        ``handoff_requeued`` event's ``reason`` (and ``by``), recorded with the transfer's other events, under its mark.
        ``notice``: what the waiting room's next visit takes the customer to have been told last (its notice state,
        ``bot.handoff.watcher.notice_state``), written in the transfer's script: one cut off still has it.
        ``noted_in``: a set the conversation is added to in the transfer's script, kept ``NOTED_S``: a caller cut off
        after it learns on its retry what it did (the desk's sign-out, ``bot.handoff.departures.sign_out``).
        ``unless_lost``: a call its process last vouched for more than ``PAGE_SILENT_S`` ago is lost, and not moved
        (:class:`CallLost`), checked in the script that would move it (the desk: a lost call cannot be transferred, nor
        one lost as the desk checked; not a call bridged to the agent's phone, which the desk does not ask this of).
        """
        if skill not in self.rules.skills:
            raise HandoffError(f"unknown skill group {skill!r}")
        entry = await self.entry(conversation_id)
        if entry is None:
            raise HandoffError(f"{conversation_id} is not queued")
        now = self.clock()
        request: HandoffRequest = entry["request"]
        request.context = transferred({**(request.context or {}), "skill": entry["skill"]}, to_skill=skill,
                                      agent_id=agent_id, agent_name=agent_name, at=now, note=note)
        request.skill = skill
        handled_until = now if served_until is None else min(now, served_until)
        owed = {"mark": transfer_mark(agent_id, now), "agent_id": agent_id, "from_skill": entry["skill"],
                "to_skill": skill, "channel": entry["channel"], "note": note, "handled_until": handled_until,
                "says": says, "at": now, "priority": request.priority, "customer_id": request.customer_id,
                **({"requeued": requeued} if requeued else {})}
        self._released(conversation_id, await self._unless_owed(conversation_id, lambda: self._transfer(
            keys=[keys.conversation(conversation_id), keys.agent_active(agent_id), keys.queue(skill),
                  keys.transfers(), keys.handle_times(entry["skill"]), noted_in],
            args=[agent_id, conversation_id, *self._enqueue_args(request, entry["enqueued_at"]),
                  json.dumps(owed, ensure_ascii=False), repr(now), repr(handled_until),
                  self.rules.handle_time_window, notice, NOTED_S,
                  repr(now - PAGE_SILENT_S) if unless_lost else ""])))
        await self.transfer_recorded(conversation_id)
        if not says:
            await self.redis.zrem(keys.transfers(), conversation_id)
        return await self.position(conversation_id) or QueuePosition(0, 0.0)

    async def _unless_owed(self, conversation_id: str, script: Callable[[], Awaitable]):
        """``script``'s answer (_ENQUEUE's or _TRANSFER's), run once the events the record still owes (a claim's, a
        transfer's, a close's, cut off after their scripts: ``_OWES_EVENTS``) are recorded, dated when they happened,
        so the script writing the record anew loses none of them."""
        for _ in range(OWED_TRIES):
            answer = await script()
            if as_text(answer[0] if isinstance(answer, list) else answer) != "owed":
                return answer
            await self.transfer_recorded(conversation_id, late=True)  # a transfer's before the claim that followed it
            await self.claim_recorded(conversation_id, late=True)
            await self.close_recorded(conversation_id, late=True)  # and the close that ended that claim
        raise HandoffError(f"{conversation_id} still owes events after {OWED_TRIES} tries")

    async def transfer_recorded(self, conversation_id: str, *, late: bool = False) -> dict | None:
        """The events of the transfer last noted in the record (``handoff_closed`` for the agent who passed it
        on, ``handoff_queued`` for the new wait, ``handoff_requeued`` for one given back as the agent left),
        recorded unless recorded already, under ids of the transfer's own (a second recording is stored once,
        bot.outcomes); ``late``: by the waiting room, for a transfer cut off after its script
        (``bot.handoff.transfer_owed``), or before a script writes the record anew, dated when it was made. What the
        transfer noted (None: no transfer)."""
        key = keys.conversation(conversation_id)
        noted, claimed_at, since, unrecorded = (as_text_or_none(v) for v in await self.redis.hmget(
            key, [TRANSFER_FIELD, "transfer_claimed_at", "transfer_since", "transfer_unrecorded"]))
        if noted is None:
            return None
        owed = json.loads(noted)
        if unrecorded:
            claimed, since_at, at = float(claimed_at), float(since), owed["at"] if late else None
            await self._closed_event(conversation_id, owed["from_skill"], owed["channel"], owed["agent_id"],
                                     f"transfer:{owed['to_skill']}", owed["note"],
                                     max(0.0, owed["handled_until"] - claimed), claimed - since_at,
                                     event_id=event_id_of(conversation_id, owed["mark"], "handoff_closed"), at=at)
            await self._queued(await self._transfer_queued(conversation_id, owed), transferred=True,
                               event_id=event_id_of(conversation_id, owed["mark"], "handoff_queued"), at=at)
            if owed.get("requeued"):
                await self._record(conversation_id, "handoff_requeued", owed["channel"],
                                   {"agent_id": owed["agent_id"], **owed["requeued"]},
                                   event_id=event_id_of(conversation_id, owed["mark"], "handoff_requeued"), at=at)
            await self.redis.hdel(key, "transfer_unrecorded")
        return owed

    async def _transfer_queued(self, conversation_id: str, owed: dict) -> HandoffRequest:
        """The request as the transfer noted in ``owed`` queued it, for its ``handoff_queued``: found in review, one
        recorded late read the record's request as it was by then (the new group's agent had the customer prove who
        they are meanwhile: the wait was recorded as that customer's). A transfer noted before the request's fields
        were: the record's."""
        if "priority" not in owed:
            return HandoffRequest(**json.loads(as_text(await self.redis.hget(keys.conversation(conversation_id),
                                                                             "request"))))
        return HandoffRequest(conversation_id, owed["channel"], owed["to_skill"], owed["priority"], owed["customer_id"])

    async def proven(self, conversation_id: str, customer: dict) -> bool:
        """The customer being served proved who they are (asked from the desk, ``bot.handoff.desk_proof``):
        the packet names them from now on, so the agent's customer view and opt-out use the proven
        account. False when the conversation is not being served.

        Written only onto the request it was read from: found in review, a proof answered as the agent
        transferred the conversation wrote back the packet from before the transfer (its group, the note)."""
        while True:
            entry = await self.entry(conversation_id)
            if entry is None or entry["state"] != "claimed":
                return False
            request: HandoffRequest = entry["request"]
            request.customer_id = str(customer.get("id")) if customer.get("id") is not None else None
            request.context = {**(request.context or {}), "customer": customer,
                               "phone": (request.context or {}).get("phone") or customer.get("phone")}
            if await self._proven(keys=[keys.conversation(conversation_id)],
                                  args=[entry["agent_id"], repr(entry["claimed_at"]),
                                        json.dumps(asdict(request), ensure_ascii=False, default=str)]):
                return True

    # -- reading -------------------------------------------------------
    async def entry(self, conversation_id: str) -> dict | None:
        return self.from_record(conversation_id, await self.redis.hgetall(keys.conversation(conversation_id)))

    async def entries(self, conversation_ids: list[str]) -> list[dict]:
        """The entries of ``conversation_ids`` that exist, in that order, read in one pipelined round trip:
        the desk's list (every agent's, every two seconds), the supervisor's and the wallboard's read
        every waiting entry, and one at a time that cost ~0.5 s at 1 000 waiting (bench/RESULTS.md)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation_id in conversation_ids:
                pipe.hgetall(keys.conversation(conversation_id))
            found = await pipe.execute()
        entries = [self.from_record(conversation_id, raw) for conversation_id, raw in zip(conversation_ids, found)]
        return [entry for entry in entries if entry is not None]

    @staticmethod
    def from_record(conversation_id: str, raw: dict) -> dict | None:
        """A queue entry from its Redis hash (``HGETALL``), as every reader of the queue sees it; None if gone."""
        if not raw:
            return None
        values = {as_text(k): as_text(v) for k, v in raw.items()}
        request = HandoffRequest(**json.loads(values["request"]))
        enqueued_at = float(values.get("enqueued_at", 0))
        # When it last joined the queue: a transfer keeps ``enqueued_at`` (the place in time).
        waiting_since = float(values.get("waiting_since") or enqueued_at)
        if is_callback(request.context) and not (request.context or {}).get("transfers"):
            # A booked callback waits from the time promised (``enqueued_at``); one queued before this version
            # began its wait when it was offered, later than that (found when the desk showed it waiting 0 s).
            waiting_since = min(waiting_since, enqueued_at)
        return {
            "conversation_id": conversation_id, "request": request, "state": values.get("state", ""),
            "skill": values.get("skill", request.skill), "channel": values.get("channel", request.channel),
            "priority": int(values.get("priority", request.priority)),
            "enqueued_at": enqueued_at, "waiting_since": waiting_since,
            "claimed_at": float(values["claimed_at"]) if values.get("claimed_at") else None,
            "agent_id": values.get("agent_id"), "disposition": values.get("disposition"),
            "call": recorded_call(values.get("call"), values.get("channel", request.channel), values["request"]),
            "notified": values.get("notified"),  # what the customer was last told (bot.handoff.watcher.notice_state)
        }

    async def waiting(self, skill: str) -> list[str]:
        """Conversation ids waiting for ``skill``, in the order they will be served."""
        return [as_text(m) for m in await self.redis.zrange(keys.queue(skill), 0, -1)]

    async def serving(self, agent_id: str) -> list[str]:
        return sorted(as_text(m) for m in await self.redis.smembers(keys.agent_active(agent_id)))

    async def _wait_behind(self, skill: str, ahead: tuple[int, int], call: bool) -> float:
        """The estimate for a call (or a chat) behind ``ahead``, the (calls, chats) ahead of it in
        ``skill``'s queue (``_kinds_ahead``), with the agents' slots and handle times read now."""
        chat_slots, call_slots = await self.roster.slots(skill)
        return wait_behind(ahead, call, chat_slots, call_slots, await self.mean_handle_time(skill))

    async def mean_handle_time(self, skill: str) -> float:
        rules = self.rules
        return await mean_handle_time(self.redis, skill, rules.handle_time_window, rules.default_handle_time_s,
                                      self._history)

    async def _kinds_ahead(self, skill: str, ahead: int | None) -> tuple[int, int]:
        """(calls, chats) among the first ``ahead`` entries of the queue (None: all of them), leaving out
        the web-chat customers who are gone (bot.handoff.presence): they keep their place for the grace
        period, but claims pass them over, so they take no agent before anyone behind them. Found in
        review: behind a closed page, a customer the free slot took at once was told place 2 and a wait."""
        if ahead == 0:
            return 0, 0
        present = [call for _, call, gone in await self.in_line(skill, -1 if ahead is None else ahead - 1)
                   if not gone]
        return sum(present), len(present) - sum(present)

    async def in_line(self, skill: str, last: int = -1) -> list[tuple[str, bool, bool]]:
        """(conversation id, whether it is a call, whether the customer is gone) for the queue's entries
        up to index ``last`` (-1: all), in the order they will be served: four pipelined round trips."""
        members = [as_text(m) for m in await self.redis.zrange(keys.queue(skill), 0, last)]
        kinds = await kinds_among(self.redis, members)
        gone = await gone_among(self.redis, [{"conversation_id": m, "channel": channel, "call": call}
                                             for m, (call, channel) in zip(members, kinds)], self.clock())
        return [(member, call, member in gone) for member, (call, _) in zip(members, kinds)]

    async def _record(self, conversation_id: str, kind: str, channel: str, data: dict,
                      event_id: str | None = None, at: float | None = None) -> None:
        """``event_id``: the event's own; ``at``: when it happened, for an event recorded late (both as for
        ``bot.outcomes.outcome_event``, passed to the recorder in ``data``)."""
        recorder = self._recorder or database_recorder()
        data = {**data, **({"event_id": event_id} if event_id else {}), **({"at": utc(at)} if at is not None else {})}
        try:
            await recorder(conversation_id, kind, channel, data)
        except Exception:  # noqa: BLE001 - a lost metric must never break a handoff
            logger.warning("handoff.event.record_failed kind=%s conversation=%s", kind, conversation_id,
                           exc_info=True)


def database_recorder() -> Recorder:
    """Records events through the outcome recorder (bot/outcomes)."""
    from bot.outcomes import record as record_outcome

    async def record(conversation_id: str, kind: str, channel: str, data: dict) -> None:
        await record_outcome(conversation_id, kind, channel=channel, **data)

    return record


_clients: dict[tuple[str, int], "redis.Redis"] = {}


def redis_from_settings() -> "redis.Redis":
    """One redis.asyncio client per URL and event loop (``REDIS_URL``, set by the launcher)."""
    import asyncio

    from bot.settings import get_settings

    url = get_settings().redis.url or "redis://127.0.0.1:6379/0"
    key = (url, id(asyncio.get_running_loop()))
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(url, **reconnecting())
    return _clients[key]


def queue_from_settings() -> HandoffQueue:
    return HandoffQueue(redis_from_settings())
