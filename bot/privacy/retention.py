"""A shortened retention setting applies to what is already stored, not only to what comes next.

Trackers get their expiry on each save, finished queue records when they close, and web chat messages
set aside unanswered when they are set aside; an operator who
lowers ``KEFU_TRACKER_EXPIRY_SECONDS`` or ``KEFU_QUEUE_RECORD_EXPIRY_SECONDS`` to meet a policy would
otherwise keep every older conversation for the old period (found by an audit). At start, every
such key whose time left is longer than the setting is cut to it; a shorter one is never raised.
Live queue records (no expiry: a customer waiting or being served) are left alone.
"""
from __future__ import annotations

import logging

import redis

from bot.channels.webchat_inflight import SET_ASIDE_INDEX_PREFIX, SET_ASIDE_PREFIX
from bot.handoff import keys as handoff_keys
from bot.privacy.conversations import TRACKER_PREFIX

logger = logging.getLogger(__name__)

# KEYS: the keys. ARGV[1]: the limit in seconds, ARGV[2]: '1' to also limit keys with no expiry.
# Redis 6.2 (the embedded server) has no ``EXPIRE ... LT``, hence the check in a script.
_LOWER = """
local lowered = 0
local limit = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local ttl = redis.call('TTL', key)
  if ttl > limit or (ttl == -1 and ARGV[2] == '1') then
    redis.call('EXPIRE', key, limit)
    lowered = lowered + 1
  end
end
return lowered
"""


def lower_expiries(client: redis.Redis, pattern: str, limit_s: int, *, unexpiring_too: bool,
                   batch: int = 500) -> int:
    """Cut the time left of keys matching ``pattern`` to ``limit_s``; returns how many were cut."""
    if limit_s <= 0:
        return 0
    script = client.register_script(_LOWER)
    lowered, chunk = 0, []
    for key in client.scan_iter(match=pattern, count=batch):
        chunk.append(key)
        if len(chunk) >= batch:
            lowered += int(script(keys=chunk, args=[limit_s, "1" if unexpiring_too else "0"]))
            chunk = []
    if chunk:
        lowered += int(script(keys=chunk, args=[limit_s, "1" if unexpiring_too else "0"]))
    return lowered


def apply_retention(client: redis.Redis, settings) -> dict[str, int]:
    """Apply the tracker and queue-record expiries to the keys already stored.

    Trackers with no expiry were written while expiry was off: with a limit set now, they get it. Web chat
    messages set aside unanswered (and their sessions' sets of them) are kept as long as conversations are.
    """
    done = {
        "trackers": lower_expiries(client, TRACKER_PREFIX + "*", settings.tracker_expiry_s, unexpiring_too=True),
        "webchat_set_aside": sum(lower_expiries(client, prefix + "*", settings.tracker_expiry_s, unexpiring_too=False)
                                 for prefix in (SET_ASIDE_PREFIX, SET_ASIDE_INDEX_PREFIX)),
        "queue_records": lower_expiries(client, handoff_keys.conversation_prefix() + "*",
                                        settings.queue_record_expiry_s, unexpiring_too=False),
    }
    if any(done.values()):
        logger.info("privacy.retention.applied trackers=%s queue_records=%s webchat_set_aside=%s",
                    done["trackers"], done["queue_records"], done["webchat_set_aside"])
    return done
