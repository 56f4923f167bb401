"""Phone, ID-card and bank-card numbers never reach a log file in full.

Installed as the process's log-record factory, so every logger and handler (Rasa's, Sanic's,
rasa-sdk's, Kefu's) gets the masked text, including the text of logged tracebacks.
"""
from __future__ import annotations

import logging
import re

# Longest first: an 18-character ID card or a 16-19 digit card must not be half-masked as a phone.
ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
BANK_CARD = re.compile(r"(?<!\d)\d{12,15}(\d{4})(?!\d)")
PHONE = re.compile(r"(?<!\d)((?:\+?86)?1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_numbers(text: str) -> str:
    text = ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = BANK_CARD.sub(lambda m: f"************{m.group(1)}", text)
    return PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


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
            record.msg = {key: mask_numbers(value) if isinstance(value, str) else value
                          for key, value in record.msg.items()}
            return _with_masked_traceback(record)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a broken format string: let logging report it as usual
        record.msg, record.args = mask_numbers(message), ()
        return _with_masked_traceback(record)

    masked_record.kefu_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)
