""""Stop calling and texting me": the customer's objection to follow-up contacts, recorded.

Whose objection counts, so that nobody can silently opt out someone else's number:

* a customer proven in this conversation (SMS code, service password, integration token, a caller
  ID vouched for by the trunk, a bound WeChat account): their registered number, and the
  channel's own address they wrote from;
* otherwise the channel's own proven address alone: the WeChat account writing, or the caller's
  own line when the trunk vouched for it (the same addresses a TD reply opts out);
* anyone else (web chat, REST, a caller the trunk did not vouch for) is asked to verify first,
  like any request in ``content/verification.yml`` marked ``verified`` (``opt_out``); a number that
  is no customer's never passes, and the number's owner can still reply TD to our texts.

The opt-out itself is the contact schedule's (bot/contacts/optout.py), the replies are in
domain/opt_out.yml.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.acknowledge import AcknowledgeFirst
from actions.backend import channel_of, last_said
from actions.chain import continue_with
from actions.identity import IdentifiedAction, db_error, establish, local_phone, message_claims
from bot.contacts.optout import opt_out
from bot.db.repository import Customer, DatabaseError
from bot.handoff.masking import mask_phone
from bot.security.claims import CALLER_ID, WECHAT_OPENID
from bot.settings import get_settings

CANCEL = "cancel"  # the service action of 退订/取消 (content/labels.yml service_action)


def own_addresses(tracker: Tracker) -> list[str]:
    """The addresses the channel itself proved this message comes from."""
    addresses = []
    for claim in message_claims(tracker):
        if claim.kind == WECHAT_OPENID and claim.subject:
            addresses.append(f"wechat:{claim.subject}")
        elif claim.kind == CALLER_ID and local_phone(claim.subject):
            addresses.append(f"phone:{local_phone(claim.subject)}")
    return addresses


async def record_opt_out(tracker: Tracker, addresses: list[str]) -> list[str]:
    return await opt_out(get_settings().database_url, addresses, conversation_id=tracker.sender_id,
                         channel=channel_of(tracker), via="assistant")


def confirm(dispatcher: CollectingDispatcher, addresses: list[str]) -> None:
    phone = next((a.split(":", 1)[1] for a in addresses if a.startswith("phone:")), None)
    if phone:
        dispatcher.utter_message(response="utter_opted_out_phone", phone_masked=mask_phone(phone))
    else:
        dispatcher.utter_message(response="utter_opted_out")


class ActionOptOut(AcknowledgeFirst, IdentifiedAction):
    request = "opt_out"
    acknowledgement = "utter_ack_opt_out"

    def name(self) -> str:
        return "action_opt_out"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if last_said(tracker) == "utter_ask_service_action":
            # "退订" to "请问您要办理哪项业务？" cancels a service, not our messages (found on a live call; on WeChat,
            # whose follower needs no proof, it opted them out at once).
            return await continue_with("action_manage_service", dispatcher, tracker, domain,
                                       [SlotSet("service_action", CANCEL)])
        own = own_addresses(tracker)
        if own:
            try:
                who = await establish(tracker)
            except DatabaseError:
                return db_error(dispatcher)
            if not who.verified:  # a number typed alongside proves nothing: only the channel's own address
                confirm(dispatcher, await record_opt_out(tracker, own))
                return []
        return await super().run(dispatcher, tracker, domain)

    async def serve(self, dispatcher, tracker, customer: Customer, verified):
        addresses = await record_opt_out(tracker, [f"phone:{customer.phone}" if customer.phone else ""]
                                         + own_addresses(tracker))
        confirm(dispatcher, addresses)
        return []
