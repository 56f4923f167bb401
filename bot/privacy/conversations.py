"""A customer's conversations in Redis: Rasa trackers (full transcripts), the handoff queue's record
and packet, the desk's self-help additions, an unfinished verification code, the customer's presence,
a phone call's state, WeChat replies held for quota, the mark that the customer asked to stay — all keyed
by the conversation id.

Keys are named one by one from the modules that write them rather than found by a pattern: a short
sender id such as ``demo`` would match an agent's keys under a ``*demo*`` pattern.
"""
from __future__ import annotations

import json
import re

import redis

from bot.channels.wechat_held import HELD, QUOTA
from bot.handoff import keys as handoff_keys
from bot.handoff.presence import presence_keys
from bot.ivr.call_state import call_key
from bot.ivr.line import call_id_of
from bot.redis_text import as_text
from bot.security.otp import PREFIX as VERIFY_PREFIX
from bot.session_keepalive import KEY as STAY_MARK_PREFIX

TRACKER_PREFIX = "kefu:events:"  # endpoints.yml's key_prefix + bot/tracker_store.py's ":events:"
WECHAT_HELD_PREFIX = "kefu:wechat:" + HELD  # bot/channels/wechat.py's guard prefix: replies held for quota
WECHAT_QUOTA_PREFIX = "kefu:wechat:" + QUOTA  # and how much of the quota is used


def tracker_keys(conversation_id: str) -> list[str]:
    base = TRACKER_PREFIX + conversation_id
    return [base, base + ":session", base + ":generation"]


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def conversation_keys(client: redis.Redis, conversation_id: str) -> list[str]:
    """The keys holding this conversation that exist now."""
    named = [*tracker_keys(conversation_id), handoff_keys.conversation(conversation_id),
             f"{VERIFY_PREFIX}:code:{conversation_id}", *presence_keys(conversation_id),
             WECHAT_HELD_PREFIX + conversation_id, WECHAT_QUOTA_PREFIX + conversation_id,
             STAY_MARK_PREFIX + conversation_id]
    patterns = [_glob_escape(handoff_keys.conversation(conversation_id)) + ":*"]
    call_id = call_id_of(conversation_id)
    if call_id:
        named.append(call_key(call_id))
        patterns.append(_glob_escape(call_key(call_id)) + ":*")
    found = [k for k in named if client.exists(k)]
    for pattern in patterns:
        found += [as_text(k) for k in client.scan_iter(match=pattern, count=500)]
    return sorted(set(found))


def read_tracker(client: redis.Redis, conversation_id: str) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(TRACKER_PREFIX + conversation_id, 0, -1)]


def read_conversation(client: redis.Redis, conversation_id: str) -> dict:
    """What Redis holds about one conversation, for an export (trackers as their event lists)."""
    held: dict[str, object] = {}
    for key in conversation_keys(client, conversation_id):
        kind = as_text(client.type(key))
        if key == TRACKER_PREFIX + conversation_id:
            held[key] = read_tracker(client, conversation_id)
        elif kind == "string":
            held[key] = as_text(client.get(key))
        elif kind == "hash":
            held[key] = {as_text(f): as_text(v) for f, v in client.hgetall(key).items()}
        elif kind == "list":
            held[key] = [as_text(v) for v in client.lrange(key, 0, -1)]
        elif kind == "set":
            held[key] = sorted(as_text(v) for v in client.smembers(key))
        elif kind == "zset":
            held[key] = [as_text(v) for v in client.zrange(key, 0, -1)]
    return held


def delete_conversations(client: redis.Redis, conversation_ids: set[str]) -> dict[str, int]:
    """Delete the conversations' keys and take them out of every queue and agent's active set."""
    counts = {"trackers": 0, "other_keys": 0, "queue_entries": 0}
    if not conversation_ids:
        return counts
    ids = sorted(conversation_ids)
    for conversation_id in ids:
        found = conversation_keys(client, conversation_id)
        counts["trackers"] += TRACKER_PREFIX + conversation_id in found
        counts["other_keys"] += len([k for k in found if not k.startswith(TRACKER_PREFIX + conversation_id)])
        if found:
            client.delete(*found)
    for pattern in (handoff_keys.queue("*"), handoff_keys.agent_active("*"), handoff_keys.handbacks(),
                    handoff_keys.joins()):
        for key in client.scan_iter(match=pattern, count=500):
            kind = as_text(client.type(key))
            removed = client.zrem(key, *ids) if kind == "zset" else client.srem(key, *ids) if kind == "set" else 0
            counts["queue_entries"] += int(removed or 0)
    return counts
