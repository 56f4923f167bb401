"""A contact's text that fails is told apart as a call is (tests/contacts/test_carrier_unavailable.py).

Found in review: every failure of an SMS or WeChat template message was retried as an attempt at the
customer, like a call nobody answered. A gateway outage at 08:00 used up everyone's retries and daily
limit without a text going out, and a number the gateway refused for good (or a follower who
unsubscribed) was sent the same text again through every retry delay. Now:

- surely nothing went out, for a reason on Kefu's side or the channel's load (nothing listens, Kefu's
  credentials refused, a rate limit, a server error, WeChat busy, no access token): the attempt is taken
  back and tried again after the pause, counted against neither the retries nor the daily limit;
- the text may have gone out (a timeout, a connection broken after the request was sent): it counts, and
  is tried again after the retry delay, as before;
- the channel refused it for good (a bad number, content rejected, a follower not subscribed): the
  contact ends ``failed`` at once, and the ledger says the channel refused it.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.contacts.schedule import Schedule
from bot.contacts.worker import CARRIER_PAUSE, CLAIM_LEASE
from tests.text_channels import ADDRESS, NOTHING_LISTENS, NOTHING_LISTENS_PORT, OPENID, PHONE
from tests.text_channels import messenger, text_channels  # noqa: F401  the loopback's fixtures


def due_text(repository, now: dt.datetime, channel: str) -> int:
    """A care message due now, to be sent on ``channel`` only."""
    return Schedule(repository).add(dedupe_key=f"care_suspension:text-failures-{channel}", purpose="care",
                                    rule="care_suspension", due_at=now, channels=[channel],
                                    phone=PHONE if channel == "sms" else "", openid=OPENID if channel == "wechat" else "")


def state(contact: dict) -> tuple:
    return contact["status"], contact["attempts"], contact["result"]


NOTHING_SENT = [
    ("sms", NOTHING_LISTENS), ("sms", ("http", 401)), ("sms", ("http", 403)), ("sms", ("http", 429)),
    ("sms", ("http", 503)), ("sms", ("sms", 1003)),
    ("wechat", NOTHING_LISTENS), ("wechat", ("wechat", -1)), ("wechat", ("wechat", 45009)),
    ("wechat", "token refused"), ("wechat", ("http", 502)),
    ("wechat", ("stale then", 40001)),  # the fresh token refused too: Kefu's account, not the follower
    ("wechat", ("wechat", 40164)), ("wechat", ("wechat", 40037)),  # Kefu's IP not whitelisted, a wrong template id
]


@pytest.mark.parametrize("channel,answer", NOTHING_SENT, ids=[f"{c}-{a}" for c, a in NOTHING_SENT])
async def test_a_text_that_surely_never_went_out_uses_up_no_attempt(repository, make_worker, clock, text_channels,
                                                                    messenger, channel, answer):
    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, channel)
    down = f"http://127.0.0.1:{NOTHING_LISTENS_PORT}" if answer == NOTHING_LISTENS else url
    channels.answer = answer
    worker = make_worker(messengers={channel: await messenger(channel, down)})
    for _ in range(8):  # a 40-minute outage at 10:00, the worker passing every 5 minutes
        await worker.run_pass()
        contact = schedule.get(contact_id)
        assert state(contact) == ("scheduled", 0, "channel_unavailable")
        assert contact["due_at"] == clock.now + CARRIER_PAUSE
        clock.advance(minutes=5)
    assert schedule.attempts(contact_id) == []
    assert schedule.attempts_since(ADDRESS[channel], clock.now - dt.timedelta(days=1)) == 0

    channels.answer = "ok"  # the channel is back: the text goes out now, not tomorrow
    await make_worker(messengers={channel: await messenger(channel, url)}).run_pass()
    assert state(schedule.get(contact_id)) == ("done", 1, "sent")
    assert len(schedule.attempts(contact_id)) == 1


MAYBE_SENT = [("sms", "slow"), ("sms", "hang up"), ("wechat", "slow"), ("wechat", "hang up")]


@pytest.mark.parametrize("channel,answer", MAYBE_SENT, ids=[f"{c}-{a}" for c, a in MAYBE_SENT])
async def test_a_text_that_may_have_gone_out_counts_and_is_tried_again_later(kefu_env, repository, make_worker, clock,
                                                                            text_channels, messenger, channel, answer):
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, channel)
    channels.answer = answer
    worker = make_worker(messengers={channel: await messenger(channel, url, timeout_s=1.0)})
    await worker.run_pass()
    contact = schedule.get(contact_id)
    assert state(contact) == ("scheduled", 1, "send_failed")
    first_delay = load_rules(kefu_env.content_dir / "contacts.yml").retry_delays[0]
    assert contact["due_at"] == clock.now + first_delay
    assert len(channels.to(channel)) == 1  # the channel had it

    channels.answer = "ok"
    clock.advance(minutes=first_delay.total_seconds() / 60)
    await worker.run_pass()
    assert state(schedule.get(contact_id)) == ("done", 2, "sent")
    if channel == "sms":  # the same message to the gateway, which sends it once if the first went out
        first, retry = channels.to(channel)
        assert retry["client_ref"] == first["client_ref"]


REFUSED = [
    ("sms", ("sms", 1001)), ("sms", ("sms", 1002)), ("sms", ("http", 400)),
    ("wechat", ("wechat", 43004)), ("wechat", ("wechat", 40003)), ("wechat", ("stale then", 47003)),
]


@pytest.mark.parametrize("channel,answer", REFUSED, ids=[f"{c}-{a}" for c, a in REFUSED])
async def test_a_text_the_channel_refused_for_good_is_not_sent_again(kefu_env, repository, make_worker, clock,
                                                                   text_channels, messenger, channel, answer):
    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, channel)
    channels.answer = answer
    worker = make_worker(messengers={channel: await messenger(channel, url)})
    await worker.run_pass()
    assert state(schedule.get(contact_id)) == ("failed", 1, "channel_refused")
    sent = len(channels.to(channel))

    for minutes in (30, 120, 24 * 60):  # past every retry delay
        clock.advance(minutes=minutes)
        await worker.run_pass()
    assert len(channels.to(channel)) == sent  # the customer was not sent it again and again
    assert state(schedule.get(contact_id)) == ("failed", 1, "channel_refused")
    [final] = [e for e in repository.events_for(f"contact:{contact_id}") if e["kind"] == "contact_attempted"]
    assert (final["data"]["result"], final["data"]["final"]) == ("channel_refused", True)


def test_every_result_a_text_leaves_has_a_label_on_the_ledger_and_the_glance(kefu_env):
    """The ledger page shows a follow-up's result by its label (``result_<result>``, bot/web/agent/ledger.js);
    a missing one shows the bare key, as a text's ``send_failed`` did (未接通（result_send_failed）). A failed
    follow-up said 多次未接通 whatever the result: a text the channel refused must say so."""
    ledger = json.loads((kefu_env.content_dir / "ui" / "ledger.zh.json").read_text(encoding="utf-8"))
    desk = json.loads((kefu_env.content_dir / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    for result in ("send_failed", "channel_unavailable", "channel_refused", "sent"):
        assert ledger.get(f"result_{result}"), result
    refused = ledger["result_channel_refused"]
    assert refused in ledger["followup_failed"].format(result=refused)  # as the page fills it in
    for result in ("send_failed", "channel_refused", "sent"):  # a contact_attempted result, on the glance
        assert desk.get(f"glance_outcome_contact_{result}"), result


async def test_a_dead_workers_text_found_with_the_gateway_down_goes_out_later_as_the_same_message(
        repository, make_worker, clock, text_channels, messenger):
    """The worker that counted the text died before hearing the gateway; when the next pass sends it again
    the gateway is down. The attempt is taken back, and the text goes out when the gateway is back with
    the dead worker's ``client_ref`` — which the gateway sends once — not as a new attempt later."""
    channels, url = text_channels
    schedule = Schedule(repository)
    contact_id = due_text(repository, clock.now, "sms")
    token = schedule.claim(contact_id, "dead-worker", clock.now, CLAIM_LEASE)
    assert schedule.placed(contact_id, token, channel="sms", address=ADDRESS["sms"], now=clock.now, lease=CLAIM_LEASE)

    clock.advance(minutes=3)  # past the dead worker's lease
    down = f"http://127.0.0.1:{NOTHING_LISTENS_PORT}"
    await make_worker(messengers={"sms": await messenger("sms", down)}).run_pass()
    assert state(schedule.get(contact_id)) == ("scheduled", 0, "channel_unavailable")
    assert schedule.attempts(contact_id) == []

    clock.advance(minutes=5)
    await make_worker(messengers={"sms": await messenger("sms", url)}).run_pass()
    assert state(schedule.get(contact_id)) == ("done", 1, "sent")
    assert [m["client_ref"] for m in channels.to("sms")] == [f"contact-{contact_id}-1"]


async def test_a_dead_workers_text_is_not_sent_again_in_the_night(kefu_env, repository, make_worker, clock,
                                                                 text_channels, messenger):
    """A worker counted a text at 20:58 and died before the gateway had it; Kefu was back at 03:00. Found
    in review: the first pass sent it again at once, whatever the hour — a care text at 03:00. It waits
    for the end of quiet hours, and goes out then as the same message (the same ``client_ref``, which the
    gateway sends once had the first gone out after all)."""
    from bot.contacts.rules import load_rules

    channels, url = text_channels
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    schedule = Schedule(repository)
    clock.now = clock.now.replace(hour=12, minute=58)  # 20:58 in Shanghai
    contact_id = due_text(repository, clock.now, "sms")
    token = schedule.claim(contact_id, "dead-worker", clock.now, CLAIM_LEASE)
    assert schedule.placed(contact_id, token, channel="sms", address=ADDRESS["sms"], now=clock.now, lease=CLAIM_LEASE)

    clock.now = clock.now.replace(hour=19, minute=0)  # 03:00 the next day in Shanghai
    assert rules.in_quiet_hours(clock.now)
    worker = make_worker(messengers={"sms": await messenger("sms", url)})
    await worker.run_pass()
    assert channels.to("sms") == [], "nobody is texted at 03:00"
    assert schedule.get(contact_id)["due_at"] == rules.quiet_hours_end(clock.now)

    clock.now = rules.quiet_hours_end(clock.now)  # 08:00
    await worker.run_pass()
    assert [m["client_ref"] for m in channels.to("sms")] == [f"contact-{contact_id}-1"]
    assert state(schedule.get(contact_id)) == ("done", 1, "sent")
    assert len(schedule.attempts(contact_id)) == 1
