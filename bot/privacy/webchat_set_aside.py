"""Web chat messages set aside unanswered (``bot/channels/webchat_inflight.py``): for an export, and
removed by an erasure.

A set-aside entry is one message as the customer typed it, with its conversation's (session) id, kept
under ``kefu:webchat:inflight:failed:<session id>:<client id>`` for as long as conversations are. It is
the customer's when its conversation is one of theirs, or when one of their numbers, accounts or
openids is in it — as for kept requests (``kept_requests.py``): a web chat whose only message was never
answered recorded no outcome event, so only what the customer typed can link it to them.

Found by SCAN over that prefix, not through the set of entry ids each session keeps (for a resumed page
to be told): the identifier match has to read every entry anyway, whatever its session, and a set could
lag its entries (it lives as long as the newest). There are few entries (a message that failed three
times), and the scan runs in an operator's command, never on a customer's turn. An entry is never
changed once written (the workers only read it, to tell a resumed page), so deleting one needs no lock;
its id leaves its session's set in the same transaction. SCAN returns every key that exists for the whole scan; a message set aside while
it runs (in flight at that moment) is not guaranteed, as a turn still running would not be either.
"""
from __future__ import annotations

import json

import redis

from bot.channels.webchat_inflight import SET_ASIDE_INDEX_PREFIX, SET_ASIDE_PREFIX
from bot.privacy.subject import Subject
from bot.redis_text import as_text


def _theirs(raw: str, entry: dict, subject: Subject) -> bool:
    return entry.get("session_id") in subject.conversation_ids or any(i in raw for i in subject.identifiers)


def set_aside_for(client: redis.Redis, subject: Subject) -> list[tuple[str, dict]]:
    """The subject's set-aside entries as (key, entry), by key."""
    found = []
    for key in sorted(as_text(k) for k in client.scan_iter(match=SET_ASIDE_PREFIX + "*", count=500)):
        raw = client.get(key)
        if raw is None:  # expired since the scan saw it
            continue
        raw = as_text(raw)
        entry = json.loads(raw)
        if _theirs(raw, entry, subject):
            found.append((key, entry))
    return found


def exported(client: redis.Redis, subject: Subject) -> list[dict]:
    """The subject's set-aside messages as an export lists them: the conversation, what, and when."""
    return [{"key": key, "conversation_id": entry.get("session_id"), "text": entry.get("text"),
             "set_aside_at": entry.get("set_aside_at"), "attempts": entry.get("attempts")}
            for key, entry in set_aside_for(client, subject)]


def remove_set_aside(client: redis.Redis, subject: Subject) -> int:
    """Delete the subject's set-aside entries, and their ids from their sessions' sets; how many."""
    found = set_aside_for(client, subject)
    if not found:
        return 0
    with client.pipeline(transaction=True) as pipe:
        for key, entry in found:
            pipe.delete(key)
            pipe.srem(SET_ASIDE_INDEX_PREFIX + str(entry.get("session_id")), key[len(SET_ASIDE_PREFIX):])
        replies = pipe.execute()
    return sum(int(deleted) for deleted in replies[::2])
