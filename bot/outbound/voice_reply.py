"""A voice message's self-help reply (an outbox row naming the message, ``FOR_VOICE_MESSAGE``) is not sent once a
person has the message: the caller hears from them, and a self-help text coming after, out of date, would tell them
otherwise. One check, asked by the worker about to send the reply (bot/outbound/worker.py) and by a person's resend
(bot/outbound/undelivered.py); found in review: only the resend asked, and the worker sent a reply still waiting
after its message had gone to a person."""
from __future__ import annotations

from bot.db.repository import Repository


def with_a_person(repository: Repository, payload: dict) -> dict | None:
    """The voice message an outbox row's ``payload`` answers with self-help, if a person has it now (handed on when
    the reply was given up or dropped, or routed so meanwhile); None for any other row. Raises
    :class:`bot.db.repository.DatabaseError` when the message cannot be read."""
    from bot.notify import FOR_VOICE_MESSAGE
    from voice.voicemail.policy import with_a_person as routed_to_a_person

    message_id = (payload or {}).get(FOR_VOICE_MESSAGE)
    message = repository.get_voice_message(message_id) if message_id else None
    return message if message is not None and routed_to_a_person(message["outcome"]) else None


def why_not_sent(message: dict) -> str:
    """Why the reply to ``message`` (a person has it) is not sent, as ``kefu outbox`` shows it."""
    return (f"the voice message it answers went to a person (ticket {message['ticket_id']}), who answers the caller: "
            "the self-help reply would be out of date")
