"""A text the phone line sent goes to the caller's number as the carrier gave it: Twilio's ``From`` is
E.164, ``+8613800000001`` (``bot/ivr/engine.py`` ``_notify``; the contacts worker texts a callback's
``caller`` the same way). The export and the erasure compared outbox recipients with the customer's
numbers as Kefu stores them (11 bare digits) only, so such a message — their number, the links sent
to them — was missing from their export and stayed in the outbox after their erasure."""
from __future__ import annotations

import json

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import outbox
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores

LINKS = "宽带自助排查 https://kefu.example/s/bb1"


def test_a_text_to_their_number_in_e164_is_exported_and_erased(env, tmp_path):  # noqa: F811
    settings, _client, _seeded = env
    repository = Repository(settings.database_url)
    repository.add_outbound(channel="sms", recipient="+8613800000001", kind="ivr_links", payload={"text": LINKS})
    repository.add_outbound(channel="sms", recipient="8613800000001", kind="ivr_links", payload={"text": LINKS})
    repository.add_outbound(channel="sms", recipient="+8613800000002", kind="ivr_links", payload={"text": "李娜"})

    folder = tmp_path / "export"
    assert kefu("customer", "export", "13800000001", "--out", str(folder)) == 0
    exported = json.loads((folder / "customer.json").read_text(encoding="utf-8"))["database"]["outbox"]
    assert sorted(o["recipient"] for o in exported) == ["+8613800000001", "13800000001", "8613800000001"]

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert sorted(o["recipient"] for o in rows(settings, sa.select(outbox))) == ["+8613800000002", "13800000002"]


def test_an_event_keyed_by_their_number_as_the_carrier_gave_it_is_anonymised(env):  # noqa: F811
    """A callback booked on the phone is called back at the number as the carrier gave it, and the contact's
    events are keyed ``phone:+8613800000001`` (``bot/contacts/worker.py``): the erasure left that key."""
    from bot.db.repository import engine_for
    from bot.db.schema import conversation_events
    from bot.outcomes.events import outcome_event
    from bot.outcomes.store import write_events

    settings, _client, _seeded = env
    write_events(engine_for(settings.database_url), [
        outcome_event("contact:77", "contact_attempted", channel="phone", customer="phone:+8613800000001",
                      result="no_answer", contact_id=77, purpose="callback")])
    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    left = rows(settings, sa.select(conversation_events).where(conversation_events.c.kind == "contact_attempted"))
    assert left and not [e for e in left if "13800000001" in e["customer"] or e["conversation_id"] == "contact:77"]
