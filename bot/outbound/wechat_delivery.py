"""Whether a WeChat template message that may have gone out did: WeChat's delivery report, per follower.

WeChat's template API takes no key of the caller's (an SMS gateway's ``client_ref``), so a send whose
answer never came (a timeout) and that was sent again reached the follower twice when the first had gone
out. WeChat reports every template message it delivered, or could not, to the account's webhook (event
``TEMPLATESENDJOBFINISH``, ``Status`` ``success``, ``failed:user block`` or ``failed: system failed``);
the report names the follower and WeChat's msgid, which a send that timed out never learnt. So Kefu keeps,
in Redis under the WeChat channel's prefix: per ``client_ref``, that a send was handed to WeChat (or that it
went out) and the report that came for it; per follower, the latest send handed to WeChat. A report is
taken for the latest send to its follower when it comes: Kefu sends a follower a template message at most
a few times a day (content/contacts.yml's daily limit), minutes apart at least. So a report that came
before another template message went to the follower (a ticket notice from the outbox, another contact)
stays the earlier one's, and one that came after is the later one's (found in review: a report was kept
per follower and taken for any send before it, so a timed-out care message was not sent again because the
ticket notice after it had been delivered). A send under a ``client_ref`` already handed to WeChat is not
made again when its report says it went out (or that the follower refuses template messages). Without
one (the report lost, or the first send really lost) it is sent again, as before.

A report names WeChat's msgid (``MsgID``), and WeChat answers each send it took with that msgid. So a send
WeChat answered is no longer the one a report is taken for: its report is known by its msgid, and the
latest send whose answer never came is again the one an unknown msgid's report is taken for. Without
this, a report of a ticket notice sent (and answered) after a care message timed out was taken for the
notice, and the care message's own report, coming after it, too — it was sent twice.

A report of an answered send that says it was not delivered gives the webhook that send's ``client_ref``
(:func:`record_report`), for the contact or outbox message it was, recorded as sent, to learn it (found
in review: a care message WeChat took and then could not deliver, the follower refusing the account's
messages, stayed ``sent``).
"""
from __future__ import annotations

import hashlib
import json

REPORT_TTL_S = 3 * 24 * 3600  # a retry comes within the contact's retry delays (hours), well inside this
DELIVERED = "success"
REFUSED_BY_FOLLOWER = "failed:user block"  # the follower set the account's messages to be refused
REF_MARK = "ref:"  # an answered send's record names its key and client_ref after this (an older Kefu's: its key)


SENT_PREFIX = "template_ref:"  # under the WeChat channel's guard prefix, as the others below


def sent_key(ref: str, body: dict) -> str:
    """The record of the message ``body`` (as posted to WeChat) sent under ``ref``: named by both, so a
    ``client_ref`` used again for another message (a database restored or reset, Redis kept) is not it."""
    digest = hashlib.sha256(json.dumps([ref, body], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{SENT_PREFIX}{digest[:32]}"


def _report_key(key: str) -> str:
    return f"{key}:report"


def _latest_key(openid: str) -> str:
    return f"template_last:{openid}"


def follower_keys(openid: str, sends: dict[str, str]) -> list[str]:
    """The keys (without the guard's prefix) that name the follower ``openid``: their latest send, and each
    send recorded to them, with its report, among ``sends`` (a record's key -> its JSON): for an erasure."""
    mine = [key for key, raw in sends.items() if not key.endswith(":report") and json.loads(raw).get("to") == openid]
    return [_latest_key(openid), *mine, *(_report_key(key) for key in mine)]


def _answered_key(msgid: str) -> str:
    return f"template_msg:{msgid}"


async def record_report(guard, openid: str, status: str, msgid: str = "") -> str | None:
    """WeChat's delivery report of a template message to ``openid`` (from the webhook): that of the send
    WeChat answered with ``msgid``, else that of the latest send to them whose answer never came (kept
    for it; none: not a send under a ``client_ref``, or days ago). Returns the ``client_ref`` of an
    answered send the report says was not delivered, for its sender to learn (None otherwise)."""
    if msgid:
        answered = await guard.get(_answered_key(msgid))
        if answered is not None:
            if status.strip() == DELIVERED or not answered.startswith(REF_MARK):
                return None
            send = json.loads(answered[len(REF_MARK):])
            # Not sent after all: the same message under its client_ref (an operator's resend) is judged by
            # this report, as one whose answer never came — made again, unless the follower refuses them.
            await guard.put(send["key"], json.dumps({"to": openid}), REPORT_TTL_S)
            await guard.put(_report_key(send["key"]), status.strip(), REPORT_TTL_S)
            return send["ref"] or None
    latest = await guard.get(_latest_key(openid))
    if latest is not None:
        await guard.put(_report_key(latest), status.strip(), REPORT_TTL_S)
    return None


async def earlier_send(guard, key: str) -> str | None:
    """What became of an earlier send recorded at ``key`` (:func:`sent_key`): ``DELIVERED`` (it went out:
    not again), ``REFUSED_BY_FOLLOWER``, or None (none, or nothing known: send it)."""
    raw = await guard.get(key)
    if raw is None:
        return None
    if json.loads(raw).get("sent"):
        return DELIVERED
    status = await guard.get(_report_key(key))
    return status if status in (DELIVERED, REFUSED_BY_FOLLOWER) else None


async def handing_over(guard, key: str, openid: str) -> None:
    """The send recorded at ``key`` is about to be handed to WeChat: the latest to ``openid``, whose next
    report is its. The send it follows is kept with it, to be the latest again if WeChat surely sent
    nothing (:func:`handed_over`)."""
    before = await guard.get(_latest_key(openid))
    await guard.forget(_report_key(key))  # an earlier round's ("failed: system failed"): not this one's
    record = {"to": openid, "before": before if before != key else None}
    await guard.put(key, json.dumps(record), REPORT_TTL_S)
    await guard.put(_latest_key(openid), key, REPORT_TTL_S)


async def handed_over(guard, key: str, sent: bool, msgid: object = None, ref: str = "") -> None:
    """WeChat answered the send recorded at ``key`` (made under ``client_ref`` ``ref``): it took it (``sent``,
    as ``msgid``), or surely sent nothing. Either way a report coming now is not this send's: the send
    before it to the follower is the latest again (found in review: a notice WeChat was too busy for took
    the report of the care message that had timed out), and a report naming ``msgid`` is known as this
    one's, of ``ref``."""
    raw = await guard.get(key)
    if sent:
        await guard.put(key, json.dumps({"sent": True}), REPORT_TTL_S)
        if msgid is None:  # WeChat always names it; without it, a report now may be this one's
            return
        await guard.put(_answered_key(str(msgid)), REF_MARK + json.dumps({"key": key, "ref": ref}), REPORT_TTL_S)
    else:
        await guard.forget(key)
        await guard.forget(_report_key(key))
    record = json.loads(raw) if raw else {}
    latest = _latest_key(record["to"]) if record.get("to") else None
    if latest and await guard.get(latest) == key:
        if record.get("before"):
            await guard.put(latest, record["before"], REPORT_TTL_S)
        else:
            await guard.forget(latest)
