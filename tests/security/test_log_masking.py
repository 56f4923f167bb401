"""Numbers that identify a person are masked in every log line, tracebacks included."""
from __future__ import annotations

import logging

import pytest

from bot.security import log_masking


@pytest.fixture
def masked_logs(caplog):
    original = logging.getLogRecordFactory()
    log_masking.install()
    yield caplog
    logging.setLogRecordFactory(original)


def test_phone_id_card_and_bank_numbers_are_masked(masked_logs):
    logging.getLogger("kefu.test").warning("caller %s id %s card %s ticket %s", "+8613800000002",
                                           "110101199003071234", "6222021234567890123", "TK000123")
    line = masked_logs.records[-1].getMessage()
    assert "13800000002" not in line and "+86138****0002" in line
    assert "110101199003071234" not in line and "110101********1234" in line
    assert "6222021234567890123" not in line and line.count("*") >= 4 + 8 + 12 and "0123" in line
    assert "TK000123" in line, "ticket ids are not personal and stay readable"


def test_a_traceback_that_quotes_a_number_is_masked(masked_logs):
    try:
        raise ValueError("no customer with phone 13900001111")
    except ValueError:
        logging.getLogger("kefu.test").exception("lookup failed")
    record = masked_logs.records[-1]
    assert "13900001111" not in record.exc_text and "139****1111" in record.exc_text
    assert "13900001111" not in logging.Formatter().format(record)


def test_rasa_structlog_events_stay_readable_and_masked(masked_logs, capsys):
    """Rasa logs through structlog: its records carry a dict that its formatter needs as a dict."""
    import io

    import structlog

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=structlog.dev.ConsoleRenderer(colors=False)))
    logger = logging.getLogger("kefu.test.structlog")
    logger.addHandler(handler)
    rasa_style = structlog.wrap_logger(logger, processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                                       wrapper_class=structlog.stdlib.BoundLogger)
    try:
        rasa_style.error("interpolator.failed", response="call 13800000002", sender_id="app-user-42")
    finally:
        logger.removeHandler(handler)
    assert "interpolator.failed" in stream.getvalue() and "138****0002" in stream.getvalue()
    assert "13800000002" not in stream.getvalue()
    assert "app-user-42" not in stream.getvalue() and log_masking.pseudonym("app-user-42") in stream.getvalue()
    assert "Logging error" not in capsys.readouterr().err


def test_conversation_ids_and_openids_are_replaced_by_the_same_hash_in_every_line(masked_logs):
    """Found by a probe: conversation ids (a web chat's id resumes its conversation, REST takes any
    sender id) and WeChat openids were in the server's logs. Lines must still be matched up."""
    web, openid, call, rest = "0123456789abcdef0123456789abcdef", "o6_bm_security_test_openid01", "CA" + "5" * 32, "app-user-42"
    masked_logs.set_level(logging.INFO)
    log = logging.getLogger("kefu.test")
    log.info("security.verification.paused conversation=%s", web)
    log.info("webchat.session.resumed session=%s", web)
    log.info("GET /conversations/%s/tracker 200", web)
    log.info("wechat.reply.passive sender=%s units=2", openid)
    log.info("handoff.queued conversation=%s skill=tv", f"ivr:{call}")
    log.info("ivr.call.ended call=%s reason=hangup", call)
    log.info("handoff.closed conversation='%s' by=demo", rest)
    lines = [record.getMessage() for record in masked_logs.records if record.name == "kefu.test"]
    assert len(lines) == 7
    assert [secret for secret in (web, openid, call, rest) if any(secret in line for line in lines)] == []
    hashed = log_masking.pseudonym
    assert all(hashed(web) in line for line in lines[:3]) and hashed(openid) in lines[3]
    assert hashed(f"ivr:{call}") in lines[4] and hashed(call) in lines[5] and hashed(f"ivr:{call}") == f"ivr:{hashed(call)}"
    assert hashed(rest) in lines[6] and "skill=tv" in lines[4] and "by=demo" in lines[6]
    assert len({hashed(web), hashed(openid), hashed(call), hashed(rest)}) == 4
