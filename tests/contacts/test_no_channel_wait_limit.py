"""A contact no channel of this deployment reaches (none configured for it yet) waits, looked at again
hourly — but not for ever. Found in review: it waited with no age limit, so once the SMS gateway was set
up, a follow-up ("问题解决了吗？") or an arrears reminder went out weeks after it was due. It now waits at
most its purpose's ``late_limit_hours`` (content/contacts.yml; defaults per purpose) after it first
came due, then ends ``failed`` (result ``no_channel``) with a ``contact_skipped`` event.
"""
from __future__ import annotations

import re

import pytest
import yaml

from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import ContactWorker
from bot.ledger.rules import load_rules as load_ledger_rules
from bot.outbound.sms import SmsGateway
from tests.sms_loopback import sms_gateway  # noqa: F401  the loopback SMS gateway

PHONE = "13900000078"  # nobody in the demo data: only this test's contact texts it


def rules_file(kefu_env, tmp_path, setting: dict | None):
    """content/contacts.yml, with ``late_limit_hours`` as given (None: as shipped)."""
    raw = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))
    if setting is not None:
        raw["late_limit_hours"] = setting
    path = tmp_path / "contacts.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def worker(kefu_env, repository, clock, rules, messengers=None) -> ContactWorker:
    """A worker with no dialer, no queue: only the messengers given."""
    return ContactWorker(repository, rules=lambda: load_rules(rules),
                         ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                         messengers=messengers or {}, clock=clock)


@pytest.mark.parametrize("purpose, rule, setting, limit_hours", [
    ("followup", "repair_followup", None, 168),
    ("care", "care_suspension", None, 168),
    ("arrears", "arrears_reminder", None, 72),
    ("care", "care_suspension", {"care": 6}, 6),  # the editors' own limit
], ids=["followup", "care", "arrears", "care-as-set"])
@pytest.mark.parametrize("waited", ["within-the-limit", "past-the-limit"])
async def test_a_contact_waiting_for_a_channel_is_not_made_past_its_age_limit(
        kefu_env, repository, clock, sms_gateway, tmp_path, purpose, rule, setting, limit_hours, waited):  # noqa: F811
    received, url = sms_gateway
    rules = rules_file(kefu_env, tmp_path, setting)
    schedule = Schedule(repository)
    contact_id = schedule.add(dedupe_key=f"{rule}:no-channel", purpose=purpose, rule=rule, due_at=clock.now,
                              channels=["sms"], phone=PHONE, ticket_id="T-NOCHAN",
                              details={"amount": "45.00"} if purpose == "arrears" else {})
    waiting = worker(kefu_env, repository, clock, rules)  # no SMS gateway configured yet
    hours = limit_hours - 2 if waited == "within-the-limit" else limit_hours + 1  # then 1 more: the gateway
    await waiting.run_pass()
    for step in [5] * (hours // 5) + [hours % 5]:  # its passes (hourly ones in between change nothing)
        contact = schedule.get(contact_id)
        assert (contact["status"], contact["result"], contact["attempts"]) == ("scheduled", "no_channel", 0)
        clock.advance(hours=step)
        await waiting.run_pass()

    clock.advance(hours=1)  # the gateway is set up now
    await worker(kefu_env, repository, clock, rules, {"sms": SmsGateway(url, "key", "Kefu")}).run_pass()
    contact = schedule.get(contact_id)
    texts = [body for body in received if body["to"].endswith(PHONE)]
    skipped = [e["data"] for e in repository.events_for(f"contact:{contact_id}") if e["kind"] == "contact_skipped"]
    if waited == "within-the-limit":
        assert (contact["status"], contact["result"], len(texts)) == ("done", "sent", 1)
        assert skipped == []
    else:
        assert (contact["status"], contact["result"], contact["attempts"], texts) == ("failed", "no_channel", 0, [])
        assert [(e["reason"], e.get("final")) for e in skipped] == [("no_channel", True)]


@pytest.mark.parametrize("setting, error", [
    ({"followup": 0}, "late_limit_hours.followup must be a number of hours > 0, got 0"),
    ({"followup": "a week"}, "late_limit_hours.followup must be a number of hours > 0, got 'a week'"),
    ({"visit": 24}, "late_limit_hours.visit: no such purpose"),
    ([168], "late_limit_hours must map purposes to hours"),
], ids=["zero", "words", "no-such-purpose", "a-list"])
def test_a_wait_limit_that_cannot_be_used_is_refused_at_load(kefu_env, tmp_path, setting, error):
    from bot.contacts.rules import ContactRulesError

    with pytest.raises(ContactRulesError, match=re.escape(error)):
        load_rules(rules_file(kefu_env, tmp_path, setting))
