"""Every channel name the REST webhook accepts from an integration (``input_channel``) must fit the
outcome record, or its events are refused by the database. On PostgreSQL (as in production and CI) a
refused event blocked the whole record: the recorder took the refusal for a database that is down,
parked every later event of every process behind it and retried for ever (found in review: a 32-letter
name the webhook accepted did not fit ``conversation_events.channel``, 24 characters)."""
from __future__ import annotations

import json

from bot.channels.rest_guard import rest_body_problem
from bot.db.repository import Repository
from bot.db.schema import conversation_events
from bot.outcomes import recorder_for
from bot.outcomes.recorder import record


def longest_accepted_channel() -> str:
    """The longest ``input_channel`` the REST webhook takes."""
    accepted = ""
    for length in range(1, 65):
        name = "partner_" + "x" * (length - len("partner_")) if length > len("partner_") else "p" * length
        body = json.dumps({"sender": "s1", "message": "你好", "input_channel": name}).encode()
        if rest_body_problem(body) is None:
            accepted = name
    return accepted


async def test_a_turn_on_the_longest_channel_name_the_webhook_accepts_is_recorded_and_blocks_nothing(kefu_env):
    channel = longest_accepted_channel()
    assert channel and len(channel) <= conversation_events.c.channel.type.length
    await record("partner-1", "contact_started", channel=channel)
    await record("partner-1", "intent_seen", channel=channel, intent="query_bill", confidence=0.9)
    await record("web-1", "contact_started", channel="webchat")  # another conversation, after it
    assert await recorder_for().flush(timeout=5), "events still wait: the record is stuck"
    repository = Repository(kefu_env.database_url)
    assert [(e["kind"], e["channel"]) for e in repository.events_for("partner-1")] == [
        ("contact_started", channel), ("intent_seen", channel)]
    assert [e["kind"] for e in repository.events_for("web-1")] == ["contact_started"]
