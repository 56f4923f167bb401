"""A booked callback an agent transferred to another group (转接 at the desk): its customer keeps the promise.

Its customer is not waiting on the line: they were told they could leave, then that the agent was ringing them
(``utter_agent_calling_back``, ``bot.handoff.joined``), the bot paused for that agent. Found in review: the desk's
transfer told them "已为您转接到更合适的客服组，请稍候" and a place in line, as if they were on hold, and left the
assistant paused. They are told instead, once under the transfer's mark, that the callback stands and an agent of the
other group will ring the same number (``utter_callback_transferred``), and the conversation goes back to the
assistant as it was before the claim, as when the agent left it (``bot.handoff.callback_requeued``). Said by the
desk, or by the waiting room finishing a transfer cut off (``bot.handoff.transfer_owed``).

Its ticket notes the transfer and the group (``callback_transferred``), as it notes an agent leaving it. Found in
review: only the handoff record knew, and whoever opened the ticket saw an agent's callback never made. Noted once
under the transfer's mark, by whichever of the desk, its retry and the waiting room comes first; owed while the
database does not answer, and written by the waiting room (``bot.handoff.notes_owed``).
"""
from __future__ import annotations

from bot.handoff import keys
from bot.handoff.masking import mask_phone
from bot.handoff.notes_owed import note_once

# What a callback's transfer tells its customer (``HandoffQueue.transfer``'s ``says``, noted with the transfer).
CALLBACK_TRANSFERRED = "utter_callback_transferred"
NOTED = "callback_transferred"  # its ticket's history note (content/labels.yml ticket_history)
NOTED_KEPT_S = 7 * 24 * 3600  # longer than any retry of the transfer, or the waiting room's finish of it


async def tell_callback_transferred(queue, conversations, conversation_id: str, owed: dict,
                                    still_owed=None) -> bool:
    """The callback stands, another group's agent will ring (the number masked), the assistant answering meanwhile;
    once under the transfer's mark, only while ``still_owed`` says so. True when it went through."""
    entry = await queue.entry(conversation_id)
    callback = ((entry["request"].context or {}).get("callback") if entry else None) or {}
    return await conversations.resume(conversation_id, CALLBACK_TRANSFERRED, once=owed["mark"], still_owed=still_owed,
                                      phone_masked=mask_phone(str(callback.get("phone") or "")))


async def note_transferred(queue, conversation_id: str, owed: dict | None) -> None:
    """The ticket of the callback the transfer ``owed`` moved notes who passed it to which group, once under the
    transfer's mark; the database not answering, the note is owed and written later (``bot.handoff.notes_owed``)."""
    from bot.ticket_notes import history_note

    if not owed or owed.get("says") != CALLBACK_TRANSFERRED:
        return
    entry = await queue.entry(conversation_id)
    context = (entry["request"].context or {}) if entry else {}
    ticket_id = (context.get("callback") or {}).get("ticket_id")
    if not ticket_id:
        return
    passed = [t for t in context.get("transfers") or [] if t.get("at") == owed["at"]]  # this transfer's hand-over
    agent = (passed[-1].get("agent_name") if passed else "") or owed["agent_id"]
    group = queue.rules.skills.get(owed["to_skill"], owed["to_skill"])
    # Noted by the desk, its retry or the waiting room's finish, whichever comes first; owed until the database
    # takes it (found in review: dropped when the database did not answer on every try).
    await note_once(queue, keys.transfer_noted(conversation_id, owed["mark"]), NOTED_KEPT_S, str(ticket_id),
                    history_note(NOTED, agent=agent, group=group))
