"""Messages Kefu sends to a customer outside a live conversation (e.g. after a voice message).

A :class:`Notifier` is what the voice-message pipeline (and later the actions) call.
:class:`OutboxNotifier` only queues: it writes the message into the ``outbox`` table and the
channel workers (SMS, WeChat, ...) deliver it, so a slow or broken gateway never blocks the
caller and nothing is lost when a worker is down. The wording comes from
``content/outbound.yml``; the payload also carries the structured entry so a rich channel
(a WeChat article card) can render it its own way.
"""
from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from pathlib import Path

import yaml

from bot.db.repository import DatabaseError, Repository, TicketTransitionError
from bot.selfhelp import SelfHelpEntry, public
from bot.yaml_load import safe_load

logger = logging.getLogger(__name__)

OUTBOUND_TEMPLATES = "outbound.yml"


class NotifyError(Exception):
    """A message could not be queued or sent; the message is for the log.

    ``transient`` says whether the same message may go through later (the channel was unreachable or
    busy): the outbox tries those again (``bot/outbound/worker.py``), and gives the others up at once.

    ``sent_nothing`` (set by the adapter): surely nothing went out, for a reason on Kefu's side or the
    channel's load, not the recipient's — the channel could not be connected to, refused Kefu's
    credentials, was rate-limited, overloaded or failing. Such a failure is always transient; the contact
    worker does not count it as an attempt at the customer (``bot/contacts/worker.py``). Otherwise a
    transient failure may have gone out (a timeout, a connection broken after the request was sent), and
    any other failure is the channel refusing this message for good (a bad number, an unsubscribed
    follower)."""

    def __init__(self, message: str = "", *, sent_nothing: bool = False) -> None:
        super().__init__(message)
        self.sent_nothing = sent_nothing

    @property
    def transient(self) -> bool:
        return self.sent_nothing


class Unreachable(NotifyError):
    """No answer from the channel: worth trying again. With ``sent_nothing`` it could not be connected to
    at all (or, for WeChat, gave Kefu no access token); otherwise the request may have reached it."""

    transient = True


class Refused(NotifyError):
    """The channel answered and did not take the message (``status``: its HTTP status). A server error,
    408 or 429 is worth trying again; any other answer (4xx, or 200 with an error code) is not, unless
    the adapter knows it sent nothing for a reason on Kefu's side or the channel's load (``sent_nothing``:
    a 401 or 403 refusing Kefu's key, an SMS gateway's or WeChat's rate limit)."""

    def __init__(self, message: str, status: int, *, sent_nothing: bool = False) -> None:
        super().__init__(message, sent_nothing=sent_nothing)
        self.status = status

    @property
    def transient(self) -> bool:
        return self.sent_nothing or self.status >= 500 or self.status in (408, 429)


class Withheld(NotifyError):
    """Not queued: the recipient opted out or is on the do-not-disturb list (``reason``: ``opt_out``, ``dnd``), and
    the message is not an answer they are asking for right now (:data:`ASKED_FOR_NOW`). Never worth trying again."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# The texts that answer what the person is asking for in a live conversation, on the address it is asking for: a
# verification code, what a caller asks to be texted while on the line, the confirmation of a TD. An opt-out
# (README, "Opting out in a conversation") stops every other text Kefu sends on its own: a ticket's notice, a voice
# message's self-help reply, a lost call's ticket or callback.
ASKED_FOR_NOW = frozenset({"verification_code", "ivr_links", "ivr_notify", "opt_out"})


FOR_CUSTOMER = "for_customer"  # an outbox payload's customer the text is for, when not the recipient's own number
# An outbox payload's voice message a self-help reply answers: held back when sent, the message goes to a person
# (voice/voicemail/withheld_reply.py), as when held back when queued.
FOR_VOICE_MESSAGE = "voice_message_id"


def opted_out_of(repository: Repository, channel: str, to: str, kind: str,
                 customer_id: int | None = None) -> str | None:
    """Why ``to`` opted out of a ``kind`` text (``opt_out``, ``dnd``: ``bot.contacts.optout.withheld``); None for what
    the person asks for now (:data:`ASKED_FOR_NOW`) or when they did not. DatabaseError when it cannot be read."""
    if kind in ASKED_FOR_NOW:
        return None
    from bot.contacts.optout import withheld

    return withheld(repository, channel, to, customer_id)


def held_back(repository: Repository, channel: str, to: str, kind: str, customer_id: int | None = None,
              ticket_id: str | None = None) -> str | None:
    """Why a text Kefu sends on its own may not go to ``to`` now (``opt_out``, ``dnd``), checked when it is queued
    and again when it is sent (a TD may come between); None for what the person asks for now. Logged; the ticket
    it is about gets a note saying so (its handler knows the customer was not told). :class:`NotifyError` (worth
    trying again) when the block list cannot be read."""
    try:
        reason = opted_out_of(repository, channel, to, kind, customer_id)
    except DatabaseError as exc:
        raise NotifyError(f"cannot read the recipient's opt-out: {exc}", sent_nothing=True) from exc
    if not reason:
        return None
    logger.info("notify.outbox.withheld channel=%s kind=%s reason=%s ticket=%s", channel, kind, reason, ticket_id)
    if ticket_id:
        from bot.ticket_notes import history_note

        try:
            repository.note_ticket(str(ticket_id), history_note(f"sms_withheld_{reason}"))
        except (DatabaseError, TicketTransitionError) as exc:  # held back all the same
            logger.warning("notify.outbox.withheld_not_noted ticket=%s error=%s", ticket_id, exc)
    return reason


def nothing_taken(status: int) -> bool:
    """Whether an HTTP answer says the request was surely not acted on, for a reason on Kefu's side or the
    service's load: Kefu's credentials refused (401, 403), too many requests (429) or a server error (5xx)."""
    return status in (401, 403, 429) or status >= 500


class Notifier(ABC):
    """Sends messages to a customer on a channel, outside a conversation."""

    @abstractmethod
    async def send_selfhelp(self, to: str, channel: str, entry: SelfHelpEntry, *,
                            voice_message_id: str | None = None) -> None:
        """Send the steps of a self-help entry to ``to`` (an address on ``channel``); ``voice_message_id``: the voice
        message it answers, which a person must handle if the reply does not go."""

    async def send(self, to: str, message: dict) -> None:
        """Send a prepared message: ``{"channel", "kind", "text", ...}`` (added for the IVR).

        ``text`` is already worded from content data; other keys are structured extras (links).
        Not abstract, so existing notifiers keep working; they refuse until they implement it.
        """
        raise NotifyError(f"{type(self).__name__} cannot send prepared messages")

    async def reported_not_delivered(self, client_ref: str) -> str | None:
        """The channel's report that the message sent under ``client_ref`` did not reach the customer, when
        it came before the sender recorded the send (WeChat's delivery report): the sender's to apply, once.
        None: no such report (channels that send none)."""
        return None


def render_selfhelp(entry: SelfHelpEntry, templates: dict) -> str:
    """The plain-text form of an entry, worded by the editors' templates."""
    try:
        steps = "\n".join(
            templates["step_line"].format(number=number, step=step)
            for number, step in enumerate(entry.steps, start=1)
        )
        return templates["selfhelp"].format(
            title=entry.title, steps=steps, link=public(entry.page()), video_url=public(entry.video_url)
        )
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise NotifyError(f"{OUTBOUND_TEMPLATES}: bad or missing selfhelp template: {exc!r}") from exc


def selfhelp_payload(entry: SelfHelpEntry, templates: dict) -> dict:
    return {
        "entry_id": entry.id,
        "fault_type": entry.fault_type,
        "title": entry.title,
        "steps": list(entry.steps),
        "link": public(entry.page()),
        "video_url": public(entry.video_url),  # whole addresses: a REST callback's system is not Kefu's page
        "poster_url": public(entry.poster_url),
        "text": render_selfhelp(entry, templates),
    }


class OutboxNotifier(Notifier):
    """Queues outbound messages in the ``outbox`` table (status ``pending``)."""

    def __init__(self, repository: Repository, templates_path: Path) -> None:
        self.repository = repository
        self.templates_path = Path(templates_path)

    @classmethod
    def from_settings(cls, settings=None, repository: Repository | None = None) -> "OutboxNotifier":
        if settings is None:
            from bot.settings import get_settings

            settings = get_settings()
        return cls(repository or Repository(settings.database_url), settings.content_dir / OUTBOUND_TEMPLATES)

    async def send_selfhelp(self, to: str, channel: str, entry: SelfHelpEntry, *,
                            voice_message_id: str | None = None) -> None:
        outbound_id = await asyncio.to_thread(self._queue, to, channel, "selfhelp", entry, voice_message_id)
        logger.info("notify.outbox.queued id=%s channel=%s kind=selfhelp entry=%s", outbound_id, channel, entry.id)

    async def send(self, to: str, message: dict, *, customer_id: int | None = None, once: str | None = None) -> None:
        """Queue ``message``; :class:`Withheld` when its recipient (or ``customer_id``, the customer it is about)
        opted out of it. ``once``: the sender's key for it, queued once under it (``Repository.add_outbound``)."""
        outbound_id = await asyncio.to_thread(self._queue_message, to, message, customer_id, once)
        if outbound_id is None:
            logger.info("notify.outbox.queued_before channel=%s kind=%s", message.get("channel"), message.get("kind"))
            return
        logger.info("notify.outbox.queued id=%s channel=%s kind=%s", outbound_id, message.get("channel"),
                    message.get("kind"))

    async def send_template(self, to: str, channel: str, kind: str, *, customer_id: int | None = None,
                            once: str | None = None, **fields: str) -> None:
        """Send the editors' ``kind`` template from ``outbound.yml``, filled with ``fields`` (``once`` as for
        :meth:`send`)."""
        template = self._templates().get(kind)
        try:
            text = template.format(**fields)
        except (AttributeError, KeyError, IndexError, ValueError) as exc:
            raise NotifyError(f"{OUTBOUND_TEMPLATES}: bad or missing {kind} template: {exc!r}") from exc
        await self.send(to, {"channel": channel, "kind": kind, "text": text, **fields}, customer_id=customer_id,
                        once=once)

    def _queue_message(self, to: str, message: dict, customer_id: int | None = None,
                       once: str | None = None) -> int | None:
        channel, kind = message.get("channel") or "", message.get("kind") or "message"
        if not to or not channel or not message.get("text"):
            raise NotifyError("an outbound message needs a recipient, a channel and a text")
        self._refuse_withheld(to, channel, kind, customer_id, message.get("ticket_id"))
        payload = {k: v for k, v in message.items() if k not in ("channel", "kind")}
        if customer_id is not None:
            payload[FOR_CUSTOMER] = customer_id  # checked again when it is sent (bot/outbound/worker.py)
        try:
            return self.repository.add_outbound(channel=channel, recipient=to, kind=kind, payload=payload, once=once)
        except DatabaseError as exc:
            raise NotifyError(f"cannot queue the outbound message: {exc}") from exc

    def _queue(self, to: str, channel: str, kind: str, entry: SelfHelpEntry, voice_message_id: str | None) -> int:
        if not to or not channel:
            raise NotifyError("an outbound message needs a recipient and a channel")
        payload = selfhelp_payload(entry, self._templates())
        if voice_message_id:
            payload[FOR_VOICE_MESSAGE] = voice_message_id  # for the worker, if it holds the reply back
        self._refuse_withheld(to, channel, kind, None, None)
        try:
            return self.repository.add_outbound(channel=channel, recipient=to, kind=kind, payload=payload)
        except DatabaseError as exc:
            raise NotifyError(f"cannot queue the outbound message: {exc}") from exc

    def _refuse_withheld(self, to: str, channel: str, kind: str, customer_id: int | None,
                         ticket_id: str | None) -> None:
        """Raise :class:`Withheld` for a text its recipient opted out of (:func:`held_back`)."""
        reason = held_back(self.repository, channel, to, kind, customer_id, ticket_id)
        if reason:
            raise Withheld(f"the recipient's {reason} holds back this {kind}", reason)

    def _templates(self) -> dict:
        # Re-read each time: the file is tiny and an editor's change is live at once.
        return load_templates(self.templates_path)


def load_templates(path: Path) -> dict:
    """The editors' outbound templates (``content/outbound.yml``)."""
    try:
        templates = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NotifyError(f"cannot read {path}: {exc}") from exc
    if not isinstance(templates, dict):
        raise NotifyError(f"{path}: expected a mapping of templates")
    return templates
