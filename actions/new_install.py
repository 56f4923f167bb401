"""A new install (报装): asked for by someone who is usually no customer yet, with no registered number or
account to give (found trying the chat: "我要报装宽带" was asked for one). Any mobile number is taken to call
back, as for a message; a sales person calls to offer plans and book the install."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.acknowledge import AcknowledgeFirst
from actions.backend import labels, latest_entity
from actions.identity import IdentifiedAction, without_secrets
from actions.kept_requests import KeptWhenDown
from actions.ticket_records import FiledToCallBack, filed_already, open_ticket, recorded
from bot.db.repository import Customer
from bot.labels import ticket_summary

NEW_INSTALL = "install"  # the service action's value (content/labels.yml, nlu_data/nlu/regexes.yml)
ACTION = "action_new_install"
WORDS_KEPT = 3  # the customer's turns at most, from the request on, that go on the ticket


def asks_new_install(tracker: Tracker) -> bool:
    """Whether this turn asks for a new install ("新房子要装宽带 约个时间"), or adds to one whose number is
    being asked for ("这周六上午": a time for the install, not a visit to an account they do not have)."""
    return (NEW_INSTALL in tracker.get_latest_entity_values("service_action")
            or (tracker.get_slot("pending_request") == ACTION and tracker.get_slot("awaiting") == "identity"))


def words_since_request(tracker: Tracker) -> str:
    """The customer's words from the request on (a time or a place added before the number too), for the
    person who calls back; numbers given alone and pressed buttons are not words of theirs."""
    words: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        text = event.get("text") or ""
        if (parse.get("intent") or {}).get("name") != "inform" and text and not text.startswith("/"):
            words.append(without_secrets(text))
        named = any(e.get("entity") == "service_action" and e.get("value") == NEW_INSTALL
                    for e in parse.get("entities") or [])
        if named or len(words) == WORDS_KEPT:
            break
    return " / ".join(reversed(words))


def requested_change(tracker: Tracker) -> str | None:
    """The service change asked for: a new install wins over the verb beside it ("新装宽带怎么办理" is
    both 新装 and 办理)."""
    said = [value for value in tracker.get_latest_entity_values("service_action") if isinstance(value, str)]
    if NEW_INSTALL in said:
        return NEW_INSTALL
    return latest_entity(tracker, "service_action") or tracker.get_slot("service_action")


class ActionNewInstall(AcknowledgeFirst, KeptWhenDown, FiledToCallBack, IdentifiedAction):
    """Filed as a service change a person works: on the number given to call back, or on the customer's
    account when they are one (a second line at another address)."""

    request = "new_install"
    acknowledgement = "utter_ack_new_install"
    asks_contact_number = True
    kept_response = "utter_new_install_kept"

    def name(self) -> str:
        return ACTION

    async def file(self, dispatcher, tracker, customer: Customer | None, phone: str, details: dict, verified: bool):
        label = labels()["service_action"][NEW_INSTALL]
        said = words_since_request(tracker)[:500]  # none for a button: its choice is the whole request
        filed = await filed_already(tracker, customer, NEW_INSTALL, said) if customer is not None else None
        ticket_id = filed or await open_ticket(
            tracker, customer, "service_change", ticket_summary("service_change", service=label, said=said[:200]),
            verified=verified, priority=1, needs_human=True,
            details={**details, "service_action": NEW_INSTALL, "customer_said": said})
        recorded(dispatcher, tracker, ticket_id, phone, verified, "utter_new_install_recorded",
                 service_action_label=label)
        return [SlotSet("last_ticket_id", ticket_id), SlotSet("service_action", None)]
