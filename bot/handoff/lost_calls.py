"""Closing a call that was lost while an agent held it: nothing is said into the dead line.

A call is lost when the process holding it died (``bot.handoff.unanswered.call_lost_at``): the caller's line
went with it, and no process will ever play a word into it. Found in review: the agent's close of such a call
(and the waiting room's finish of one cut off, ``bot.handoff.handback.finish_owed``) still said 人工客服已结束本次服务
and the ticket's number into the conversation, so the transcript showed the caller told what nobody heard. The
close now hands the conversation back without a word, and the close's script notes it silent (:func:`silent_close`)
so a finish by the waiting room says nothing either.

What the close filed for the caller (a follow-up ticket, a callback) still matters to them: its number goes by SMS,
through the outbox as every other text Kefu sends outside a conversation (``bot.notify``, the repairs' SMS), to the
number the follow-up reaches them on. The words are the editors' (``content/outbound.yml``: ``agent_ticket_filed``,
``agent_callback_booked``). The SMS is noted with the close's words in its script: a close cut off before it was
queued has it queued by the waiting room's finish (:func:`text_owed`), and the desk crosses it off once queued; the
outbox takes it once under the close's key, whoever queues it (:func:`send_text`).
A caller who opted out of our texts (or whose number is on the do-not-disturb list) is not texted (``bot.notify``,
``Withheld``): the desk says so and why (``notice_withheld``), and the ticket's history notes it.
"""
from __future__ import annotations

import json
import logging

from bot.handoff import keys, masking
from bot.notify import NotifyError, OutboxNotifier, Withheld
from bot.settings import get_settings

logger = logging.getLogger(__name__)

# The outbound template that texts a close's notice, by what the notice holds (``Desk._callback``'s promises a time),
# and the values it fills. Not by the notice's reply: `kefu validate` reads the replies' senders (bot.editor).
CALLBACK_TEXT = ("agent_callback_booked", ("ticket_id", "callback_by"))
TICKET_TEXT = ("agent_ticket_filed", ("ticket_id",))


def notice_text(notice: dict | None, phone: str | None, customer_id: int | None = None, *,
                close: str | None = None) -> dict | None:
    """The SMS that tells a lost caller what their close filed (``notice``: its reply and values: a ticket, or a
    callback by when), to ``phone`` (the number of ``customer_id``, if known: their opt-out holds it back too);
    None when there is nothing to tell or nowhere to send it. ``close``: the close's own mark (the conversation's
    and the claim's), the SMS's key in the outbox, so it is queued once (:func:`send_text`)."""
    if not notice or not phone or not notice.get("ticket_id"):
        return None
    kind, fields = CALLBACK_TEXT if notice.get("callback_by") else TICKET_TEXT
    return {"to": phone, "kind": kind, "fields": {name: str(notice[name]) for name in fields},
            **({"customer_id": customer_id} if customer_id is not None else {}),
            **({"once": f"lost_call_text:{close}"} if close else {})}


def silent_close(text: dict | None = None, *, sent: bool = False) -> str:
    """What a lost call's close notes as its words (``HandoffQueue.close``'s ``words``): its hand-back is silent,
    whoever finishes it, and ``text`` (:func:`notice_text`) is still owed unless ``sent``. The text stays noted once
    sent: a retry of the close answers with its ticket (``bot.handoff.desk.Desk._closed_before``)."""
    return json.dumps({"reason": "closed", "silent": True, **({"text": text} if text else {}),
                       **({"sent": True} if sent else {})}, ensure_ascii=False)


def silent(words: dict) -> bool:
    """Whether a close's noted words (read back) say its hand-back is silent."""
    return bool(words.get("silent"))


async def send_text(text: dict | None, repository=None) -> dict:
    """Queue ``text`` (:func:`notice_text`) in the outbox, once under its close's key: the close, its retry and the
    waiting room's finish may each get here (found in review: a close cut off between queueing the SMS and noting it
    queued, :func:`texted`, had it queued again by the retry or the finish, and the caller texted twice). The close's
    answer: ``notice_texted``, the number masked, when queued (now or before); ``notice_withheld``, why (``opt_out``,
    ``dnd``), when the caller's opt-out holds it back; nothing when there was no text or the outbox refused it
    (logged: the desk then says the caller was not told)."""
    if not text:
        return {}
    ticket_id = text["fields"].get("ticket_id")
    try:
        await OutboxNotifier.from_settings(get_settings(), repository).send_template(
            text["to"], "sms", text["kind"], customer_id=text.get("customer_id"), once=text.get("once"),
            **text["fields"])
    except Withheld as exc:
        logger.info("handoff.lost_call.not_texted ticket=%s reason=%s", ticket_id, exc.reason)
        return {"notice_withheld": exc.reason}
    except NotifyError as exc:
        logger.warning("handoff.lost_call.not_texted ticket=%s error=%s", ticket_id, exc)
        return {}
    return {"notice_texted": masking.mask_phone(text["to"])}


async def texted(queue, conversation_id: str, text: dict) -> None:
    """The close's SMS ``text`` is queued (or held back for good by an opt-out): no longer owed (the finish by the
    waiting room does not send it again)."""
    from bot.handoff.handback import WORDS_FIELD  # handback reads silent() from here

    await queue.redis.hset(keys.conversation(conversation_id), WORDS_FIELD, silent_close(text, sent=True))


async def text_owed(words: dict) -> None:
    """The waiting room's finish of a lost call's close cut off (``bot.handoff.handback.finish_owed``): its SMS, if
    the close did not queue it."""
    if silent(words) and words.get("text") and not words.get("sent"):
        await send_text(words["text"])
