"""An arrears reminder once a month, the customers' month: one that quiet hours held over into the
next month is that month's reminder, not followed by a second one the same morning."""
from __future__ import annotations

import datetime as dt

from bot.contacts.schedule import Schedule
from bot.outbound.sms import SmsGateway
from tests.sms_loopback import sms_gateway  # noqa: F401  the loopback gateway fixture

OWING_PHONE = "13800000002"  # the demo customer with arrears of 318.00 (content/demo/seed.yml)


def last_day_of_next_month(now: dt.datetime) -> dt.datetime:
    first_after = (now.replace(day=1) + dt.timedelta(days=70)).replace(day=1)
    return first_after - dt.timedelta(days=1)


async def test_a_reminder_held_over_into_a_new_month_is_its_only_one(repository, make_worker, clock, sms_gateway):
    received, url = sms_gateway
    worker = make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")})
    # 22:30 in Shanghai on the last day of a month: quiet hours, the reminder waits for 08:00 tomorrow.
    clock.now = last_day_of_next_month(dt.datetime.utcnow()).replace(hour=14, minute=30, second=0, microsecond=0)
    await worker.run_pass()
    assert [m for m in received if m["to"] == f"+86{OWING_PHONE}"] == []

    clock.now += dt.timedelta(hours=9, minutes=35)  # 08:05 on the 1st in Shanghai (00:05 UTC)
    await worker.run_pass()
    await worker.run_pass()
    texts = [m for m in received if m["to"] == f"+86{OWING_PHONE}"]
    assert len(texts) == 1, [m["client_ref"] for m in texts]
    reminders = [c for c in Schedule(repository).listing(purpose="arrears") if c["phone"] == OWING_PHONE]
    assert [c["status"] for c in reminders] == ["done"]

    clock.now += dt.timedelta(days=20)  # later that month: still none
    await worker.run_pass()
    assert len([m for m in received if m["to"] == f"+86{OWING_PHONE}"]) == 1
