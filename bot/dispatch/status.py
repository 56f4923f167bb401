"""A status the dispatch system reports for a ticket, applied once: ``POST /api/tickets/<id>/status``.

The dispatch system says where a job stands (``resolved``: the engineer closed it), not which step
to close next, so a retry can never advance a ticket further: the ticket is moved along the
ledger's lifecycle (``bot.ledger.ledger.moves_to``) to that status and no further; a status it has
reached already, or an ``idempotency_key`` seen before, changes nothing. The moves are the same
``ticket_history`` rows an agent's would be, so the ledger and the contact planner (a follow-up
after ``resolved``) treat them alike. The request's key and outcome are kept in the ticket's
details (``dispatch_requests``, the newest ``KEPT_KEYS``), its ``external_ref`` in
``details.external_ref``, in the same transaction as the moves (``Repository.move_ticket_by``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.db.repository import Repository, TicketPlan
from bot.ledger.ledger import LIFECYCLE, moves_to, reached
from bot.ticket_notes import history_note

KEPT_KEYS = 50
MAX_REF, MAX_KEY, MAX_NOTE = 64, 128, 500


class StatusRequestError(ValueError):
    """The body is not a status request; the message says which field is wrong (HTTP 400)."""


class StatusConflict(ValueError):
    """The ticket cannot get there (HTTP 409); ``code`` names why, the message says it for a person."""

    def __init__(self, code: str, message: str, status: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class StatusRequest:
    status: str
    external_ref: str = ""
    idempotency_key: str = ""
    note: str = ""


@dataclass(frozen=True)
class StatusOutcome:
    ticket_id: str
    status: str                  # where the ticket stands now
    changed: bool                # moved by this request
    moves: tuple[str, ...]       # the statuses it went through (empty: none)
    reason: str                  # moved | already_reached | duplicate
    external_ref: str | None

    def answer(self) -> dict:
        return {"ticket_id": self.ticket_id, "status": self.status, "changed": self.changed,
                "moves": list(self.moves), "reason": self.reason, "external_ref": self.external_ref}


def parse_request(body: Any) -> StatusRequest:
    if not isinstance(body, dict):
        raise StatusRequestError("the body must be a JSON object")
    status = body.get("status")
    if status not in LIFECYCLE:
        raise StatusRequestError(f"status must be one of {', '.join(LIFECYCLE)}")
    fields = {}
    for name, limit in (("external_ref", MAX_REF), ("idempotency_key", MAX_KEY), ("note", MAX_NOTE)):
        value = body.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > limit:
            raise StatusRequestError(f"{name} must be a string of at most {limit} characters")
        fields[name] = value.strip()
    return StatusRequest(status=status, **fields)


def _history_note(request: StatusRequest, ref: str | None) -> str:
    """What the ledger shows for the step: who (the dispatch system), the job number, the note."""
    return history_note("dispatch", ref=ref or "", note=request.note)


def plan_for(ticket_id: str, request: StatusRequest, now: dt.datetime):
    """The planner ``Repository.move_ticket_by`` calls with the ticket's status and details, locked."""
    def plan(status: str, details: dict) -> TicketPlan:
        seen = list(details.get("dispatch_requests") or [])
        ref = request.external_ref or details.get("external_ref") or None
        if request.idempotency_key:
            earlier = next((r for r in seen if r.get("key") == request.idempotency_key), None)
            if earlier is not None:
                if earlier.get("status") != request.status:
                    raise StatusConflict("idempotency_key_reused", f"idempotency_key {request.idempotency_key!r} "
                                         f"was used for status {earlier.get('status')!r}", status)
                return TicketPlan(answer=StatusOutcome(ticket_id, status, False, (), "duplicate",
                                                       details.get("external_ref") or None))
        moves = () if reached(status, request.status) else moves_to(status, request.status)
        if moves is None:
            raise StatusConflict("not_allowed", f"{ticket_id} is {status}: it cannot become {request.status}", status)
        outcome = StatusOutcome(ticket_id, moves[-1] if moves else status, bool(moves), moves,
                                "moved" if moves else "already_reached", ref)
        new_details = dict(details)
        if request.external_ref:
            new_details["external_ref"] = request.external_ref
        if request.idempotency_key:
            record = {"key": request.idempotency_key, "status": request.status, "moves": list(moves),
                      "at": now.replace(microsecond=0).isoformat() + "Z"}
            new_details["dispatch_requests"] = (seen + [record])[-KEPT_KEYS:]
        changed_details = new_details != details
        note = _history_note(request, ref) if moves or new_details.get("external_ref") != details.get("external_ref") else ""
        return TicketPlan(moves=moves, details=new_details if changed_details else None, note=note, answer=outcome)

    return plan


def apply_status(repository: Repository, ticket_id: str, request: StatusRequest,
                 now: dt.datetime | None = None) -> StatusOutcome:
    """Apply the request; raises ``TicketTransitionError`` for no such ticket, ``StatusConflict`` for a 409."""
    ticket_id = ticket_id.upper()
    return repository.move_ticket_by(ticket_id, plan_for(ticket_id, request, now or dt.datetime.utcnow())).answer
