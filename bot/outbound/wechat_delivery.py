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
messages, stayed ``sent``). WeChat may post that report within milliseconds of taking the send: before its
answer has reached Kefu (the msgid is nobody's yet), or before the sender has recorded the send as
``sent`` (nothing matches it in the database). Found in review: such a report was lost, and the contact
stayed ``sent``. So a report of a msgid not known yet is kept a while by its msgid, and the send WeChat
answers with it takes it (:func:`handed_over`); and the report of an answered send is kept a while by its
``client_ref`` until it is applied — by the webhook when the send is recorded already, else by the
sender once it has recorded it (:func:`take_not_delivered`). Each side writes its own record before it
looks for the other's, so one of them always sees both.
"""
from __future__ import annotations

import hashlib
import json

REPORT_TTL_S = 3 * 24 * 3600  # a retry comes within the contact's retry delays (hours), well inside this
DELIVERED = "success"
REFUSED_BY_FOLLOWER = "failed:user block"  # the follower set the account's messages to be refused
REF_MARK = "ref:"  # an answered send's record names its key and client_ref after this (an older Kefu's: its key)
REPORTED = "reported"  # an answered send's record once a report said it was not delivered: a second changes nothing
# A report waiting for its send to be answered or recorded: the sender does so within seconds, or a worker that
# died in between is replaced once its claim lapses (minutes). Not for long: a send made again under the
# same client_ref later (an operator's resend) is judged by its own report.
UNMATCHED_TTL_S = 3600


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


def _early_key(msgid: str) -> str:
    return f"template_early:{msgid}"


def _undelivered_key(ref: str) -> str:
    return f"template_undelivered:{ref}"


async def record_report(guard, openid: str, status: str, msgid: str = "") -> str | None:
    """WeChat's delivery report of a template message to ``openid`` (from the webhook): that of the send
    WeChat answered with ``msgid``, else that of the latest send to them whose answer never came (kept
    for it; none: not a send under a ``client_ref``, or days ago). Returns the ``client_ref`` of an
    answered send the report says was not delivered, for its sender to learn (None otherwise): kept for
    it too (:func:`take_not_delivered`). A not-delivered report of a msgid not known yet is kept for the
    send WeChat is answering with it (:func:`handed_over`)."""
    status = status.strip()
    if msgid and status != DELIVERED:  # kept before the answered send is looked up: see the module's doc
        await guard.put(_early_key(msgid), status, UNMATCHED_TTL_S)  # the status alone: it names nobody
    if msgid:
        answered = await guard.get(_answered_key(msgid))
        if answered is not None:
            await guard.forget(_early_key(msgid))
            if status == DELIVERED or not answered.startswith(REF_MARK):
                return None
            return await _not_delivered(guard, msgid, answered, openid, status)
    latest = await guard.get(_latest_key(openid))
    if latest is not None:
        await guard.put(_report_key(latest), status, REPORT_TTL_S)
    return None


async def _not_delivered(guard, msgid: str, answered: str, openid: str, status: str) -> str | None:
    """The send WeChat answered with ``msgid`` (its record ``answered``) was not delivered: its
    ``client_ref``, the report kept for it until whoever records the send applies it."""
    send = json.loads(answered[len(REF_MARK):])
    await guard.put(_answered_key(msgid), REPORTED, REPORT_TTL_S)  # WeChat's second report of it: nothing more
    # Not sent after all: the same message under its client_ref (an operator's resend) is judged by
    # this report, as one whose answer never came — made again, unless the follower refuses them.
    await guard.put(send["key"], json.dumps({"to": openid}), REPORT_TTL_S)
    await guard.put(_report_key(send["key"]), status, REPORT_TTL_S)
    if send["ref"]:
        await guard.put(_undelivered_key(send["ref"]), status, UNMATCHED_TTL_S)
    return send["ref"] or None


async def take_not_delivered(guard, ref: str) -> str | None:
    """The status of a report that the send made under ``ref`` was not delivered, not applied yet; it is
    then the taker's to apply (once the send is recorded: see the module's doc). None: none came."""
    status = await guard.get(_undelivered_key(ref))
    if status is not None:
        await guard.forget(_undelivered_key(ref))
    return status


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
    record = json.loads(raw) if raw else {}
    if sent:
        await guard.put(key, json.dumps({"sent": True}), REPORT_TTL_S)
        if msgid is None:  # WeChat always names it; without it, a report now may be this one's
            return
        answered = REF_MARK + json.dumps({"key": key, "ref": ref})
        await guard.put(_answered_key(str(msgid)), answered, REPORT_TTL_S)
        early = await guard.get(_early_key(str(msgid)))  # looked for after the answer is recorded: see the module's doc
        if early is not None:  # WeChat's report of it came before its answer
            await guard.forget(_early_key(str(msgid)))
            await _not_delivered(guard, str(msgid), answered, record.get("to", ""), early)
    else:
        await guard.forget(key)
        await guard.forget(_report_key(key))
    latest = _latest_key(record["to"]) if record.get("to") else None
    if latest and await guard.get(latest) == key:
        if record.get("before"):
            await guard.put(latest, record["before"], REPORT_TTL_S)
        else:
            await guard.forget(latest)
