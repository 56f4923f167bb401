"""Phone, ID-card and bank-card numbers never reach a log file in full, nor do conversation ids.

A conversation id is a bearer secret (a web-chat id resumes its conversation, REST accepts any
sender id) and a WeChat openid names a follower, so both are replaced by a short hash of
themselves: the same id gives the same hash in every process, so a conversation's lines can
still be followed and matched with ``pseudonym(id)``, but a log reader cannot take it over.
A channel prefix stays readable (``ivr:#…``), and a phone call's id hashes the same on its own
(``call=#…``) as inside its conversation id.

Installed as the process's log-record factory, so every logger and handler (Rasa's, Sanic's,
rasa-sdk's, Kefu's) gets the masked text, including the text of logged tracebacks.
"""
from __future__ import annotations

import hashlib
import logging
import re

from bot import chinese_numerals

# Longest first: an 18-character ID card or a 16-19 digit card must not be half-masked as a phone.
ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
BANK_CARD = re.compile(r"(?<!\d)\d{12,15}(\d{4})(?!\d)")
PHONE = re.compile(r"(?<!\d)((?:\+?86)?1[3-9]\d)\d{4}(\d{4})(?!\d)")

# Names under which Kefu and Rasa log a conversation's id: in "key=value" text and as structlog fields
# (bound context, ``extra=``, Rasa's event fields), whatever the id's shape (REST ids are the client's choice).
ID_NAMES = ("conversation", "conversation_id", "sender", "sender_id", "session", "session_id", "sid",
            "call", "call_id", "openid")
KEYED_ID = re.compile(rf"\b({'|'.join(ID_NAMES)})=(['\"]?)([^\s,;'\"()\[\]{{}}]+)")
# And wherever else they appear (paths, Rasa's own lines): phone calls, web-chat ids, WeChat openids.
CALL_ID = re.compile(r"(?<![\w%])(ivr(?::|%3A))(?!#)([\w-]+)")
WEBCHAT_ID = re.compile(r"(?<![0-9A-Za-z#])[0-9a-f]{32}(?![0-9A-Za-z])")
OPENID = re.compile(r"(?<![\w-])o[\w-]{27}(?![\w-])")
CHANNEL_PREFIXES = ("ivr:", "wechat:")
PSEUDONYM = re.compile(r"(?:ivr:|wechat:)?#h[0-9a-f]{10}")


def pseudonym(conversation_id: str) -> str:
    """The stable stand-in for an id in the logs (``#h`` and 10 hex digits), channel prefix kept.

    The ``h`` keeps a hash that happens to be all digits (1 in 100) from being masked as a phone
    number, which made it impossible to look up (found by a tester)."""
    prefix = next((p for p in CHANNEL_PREFIXES if conversation_id.startswith(p)), "")
    rest = conversation_id[len(prefix):]
    return f"{prefix}#h{hashlib.sha256(rest.encode()).hexdigest()[:10]}"


def hashed_once(value: str) -> str:
    """The pseudonym of an id, or the value itself when it already is one: a line masked by the
    record factory is masked again by the log formatter, and ``ivr:#h…`` must not become a hash of a hash."""
    return value if PSEUDONYM.fullmatch(value) else pseudonym(value)


def mask_ids(text: str) -> str:
    text = KEYED_ID.sub(lambda m: f"{m.group(1)}={m.group(2)}{hashed_once(m.group(3))}", text)
    text = CALL_ID.sub(lambda m: m.group(1) + pseudonym(m.group(2)), text)
    text = WEBCHAT_ID.sub(lambda m: pseudonym(m.group()), text)
    return OPENID.sub(lambda m: pseudonym(m.group()), text)


def mask_numbers(text: str) -> str:
    text = mask_ids(text)
    text = ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = BANK_CARD.sub(lambda m: f"************{m.group(1)}", text)
    text = chinese_numerals.mask_numbers(text)
    return PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def mask_field(name: str, value: str) -> str:
    """One field of a structured line: an id field becomes its pseudonym (once), any other is masked."""
    if name in ID_NAMES:
        return hashed_once(value)
    return mask_numbers(value)


def mask_event(event: dict) -> dict:
    """A structlog event dict with every string field masked (the same dict shape, for its renderer)."""
    return {name: mask_field(name, value) if isinstance(value, str) else value for name, value in event.items()}


def _with_masked_traceback(record: logging.LogRecord) -> logging.LogRecord:
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_numbers(logging.Formatter().formatException(record.exc_info))
    return record


def install() -> None:
    """Mask every record created from now on in this process (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "kefu_masking", False):
        return

    def masked_record(*args, **kwargs) -> logging.LogRecord:
        record = current(*args, **kwargs)
        if isinstance(record.msg, dict):
            # structlog's event dict (Rasa logs through structlog): its formatter needs the dict itself
            record.msg = mask_event(record.msg)
            return _with_masked_traceback(record)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a broken format string: let logging report it as usual
        record.msg, record.args = mask_numbers(message), ()
        return _with_masked_traceback(record)

    masked_record.kefu_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)
