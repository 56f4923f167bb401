"""A callback booked in the waiting room is scheduled (due at once) a moment before its customer
leaves the line (bot/handoff/watcher.py ``book``). A contact worker's pass in that moment found the
customer still waiting, took it for "came back on their own, in line already", closed the callback as
done, and the customer then left the line: nobody ever called them back. The callback waits for
the booking's wait to end, then joins the queue."""
from __future__ import annotations

import datetime as dt

from bot.contacts.schedule import Schedule
from bot.handoff.agents import is_callback
from bot.handoff.handback import handed_back
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.waiting_tickets import waiting_room_ticket

WAITING = "web-waiting-booker"


async def test_a_pass_between_booking_and_leaving_the_line_keeps_the_callback(kefu_env, repository, make_worker,
                                                                              redis, clock):
    queue = HandoffQueue(redis)
    request = HandoffRequest(conversation_id=WAITING, channel="webchat", skill="general", priority=0,
                             customer_id=None, context={"transcript": [{"who": "customer", "text": "宽带断了"}]})
    await queue.enqueue(request)
    worker = make_worker(queue=queue)

    ticket_id, _due = await waiting_room_ticket(request, kind="callback", phone="13900001234", within_hours=2)
    clock.now = dt.datetime.utcnow()  # just after the booking (a callback is made whatever the hour)
    await worker.run_pass()  # the worker's pass lands between the booking and the customer leaving the line
    assert await queue.stop_waiting(WAITING, "callback")
    await handed_back(queue, WAITING)  # the customer told it is booked (the hand-back owed: test_desk_close_faults)
    await worker.run_pass()

    entry = await queue.entry(WAITING)
    assert entry is not None and entry["state"] == "waiting" and is_callback(entry["request"].context)
    contact = next(c for c in Schedule(repository).listing(purpose="callback") if c["ticket_id"] == ticket_id)
    assert contact["status"] == "offered"
