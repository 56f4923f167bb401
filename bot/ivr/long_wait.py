"""The busy-time offer for a caller whose wait grows long while they are already on hold.

Found in review: the flow offers a callback or a message at a busy time (``peak_offer``) only as it routes the call
to the queue (a ``goto`` case on ``queue_wait_over_s``); a caller queued when the wait was short heard nothing of the
kind when it then grew (the calls ahead taking longer, agents signing out), only the place and the generic reminder.
Now, once in a call, the hold timer's turn reads the flow's ``hold.long_wait_say`` instead of the reminder when the
caller's own estimated wait is past ``hold.long_wait_over_s`` (and someone of their group is signed in: else there is
no wait to promise). Unless the hold writes its own, that is the wait the flow's ``queue_wait_over_s`` condition looks
at (the peak offer's, bot.ivr.flow_loader): editors write the threshold once. Its keys are the hold keys (a callback
booked from the queue entry, a voice message, and as at ``peak_offer`` the self-help guide by SMS: on its own key, 1
being the callback on hold, and sent before the caller leaves the queue, so one not sent keeps the place:
``FlowEngine._text_from_the_queue``). A caller the flow routed through such a case was offered the wait already: not
again on hold.
"""
from __future__ import annotations

from bot.handoff.estimate import wait_minutes
from bot.ivr.call_state import CallState
from bot.ivr.flow import Flow
from bot.ivr.handoff import HandoffGateway
from bot.ivr.matching import fill


def routed_by_the_wait(when, state: CallState) -> None:
    """A ``goto`` case on ``queue_wait_over_s`` (the peak offer) chose the way: the caller was offered the wait."""
    if when.queue_wait_over_s is not None:
        state.long_wait_offered = True


async def long_wait_words(flow: Flow, state: CallState, handoff: HandoffGateway, conversation_id: str) -> str | None:
    """What to read in the hold timer's turn instead of the reminder: the long-wait offer, the first time the
    caller's wait is past the flow's threshold; None otherwise."""
    hold = flow.hold
    if not hold.long_wait_say or hold.long_wait_over_s <= 0 or state.long_wait_offered:
        return None
    wait = await handoff.own_wait(conversation_id)
    if wait is None or wait <= hold.long_wait_over_s:
        return None
    state.long_wait_offered = True
    state.vars["wait_minutes"] = wait_minutes(wait)
    return fill(hold.long_wait_say, state.vars)
