"""The one shape of a ticket event for the dispatch system, queued in the outbox with the change.

A ticket's creation, each status move and each change of its details an action makes on purpose
(``Repository.update_ticket_details``: a visit's new time, or a change of it asked for) queue one event (outbox channel ``dispatch``, the ticket id
as recipient) in the same transaction as the change itself: no change without its event, no event
for a change rolled back. Only when ``KEFU_DISPATCH_EVENTS_URL`` is set: without a receiver nothing
would ever take them off the outbox. The event carries the whole ticket as it stands after the
change, so a receiver that gets events late or twice still ends up with the latest state;
``bot/dispatch/delivery.py`` adds the ``event_id`` (the outbox id) when it sends it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.schema import customers, outbox, tickets

CHANNEL = "dispatch"
TicketEventType = Literal["ticket_created", "ticket_status_changed", "ticket_updated"]


class TicketSnapshot(TypedDict):
    ticket_id: str
    kind: str
    status: str
    previous_status: str | None
    priority: int
    needs_human: bool
    channel: str
    conversation_id: str
    summary: str
    customer_key: str | None      # "customer:<id>", as in outcome events; None: not a known customer
    account_number: str | None    # the operator's own key for the customer
    details: dict[str, Any]       # by kind: README, "Ticket details"
    external_ref: str | None      # the dispatch system's job number, once it sent one
    created_at: str
    updated_at: str


class TicketEvent(TypedDict):
    type: TicketEventType
    occurred_at: str
    ticket: TicketSnapshot


def _utc(moment: dt.datetime | None) -> str:
    return (moment or dt.datetime.utcnow()).replace(microsecond=0).isoformat() + "Z"


def ticket_event(conn: Connection, ticket_id: str, event_type: TicketEventType,
                 previous_status: str | None) -> TicketEvent:
    """The event for the ticket as ``conn`` sees it now (inside the transaction that changed it)."""
    row = conn.execute(
        sa.select(tickets, customers.c.account_number)
        .select_from(tickets.outerjoin(customers, customers.c.id == tickets.c.customer_id))
        .where(tickets.c.ticket_id == ticket_id)).mappings().one()
    details = dict(row["details"] or {})
    return TicketEvent(type=event_type, occurred_at=_utc(None), ticket=TicketSnapshot(
        ticket_id=ticket_id, kind=row["kind"], status=row["status"], previous_status=previous_status,
        priority=row["priority"], needs_human=bool(row["needs_human"]), channel=row["channel"] or "",
        conversation_id=row["conversation_id"] or "", summary=row["summary"] or "",
        customer_key=f"customer:{row['customer_id']}" if row["customer_id"] is not None else None,
        account_number=row["account_number"], details=details, external_ref=details.get("external_ref") or None,
        created_at=_utc(row["created_at"]), updated_at=_utc(row["updated_at"] or row["created_at"])))


def wanted() -> bool:
    """Ticket events are queued only for a configured receiver."""
    from bot.settings import get_settings

    return bool(get_settings().dispatch_events_url)


def queue_ticket_event(conn: Connection, ticket_id: str, event_type: TicketEventType,
                       previous_status: str | None = None) -> None:
    """Queue the event in the caller's transaction (nothing when no receiver is configured)."""
    if not wanted():
        return
    event = ticket_event(conn, ticket_id, event_type, previous_status)
    conn.execute(outbox.insert().values(channel=CHANNEL, recipient=ticket_id, kind=event_type,
                                        payload={"event": event, "attempts": 0}, status="pending"))
