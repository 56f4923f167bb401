"""A caller who is no customer has data Kefu keeps under their number only: the analytics events keyed
``phone:<number>`` (a caller id the carrier vouched for), their call's transcript, a voice message they
left, a text sent to their line. ``kefu customer export|erase`` found people through the customers
table alone, so such a caller's request was refused as 'no customer has ...' (found in review), though
PIPL gives them the same rights."""
from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from bot.db.repository import Repository, engine_for
from bot.db.schema import conversation_events, outbox, tickets, voice_messages
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores

CALLER = "13900000077"  # no customer's number


def seed_caller(settings, client) -> str:
    repository = Repository(settings.database_url)
    write_events(engine_for(settings.database_url), [
        outcome_event("ivr:CAcaller77", "contact_started", channel="ivr", customer=f"phone:+86{CALLER}"),
        outcome_event("ivr:CAcaller77", "intent_seen", channel="ivr", customer=f"phone:+86{CALLER}", intent="fault_tv"),
        outcome_event("w-anonymous", "contact_started", channel="webchat")])  # nobody's: must stay as it is
    client.rpush("kefu:events:ivr:CAcaller77", json.dumps({"event": "user", "text": "我家电视没信号"}, ensure_ascii=False))
    message_id = uuid.uuid4().hex
    repository.add_voice_message(message_id=message_id, audio=b"RIFF-the-callers-voice", duration_s=2.0,
                                 conversation_id=f"voicemail-{message_id}", caller_phone=f"+86{CALLER}", channel="ivr")
    repository.add_outbound(channel="sms", recipient=f"+86{CALLER}", kind="ivr_links", payload={"text": "电视自助排查"})
    repository.create_ticket(kind="complaint", customer_id=None, summary="匿名投诉", channel="webchat",
                             conversation_id="w-anonymous")  # filed under no customer: not the caller's
    return message_id


def test_a_caller_who_is_no_customer_can_have_their_data_exported_and_erased(env, tmp_path, capsys):  # noqa: F811
    settings, client, _seeded = env
    message_id = seed_caller(settings, client)

    folder = tmp_path / "export"
    assert kefu("customer", "export", f"phone:{CALLER}", "--out", str(folder)) == 0
    assert "caller 139****0077" in capsys.readouterr().out
    exported = json.loads((folder / "customer.json").read_text(encoding="utf-8"))
    assert exported["customer_id"] is None and exported["database"]["customers"] == []
    assert {e["conversation_id"] for e in exported["database"]["conversation_events"]} == {"ivr:CAcaller77"}
    assert [m["id"] for m in exported["database"]["voice_messages"]] == [message_id]
    assert [o["recipient"] for o in exported["database"]["outbox"]] == [f"+86{CALLER}"]
    assert exported["database"]["tickets"] == [], "a ticket filed under no customer is not theirs"
    assert exported["redis"]["ivr:CAcaller77"]["kefu:events:ivr:CAcaller77"][0]["text"] == "我家电视没信号"
    assert (folder / "recordings" / f"voice_message-{message_id}.wav").read_bytes() == b"RIFF-the-callers-voice"

    tickets_before = rows(settings, sa.select(tickets))
    assert kefu("customer", "erase", CALLER, "--yes") == 0
    assert "Erased caller 139****0077" in capsys.readouterr().out
    events = rows(settings, sa.select(conversation_events))
    assert not [e for e in events if CALLER in e["customer"] or e["conversation_id"] == "ivr:CAcaller77"]
    assert [e["customer"] for e in events if e["conversation_id"] == "w-anonymous"] == [""], "nobody else's renamed"
    assert not rows(settings, sa.select(voice_messages).where(voice_messages.c.caller_phone.like(f"%{CALLER}")))
    assert not rows(settings, sa.select(outbox).where(outbox.c.recipient.like(f"%{CALLER}")))
    assert not client.exists("kefu:events:ivr:CAcaller77")
    assert rows(settings, sa.select(tickets)) == tickets_before, "no ticket filed under no customer was touched"
    assert len(rows(settings, sa.select(conversation_events).where(
        conversation_events.c.customer == "customer:1"))) > 0, "the customers' own data stays"


def test_a_number_kefu_never_kept_is_still_refused(env, capsys):  # noqa: F811
    assert kefu("customer", "export", "13900000078") == 1
    said = capsys.readouterr().err
    assert "no customer has" in said and "nothing under it" in said and "nothing was exported" in said
