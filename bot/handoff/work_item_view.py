"""A work item (an open ticket a person must act on) as an agent reads it: the number to call,
by when, and what the customer said — not the ticket's internal summary line. A voice message
also carries why it needs a person, its transcript and where the desk plays its recording."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from bot.db.recordings import VOICE_MESSAGE, RecordingStore, playable
from bot.db.repository import Repository
from bot.handoff import masking
from bot.handoff.tickets import callback_number

AUDIO_URL = "/agent/api/tickets/{ticket_id}/audio"


def phone_to_call(ticket: dict, repository: Repository) -> str | None:
    """The number to call: asked for, or the caller's own line (a phone callback or voice message
    from a number that is no customer's; found by a tester, who saw no number on the item)."""
    details = ticket.get("details") or {}
    phone = (callback_number(details) or details.get("phone")
             or (details.get("handoff") or {}).get("phone"))
    if not phone and ticket.get("customer_id"):
        customer = repository.get_customer(int(ticket["customer_id"]))
        phone = customer.phone if customer else None
    return phone


def readable(ticket: dict, repository: Repository) -> dict:
    details = ticket.get("details") or {}
    phone = phone_to_call(ticket, repository)
    said = details.get("customer_said") or []
    message = details.get("left_message") or ""
    created = ticket.get("created_at")
    voice = bool(details.get("voice_message_id"))
    return {
        "ticket_id": ticket["ticket_id"], "kind": ticket["kind"], "status": ticket["status"],
        "priority": ticket["priority"], "channel": ticket["channel"],
        # masked like the packet's number; the agent calling back opens it with the desk's recorded reveal
        "phone": masking.mask_number(phone) if phone else None,
        "callback_by": details.get("callback_by"),
        "message": masking.mask_text(message),
        "customer_said": [masking.mask_text(s) for s in said],
        "summary": masking.mask_text(ticket.get("summary") or ""),
        "created_at": created.isoformat(timespec="minutes") if isinstance(created, datetime) else created,
        # A voice message: why a person must listen (a content/ui label key's suffix), what the
        # recogniser heard (None: nothing, listen to it), and the recording, behind the desk's sign-in.
        "voice_reason": details.get("reason") if voice else None,
        "transcript": masking.mask_text(details.get("transcript") or "") or None if voice else None,
        "audio_url": AUDIO_URL.format(ticket_id=quote(ticket["ticket_id"], safe="")) if voice else None,
    }


def voice_message_audio(ticket: dict | None, store: RecordingStore, data_dir: Path) -> tuple[bytes, str] | None:
    """The recording of a voice-message work item (audio, content type): the ``recordings`` row of its
    message, shared by every instance; else a file an earlier version left in this instance's folder."""
    message_id = ((ticket or {}).get("details") or {}).get("voice_message_id")
    return playable(store, data_dir, VOICE_MESSAGE, str(message_id)) if message_id else None
