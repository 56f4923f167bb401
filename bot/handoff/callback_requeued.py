"""A booked callback back in the queue because the agent who took it left (signed out, removed, gone quiet, or put
back by a supervisor: ``bot.handoff.departures``).

Its customer is not waiting on the line: when the agent took it they were told that agent was ringing them
(``utter_agent_calling_back``, ``bot.handoff.joined``), in the conversation the callback was booked from, and the
bot was paused for the agent. Found in review: a chat customer put back is told their agent left and their place,
but the callback's customer was told nothing, kept waiting for a call that was not coming, with the assistant
silent. The waiting room's next visit (the record's notice state says ``with_agent``, written by the script that
put it back) now tells them, once, where they were told the agent was ringing, that the callback stands and another
agent will ring (``utter_callback_requeued``), and hands the conversation back to the assistant as it was before
the claim; the callback's ticket notes it (``callback_requeued``) for whoever looks at it.

No SMS: the callback and the time promised still stand, the customer has nothing to do, and a text Kefu sends on
its own is one more an opted-out customer must not get (``bot.notify``); the agents' queue keeps the promise.
"""
from __future__ import annotations

import json

from bot.handoff import keys
from bot.handoff.callback_transferred import NOTED_KEPT_S
from bot.handoff.masking import mask_phone
from bot.handoff.notes_owed import note_once
from bot.handoff.queue import TRANSFER_FIELD, transfer_mark
from bot.redis_text import as_text_or_none

TOLD = "callback_requeued"  # the notice state once its customer was told (bot.handoff.watcher.notice_state)
# Told, written only while the callback still waits from the leaving it told (its notice state still ``with_agent``,
# the record's last leaving still under that mark). Found in review: another agent taking the callback and leaving it
# too as the pass noted its ticket had his leaving's ``with_agent`` overwritten, so neither its customer nor its
# ticket ever heard of it. KEYS[1] the conversation hash; ARGV: TOLD, ``with_agent``, the mark. 1 when written.
_TOLD_IF_STILL_FROM = """
local now = redis.call('HMGET', KEYS[1], 'state', 'notified', '""" + TRANSFER_FIELD + """')
if now[1] ~= 'waiting' or now[2] ~= ARGV[2] or not now[3] or cjson.decode(now[3]).mark ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'notified', ARGV[1])
return 1
"""


async def tell_requeued(queue, conversations, conversation_id: str, entry: dict) -> None:
    """Tell the customer of ``entry`` (a callback back in line, its notice state ``with_agent``) and note its ticket.
    Said once under the hand-over's mark (a visit cut off after it does not repeat it), and only while the callback
    still waits (an agent who took it meanwhile is ringing them)."""
    context = entry["request"].context or {}
    callback = context.get("callback") or {}
    left = (context.get("transfers") or [{}])[-1]
    agent_id = str(left.get("agent_id") or "")
    mark = transfer_mark(agent_id, left.get("at"))
    still_waiting = _still_waiting(queue, conversation_id, mark)
    if not await conversations.resume(conversation_id, "utter_callback_requeued",
                                      once=f"callback_requeued:{agent_id}:{left.get('at')!r}",
                                      still_owed=still_waiting,
                                      phone_masked=mask_phone(str(callback.get("phone") or ""))) \
            and not await still_waiting():
        return  # another agent took it as this pass began: they are ringing, the ticket notes nothing of the last
    roster = await queue.roster.get(agent_id) if agent_id else None
    agent = (roster.name if roster else "") or agent_id
    await note_ticket(queue, conversation_id, mark, callback.get("ticket_id"), agent)
    from bot.handoff.watcher import WITH_AGENT  # the waiting room imports this module

    await queue.redis.eval(_TOLD_IF_STILL_FROM, 1, keys.conversation(conversation_id), TOLD, WITH_AGENT, mark)


async def note_ticket(queue, conversation_id: str, mark: str, ticket_id: str | None, agent: str) -> None:
    """The callback's ticket notes that ``agent`` left it and it is back in line, once under the leaving's ``mark``;
    the database not answering, the note is owed and written later (``bot.handoff.notes_owed``): found in review,
    it was lost, the customer told and the pass done."""
    from bot.ticket_notes import history_note

    if ticket_id:
        await note_once(queue, keys.transfer_noted(conversation_id, mark), NOTED_KEPT_S, str(ticket_id),
                        history_note(TOLD, agent=agent))


def _still_waiting(queue, conversation_id: str, mark: str):
    """Asked under the conversation's lock: the callback still waits from the leaving ``mark`` names, its customer not
    yet told. Found in review: another agent took it and left it too as the pass went on; its ticket credited the
    agent he took it from, and his own leaving was never noted."""
    from bot.handoff.watcher import WITH_AGENT  # the waiting room imports this module

    async def still_owed() -> bool:
        state, notified, noted = (as_text_or_none(v) for v in await queue.redis.hmget(
            keys.conversation(conversation_id), ["state", "notified", TRANSFER_FIELD]))
        left_from = json.loads(noted).get("mark") if noted is not None else None
        return state == "waiting" and notified == WITH_AGENT and left_from == mark

    return still_owed
