"""A contact's WeChat template message that WeChat took (errcode 0, a msgid) and later reported it could not
deliver, in its ``TEMPLATESENDJOBFINISH`` event (``bot/outbound/wechat_delivery.py``).

Found in review: the contact stayed ``done`` as ``sent``, so the ledger and ``kefu contacts list`` said the
customer had the care message or the reminder, and nothing tried again. Now the report is taken as WeChat's
answer to the send would have been: ``failed:user block`` (the follower refuses the account's messages)
as a refusal — the contact ends ``failed`` with result ``channel_refused``, as when WeChat refuses a
send at once; ``failed: system failed`` (or another failure) as a text that did not arrive — tried again
after the rule's next retry delay (result ``send_failed``), ``failed`` once they are used up, as a
send that timed out and was not delivered is sent again. The report's status is kept in the contact's
details (``delivery_report``). A report that comes twice changes the contact once: only the contact as
its last send left it (``done``, ``sent`` under the report's ``client_ref``) is changed. A report that
came before the worker recorded the send (WeChat posts it within milliseconds) is applied by the worker
once it has (found in review: it matched nothing then, and the contact stayed ``sent``).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Callable

from bot.contacts.rules import ContactRules, current_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import CHANNEL_REFUSED, MAYBE_SENT, SENT_REF, contact_event, retry_at
from bot.db.repository import Repository
from bot.outbound.wechat_delivery import REFUSED_BY_FOLLOWER

logger = logging.getLogger(__name__)

CONTACT_REF = re.compile(r"contact-(\d+)-\d+")  # a contact's text's client_ref (bot/contacts/worker.py)
DELIVERY_REPORT = "delivery_report"  # in a contact's details: WeChat's status of a text it did not deliver
NOT_DELIVERED = "send_failed"  # the result of a text that did not arrive and is tried again


async def template_not_delivered(settings, ref: str, status: str, now: dt.datetime | None = None) -> str | None:
    """WeChat reported the template message sent under ``ref`` was not delivered (``status``): the contact
    it was, if any, is failed or tried again. Returns what became of it (``failed``, ``retry``), or None
    (not a contact's text, or not its last send: changed already, or not recorded as sent yet)."""
    if CONTACT_REF.fullmatch(ref) is None:
        return None
    return await contact_not_delivered(
        Repository(settings.database_url), lambda: current_rules(settings.content_dir / "contacts.yml"), ref, status,
        now)


async def contact_not_delivered(repository: Repository, rules: Callable[[], ContactRules], ref: str, status: str,
                                now: dt.datetime | None = None) -> str | None:
    """:func:`template_not_delivered` on ``repository``, with the contact rules ``rules`` gives (read only
    for a retry's delay): for the webhook, and for the worker that recorded the send after the report came."""
    match = CONTACT_REF.fullmatch(ref)
    if match is None:
        return None
    schedule = Schedule(repository)
    contact = await asyncio.to_thread(schedule.get, int(match.group(1)))
    if (contact is None or contact["status"] != "done" or contact["result"] != "sent" or contact["channel"] != "wechat"
            or (contact["details"] or {}).get(SENT_REF) != ref):
        return None
    status = status.strip()
    details = {**(contact["details"] or {}), DELIVERY_REPORT: status}
    details.pop(SENT_REF, None)
    details.pop(MAYBE_SENT, None)  # its client_ref is of a send now known not delivered: the next is a new one
    when = None
    if status != REFUSED_BY_FOLLOWER:
        when = retry_at(await asyncio.to_thread(rules), contact["attempts"], now or dt.datetime.utcnow())
    result = CHANNEL_REFUSED if status == REFUSED_BY_FOLLOWER else NOT_DELIVERED
    values = ({"status": "scheduled", "due_at": when, "attempt_token": ""} if when is not None
              else {"status": "failed"})
    if not await asyncio.to_thread(schedule.not_delivered, contact["id"], contact["attempt_token"], result=result,
                                   details=details, lease_until=None, **values):
        return None
    logger.warning("contacts.message.not_delivered contact=%s channel=wechat status=%s", contact["id"], status)
    if when is not None:
        await contact_event(repository, contact, "contact_attempted", channel="wechat", result=result,
                            retry_at=when.isoformat(timespec="minutes"), delivery_report=status)
        return "retry"
    await contact_event(repository, contact, "contact_attempted", channel="wechat", result=result, final=True,
                        delivery_report=status)
    return "failed"
