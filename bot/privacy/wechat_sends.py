"""What Redis keeps of the WeChat template messages sent to a customer's openids, for an erasure.

The delivery-report records (bot/outbound/wechat_delivery.py) name the follower's openid: the latest send
to them, and each send handed to WeChat with the report that came for it. They expire in 3 days; an
erasure deletes them at once, as it does the rest of what names the customer.
"""
from __future__ import annotations

import redis

from bot.outbound.wechat_delivery import SENT_PREFIX, follower_keys
from bot.privacy.subject import Subject
from bot.redis_text import as_text

PREFIX = "kefu:wechat:"  # the WeChat channel's guard prefix (bot/channels/wechat.py, bot/outbound/wechat_template.py)


def template_records_for(client: redis.Redis, subject: Subject) -> list[str]:
    """The keys of the subject's template-send records that exist now."""
    if not subject.openids:
        return []
    sends = {}
    for key in client.scan_iter(match=PREFIX + SENT_PREFIX + "*", count=500):
        key = as_text(key)
        raw = client.get(key) if not key.endswith(":report") else None
        if raw is not None:
            sends[key[len(PREFIX):]] = as_text(raw)
    named = {PREFIX + key for openid in sorted(subject.openids) for key in follower_keys(openid, sends)}
    return sorted(key for key in named if client.exists(key))


def remove_template_records(client: redis.Redis, subject: Subject) -> int:
    found = template_records_for(client, subject)
    return int(client.delete(*found)) if found else 0
