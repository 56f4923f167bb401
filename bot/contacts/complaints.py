"""A follow-up or care contact is not made while the customer has an open complaint: it is left to
the complaint's handler.

Found by a cross-channel journey tester: a customer who had complained about a repair got the
automated follow-up call asking "问题解决了吗？" and to rate the service, while a person was still
handling their complaint. A robot asking whether all is well, in the middle of a complaint, is what
a customer would least expect; the person handling the complaint talks to them anyway and can ask
whether the repair held. So the contact is held (status ``held``, result ``open_complaint``), never
made later on its own, and the complaint's ticket gets a note naming the ticket whose follow-up its
handler now owns (``ticket_history.followup_held`` in content/labels.yml). The followed-up ticket's
ledger step stays open until someone closes it. Callbacks the customer booked and arrears reminders
are not held: the customer asked for the one, the other is about money owed.
"""
from __future__ import annotations

from bot.contacts.schedule import Schedule
from bot.db.repository import Repository
from bot.ticket_notes import history_note

HELD_PURPOSES = ("followup", "care")
OPEN_COMPLAINT = "open_complaint"


def open_complaint(repository: Repository, contact: dict) -> dict | None:
    """The newest open complaint of the contact's customer, if the contact is one a complaint holds."""
    if contact["purpose"] not in HELD_PURPOSES or contact["customer_id"] is None:
        return None
    return next((t for t in repository.tickets_for(contact["customer_id"], open_only=True)
                 if t["kind"] == "complaint"), None)


def hand_to_complaint(repository: Repository, contact: dict, complaint: dict) -> bool:
    """Hold the contact and tell the complaint's handler; False if the contact had moved on already."""
    if not Schedule(repository).hold_contact(contact["id"], OPEN_COMPLAINT):
        return False
    repository.note_ticket(complaint["ticket_id"], history_note("followup_held", ticket_id=contact["ticket_id"] or ""))
    return True
