"""An arrears reminder says what the customer owes when it is made, not what they owed when it was planned.

Found in review: the reminder is planned from the balance (evening import) and made later — after the quiet
hours, the daily limit, a retry. A customer who paid meanwhile was still texted "您的账户已欠费318.00元…请及时缴费"
at 08:00, and one who paid part of it was told the old amount.
"""
from __future__ import annotations

import datetime as dt

import pytest

from bot.contacts.schedule import Schedule
from bot.contacts.worker import CLAIM_LEASE
from bot.db.schema import customers
from bot.notify import Notifier
from bot.outbound.sms import SmsGateway
from tests.sms_loopback import sms_gateway  # noqa: F401  the loopback gateway fixture

OWING_PHONE = "13800000002"  # the demo customer with arrears of 318.00 (content/demo/seed.yml)


@pytest.mark.parametrize("balance_cents, texted, after", [
    (0, None, ("done", "paid")),                 # paid it all overnight: nothing sent
    (2500, None, ("done", "paid")),              # paid more than owed: in credit
    (-1500, "15.00", ("done", "sent")),          # paid part of it: the amount owed now
    (-31800, "318.00", ("done", "sent")),        # paid nothing
], ids=["paid", "in-credit", "paid-part", "unpaid"])
async def test_a_reminder_held_overnight_says_what_is_owed_in_the_morning(repository, make_worker, clock, sms_gateway,
                                                                         balance_cents, texted, after):
    received, url = sms_gateway
    worker = make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")})
    clock.now = clock.now.replace(hour=14, minute=30)  # 22:30 in Shanghai: planned now, made at 08:00
    await worker.run_pass()
    [reminder] = [c for c in Schedule(repository).listing(purpose="arrears") if c["phone"] == OWING_PHONE]
    assert (reminder["status"], reminder["details"]["amount"]) == ("scheduled", "318.00")

    with repository.engine.begin() as conn:  # the night's import: what the billing system says now
        conn.execute(customers.update().where(customers.c.phone == OWING_PHONE).values(balance_cents=balance_cents))
    clock.now += dt.timedelta(hours=9, minutes=35)  # 08:05 in Shanghai
    await worker.run_pass()

    assert_reminded(repository, received, reminder["id"], texted, after)


def assert_reminded(repository, received: list[dict], reminder_id, texted: str | None, after: tuple) -> None:
    """The customer was texted the amount ``texted`` (None: nothing), and the reminder ended as ``after``."""
    texts = [m["text"] for m in received if m["to"] == f"+86{OWING_PHONE}"]
    if texted is None:
        assert texts == []
    else:
        [text] = texts
        assert f"已欠费{texted}元" in text
    reminder = Schedule(repository).get(reminder_id)
    assert (reminder["status"], reminder["result"]) == after


class WorkerKilled(BaseException):
    """The worker's process ends here (killed, the machine lost): nothing after it runs."""


class DiesAsItSends(Notifier):
    """A worker's messenger on a machine that goes down as the text is handed over: nothing reaches the gateway."""

    async def send_selfhelp(self, to, channel, entry):
        raise WorkerKilled

    async def send(self, to, message):
        raise WorkerKilled


@pytest.mark.parametrize("balance_at_takeover, texted, after", [
    (-8000, "80.00", ("done", "sent")),   # owes what the dead worker's text said
    (0, None, ("done", "paid")),          # paid in full while Kefu was down
], ids=["still-owing", "paid-meanwhile"])
async def test_a_reminder_whose_worker_died_says_what_is_owed(repository, make_worker, clock, sms_gateway,
                                                              balance_at_takeover, texted, after):
    """Found in review: planned at 318.00, the reminder was made at 08:05 for the 80.00 owed by then, and its
    worker died handing the text over. The next worker sends it again as the same attempt: it told the
    customer the 318.00 of the evening before — and a customer who had paid in full in the meantime was still
    told they owed it, as no balance was read for that send."""
    received, url = sms_gateway
    clock.now = clock.now.replace(hour=14, minute=30)  # 22:30 in Shanghai: planned now, made at 08:00
    await make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")}).run_pass()
    [reminder] = [c for c in Schedule(repository).listing(purpose="arrears") if c["phone"] == OWING_PHONE]
    assert reminder["details"]["amount"] == "318.00"

    with repository.engine.begin() as conn:  # the night's import: 80.00 owed now
        conn.execute(customers.update().where(customers.c.phone == OWING_PHONE).values(balance_cents=-8000))
    clock.now += dt.timedelta(hours=9, minutes=35)  # 08:05 in Shanghai
    with pytest.raises(WorkerKilled):
        await make_worker(messengers={"sms": DiesAsItSends()}).run_pass()
    assert Schedule(repository).get(reminder["id"])["status"] == "calling"  # counted, then the worker was gone

    with repository.engine.begin() as conn:
        conn.execute(customers.update().where(customers.c.phone == OWING_PHONE)
                     .values(balance_cents=balance_at_takeover))
    clock.now += CLAIM_LEASE + dt.timedelta(minutes=1)  # another worker finds the attempt its worker left
    await make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")}).run_pass()

    assert_reminded(repository, received, reminder["id"], texted, after)


async def test_a_customer_in_arrears_again_the_month_a_reminder_was_not_made_is_reminded(repository, make_worker,
                                                                                           clock, sms_gateway):
    """Found in review: a customer who paid overnight was rightly not reminded in the morning (``done``,
    ``paid``) — and then, in arrears again a week later the same month, was not reminded either: the
    reminder not made took the month's place, and they heard nothing until the next month. The month's
    one reminder is one made: the dropped one does not count, and one sent does."""
    received, url = sms_gateway
    worker = make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")})
    month_later = (clock.now.replace(day=1) + dt.timedelta(days=40)).replace(day=2)
    clock.now = month_later.replace(hour=14, minute=30)  # 22:30 on the 2nd in Shanghai: planned, made at 08:00
    await worker.run_pass()
    with repository.engine.begin() as conn:  # paid overnight
        conn.execute(customers.update().where(customers.c.phone == OWING_PHONE).values(balance_cents=0))
    clock.now += dt.timedelta(hours=9, minutes=35)  # 08:05 on the 3rd
    await worker.run_pass()
    assert [m for m in received if m["to"] == f"+86{OWING_PHONE}"] == []

    with repository.engine.begin() as conn:  # a week later: a new month's charges unpaid, 30.00 owed
        conn.execute(customers.update().where(customers.c.phone == OWING_PHONE).values(balance_cents=-3000))
    clock.now += dt.timedelta(days=7)  # 08:05 on the 10th, the same month
    await worker.run_pass()
    [text] = [m["text"] for m in received if m["to"] == f"+86{OWING_PHONE}"]
    assert "已欠费30.00元" in text

    clock.now += dt.timedelta(days=7)  # still owing a week later: that was the month's reminder
    await worker.run_pass()
    assert len([m for m in received if m["to"] == f"+86{OWING_PHONE}"]) == 1
