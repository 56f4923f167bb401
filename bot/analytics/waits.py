"""Waits as the customer lived them: from asking for a person, not from joining the queue.

The queue records its own wait (``wait_s``: queue entry to claim or to leaving). A phone caller who
pressed 0 at a peak first hears an offer (callback, message, text) and is queued only after it: found
by a tester, a caller who waited 138 s from pressing 0 was recorded as 62 s, and one who hung up at the
offer was not an abandonment at all. So each wait starts at the customer's request for a person
(``handoff_requested``, which the phone records when the flow routes the call to the agents) when
that came before the queue entry. When the queue says when the customer actually left (``left_at``,
epoch seconds, e.g. a web-chat page closed before the grace period ended), that is the end of the wait.

An answered wait is the wait the claim ended, not the contact's first: a callback booked while waiting
ends the first wait (``handoff_abandoned`` reason ``callback``) and joins the queue again at the promised
time, so its speed of answer runs from then to the claim (found in review: a callback rung 15 s after the
promised time counted the 40 minutes since the first request, 2385 s of ASA).
"""
from __future__ import annotations

import datetime as dt

ASKED = "handoff_requested"
QUEUED = {"handoff_queued", "ivr_transferred"}
ENDS = {"conversation_ended", "ivr_call_ended"}
# An earlier request for a person ended here (left the queue, closed, a callback booked, the call or
# conversation over): a later queue entry (a booked callback offered at its time) is a wait of its own.
WAIT_OVER = {"handoff_abandoned", "handoff_closed", "callback_booked"} | ENDS


def one_wait(events: list[dict]) -> list[dict]:
    """``events`` without any leaving of the queue the customer came back from, nor the coming back: one wait.
    A phone caller whose number keyed after a hold key would not do is back at the place they left (a
    ``handoff_queued`` marked ``back_in_line``, after the ``handoff_abandoned`` of the hold key; the queue's
    later ``wait_s`` counts from the first joining): found in review, such a caller was counted abandoned while
    waiting still, and one who hung up later gave up after the wait before the hold key only. Only the same
    conversation's leaving (``conversation_id``, where the events carry it): the desk's glance reads a customer's
    conversations together, and another one's cancel was dropped (found in review)."""
    kept: list[dict] = []
    for event in events:
        if event["kind"] in QUEUED and (event.get("data") or {}).get("back_in_line"):
            left = next((n for n in range(len(kept) - 1, -1, -1) if kept[n]["kind"] == "handoff_abandoned"
                         and kept[n].get("conversation_id") == event.get("conversation_id")), None)
            if left is not None:
                del kept[left]
                continue
        kept.append(event)
    return kept


def _wait_over(event: dict) -> bool:
    return event["kind"] in WAIT_OVER or (
        event["kind"] == "ticket_created" and (event.get("data") or {}).get("kind") == "callback")


def _epoch(at: dt.datetime) -> float:
    return at.replace(tzinfo=dt.timezone.utc).timestamp() if at.tzinfo is None else at.timestamp()


def asked_at(events: list[dict], before: dt.datetime | None = None) -> dt.datetime | None:
    """When the customer last asked for a person before the queue entry (or before ``before``)."""
    queued = next((e["at"] for e in events if e["kind"] in QUEUED), None)
    limit = min(t for t in (queued, before) if t is not None) if (queued or before) else None
    asks = [e["at"] for e in events if e["kind"] == ASKED and (limit is None or e["at"] <= limit)]
    return asks[-1] if asks else None


def answered_wait(events: list[dict], queue_wait: float | None, claim: int | None = None) -> float | None:
    """The wait of an answered contact from asking: never less than the queue's own wait. ``claim`` is the
    index in ``events`` of the claim that answered (default: the first); only what came after the end of
    any earlier wait (a callback booked, a message chosen, an earlier chat closed) is part of this one."""
    if queue_wait is None:
        return None
    if claim is None:
        claim = next((i for i, e in enumerate(events) if e["kind"] == "handoff_claimed"), None)
    if claim is None:
        return queue_wait
    over = [i for i, e in enumerate(events[:claim]) if _wait_over(e)]
    this_wait = events[over[-1] + 1 if over else 0:claim]
    asked = asked_at(this_wait)
    if asked is None:
        return queue_wait
    return max(queue_wait, (events[claim]["at"] - asked).total_seconds())


def abandoned_wait(events: list[dict], queue_wait: float | None, abandoned: bool) -> float | None:
    """Time to abandon from asking. A customer who asked and left before being queued (the phone's peak
    offer) waited until the contact's last event (the hang-up); one texted the self-help guide there did not
    abandon (``abandoned`` False: bot/analytics/contacts.py, **self-help sent**)."""
    asked = asked_at(events)
    if queue_wait is None:
        never_queued = not any(e["kind"] in QUEUED for e in events)
        ended = events[-1]["kind"] in ENDS  # not a customer still waiting as the wallboard looks
        if not (abandoned and never_queued and ended) or asked is None:
            return None
        return max(0.0, (events[-1]["at"] - asked).total_seconds())
    left = next(((e.get("data") or {}) for e in events if e["kind"] == "handoff_abandoned"), {})
    queued = next((e["at"] for e in events if e["kind"] in QUEUED), None)
    start = min(t for t in (asked, queued) if t is not None) if (asked or queued) else None
    if start is None:
        return queue_wait
    if isinstance(left.get("left_at"), (int, float)):
        return max(0.0, float(left["left_at"]) - _epoch(start))
    extra = (queued - start).total_seconds() if queued is not None else 0.0
    return queue_wait + max(0.0, extra)
