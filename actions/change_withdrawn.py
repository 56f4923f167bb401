"""A service change taken back in the conversation that filed it ("等下 不换了 还是保留原来的吧").

Found in a live trial: after a plan change was filed, "不换了" got "好的，还有其他需要帮忙的吗？" with the change still open
for staff to carry out, and "刚才那个换套餐的单子帮我撤销" filed a second change. Words of the editors'
``change_withdrawn_words`` said right after this conversation's change was told (``last_ticket_id``, ``CHANGE_TOLD``)
note the withdrawal on it for staff, who close it before anything is changed, and the customer hears so.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend import channel_of, db, labels, last_said, latest_text, repository, says_any
from actions.identity import without_secrets
from actions.visits import OPEN
from bot.ticket_notes import history_note

SERVICE_CHANGE = "service_change"


# The replies telling the customer their service change was filed: the words take back only what was just told
# (found in review: "撤销明天的上门" or "帮我撤回刚才那条留言" later on took back the plan change).
CHANGE_TOLD = frozenset({"utter_plan_change_recorded", "utter_service_change_recorded",
                         "utter_service_change_recorded_as_said"})


async def change_taken_back(tracker: Tracker) -> dict | None:
    """The open service change filed in this conversation, just told, that the latest message takes back (not a
    visit it names: that is the visit's cancellation), or None."""
    ticket_id = tracker.get_slot("last_ticket_id")
    words = labels()
    if (not ticket_id or last_said(tracker) not in CHANGE_TOLD
            or not says_any(tracker, words.get("change_withdrawn_words")) or says_any(tracker, words.get("visit_named"))):
        return None
    ticket = await db(repository().get_ticket, ticket_id)
    if (ticket is None or ticket["kind"] != SERVICE_CHANGE or ticket["status"] not in OPEN
            or ticket.get("conversation_id") != tracker.sender_id):
        return None
    return ticket


async def note_taken_back(dispatcher: CollectingDispatcher, tracker: Tracker, ticket: dict) -> list[dict[str, Any]]:
    said = without_secrets(latest_text(tracker))[:500]  # these words, whatever the NLU read them as
    await db(repository().note_ticket, ticket["ticket_id"],
             history_note("change_withdraw", channel=channel_of(tracker), said=said))
    dispatcher.utter_message(response="utter_service_change_withdraw_noted", ticket_id=ticket["ticket_id"])
    return [SlotSet("awaiting", None), SlotSet("pending_request", None)]
