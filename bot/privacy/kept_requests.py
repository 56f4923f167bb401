"""A customer's requests kept in Redis while the database was down (``actions/kept_requests.py``), waiting
to be filed or set aside for an operator: for an export, and removed by an erasure.

A kept entry is the conversation as it stood — the customer's words, the number or account they gave,
the channel's metadata — under the conversation's id. It is the customer's when its conversation is one
of theirs, when it names them as the conversation's customer (``customer_id`` / ``verified_customer_id``
slots), or when one of their numbers, accounts or openids is anywhere in it (kept before the database
could say who they were, a request carries only what the customer typed).

An erasure removes such entries rather than blanking them: blanked, an entry has nothing left to file
(no words, no number, no customer) and would only be set aside; filed, it would make a ticket — a new
record of the customer's words and number — for a person who asked to be erased. The entry is their
request, withdrawn with the rest of their data. It is removed while holding the drain lock, so no
action-server process is filing it at that moment.
"""
from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import redis

from bot.kept_lists import LOCK_TTL_MS, drain_lock_key, failed_key, kept_at, kept_key
from bot.redis_lock import RELEASE_IF_HOLDER
from bot.privacy.subject import Subject
from bot.redis_text import as_text

LISTS = {"waiting": kept_key, "set_aside": failed_key}
# Erasure waits this long for a drainer to finish its pass (its lock lapses after LOCK_TTL_MS anyway).
LOCK_WAIT_S = LOCK_TTL_MS / 1000 + 5


class KeptRequestsBusy(RuntimeError):
    """The kept requests could not be locked: nothing was erased."""


def is_theirs(raw: str, entry: dict, subject: Subject) -> bool:
    tracker = entry.get("tracker") or {}
    slots = tracker.get("slots") or {}
    if tracker.get("sender_id") in subject.conversation_ids:
        return True
    if subject.customer_id is not None and str(subject.customer_id) in {
            str(slots.get("customer_id")), str(slots.get("verified_customer_id"))}:
        return True
    return any(identifier in raw for identifier in subject.identifiers)


def names_another(entry: dict, subject: Subject) -> bool:
    """Whether the entry names its conversation's customer, and that is someone else: theirs to export,
    though it quotes this customer's number (an erasure removes it all the same)."""
    slots = (entry.get("tracker") or {}).get("slots") or {}
    named = {str(slots[k]) for k in ("customer_id", "verified_customer_id") if slots.get(k) not in (None, "")}
    return bool(named) and str(subject.customer_id) not in named


def kept_for(client: redis.Redis, database_url: str, subject: Subject) -> list[tuple[str, str, dict]]:
    """The subject's kept entries as (list, raw entry, entry), ``list`` being ``waiting`` or ``set_aside``."""
    found = []
    for name, key_of in LISTS.items():
        for raw in map(as_text, client.lrange(key_of(database_url), 0, -1)):
            entry = json.loads(raw)
            if is_theirs(raw, entry, subject):
                found.append((name, raw, entry))
    return found


def exported(client: redis.Redis, database_url: str, subject: Subject) -> list[dict]:
    """The subject's kept requests as an export lists them: which list, when, what, and the conversation.
    Not another proven customer's request that only quotes the subject's number: that is the other's."""
    return [{"list": name, "id": entry.get("id"), "action": entry.get("action"), "kept_at": kept_at(entry),
             "conversation_id": (entry.get("tracker") or {}).get("sender_id"), "tracker": entry.get("tracker")}
            for name, _, entry in kept_for(client, database_url, subject) if not names_another(entry, subject)]


@contextmanager
def drain_locked(client: redis.Redis, database_url: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the drainers' lock: no action-server process files or sets aside a kept entry meanwhile."""
    key, token = drain_lock_key(database_url), uuid.uuid4().hex
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while not client.set(key, token, nx=True, px=LOCK_TTL_MS):
        if time.monotonic() > deadline:
            raise KeptRequestsBusy(f"{key} stayed locked for {wait_s:.0f} s")
        time.sleep(0.2)
    try:
        yield
    finally:
        client.eval(RELEASE_IF_HOLDER, 1, key, token)


def remove_kept(client: redis.Redis, database_url: str, subject: Subject) -> dict[str, int]:
    """Remove the subject's kept entries from both lists; how many from each."""
    counts = {name: 0 for name in LISTS}
    with drain_locked(client, database_url):
        for name, raw, _ in kept_for(client, database_url, subject):
            counts[name] += int(client.lrem(LISTS[name](database_url), 1, raw))
    return counts
