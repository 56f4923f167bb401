"""A booked callback an agent transferred to another group (转接 at the desk): its customer keeps the promise.

Its customer is not waiting on the line: they were told they could leave, then that the agent was ringing them
(``utter_agent_calling_back``, ``bot.handoff.joined``), the bot paused for that agent. Found in review: the desk's
transfer told them "已为您转接到更合适的客服组，请稍候" and a place in line, as if they were on hold, and left the
assistant paused. They are told instead, once under the transfer's mark, that the callback stands and an agent of the
other group will ring the same number (``utter_callback_transferred``), and the conversation goes back to the
assistant as it was before the claim, as when the agent left it (``bot.handoff.callback_requeued``). Said by the
desk, or by the waiting room finishing a transfer cut off (``bot.handoff.transfer_owed``).
"""
from __future__ import annotations

from bot.handoff.masking import mask_phone

# What a callback's transfer tells its customer (``HandoffQueue.transfer``'s ``says``, noted with the transfer).
CALLBACK_TRANSFERRED = "utter_callback_transferred"


async def tell_callback_transferred(queue, conversations, conversation_id: str, owed: dict,
                                    still_owed=None) -> bool:
    """The callback stands, another group's agent will ring (the number masked), the assistant answering meanwhile;
    once under the transfer's mark, only while ``still_owed`` says so. True when it went through."""
    entry = await queue.entry(conversation_id)
    callback = ((entry["request"].context or {}).get("callback") if entry else None) or {}
    return await conversations.resume(conversation_id, CALLBACK_TRANSFERRED, once=owed["mark"], still_owed=still_owed,
                                      phone_masked=mask_phone(str(callback.get("phone") or "")))
