"""Log lines a person on call can use: event name, conversation, channel, masked numbers, tracebacks."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time

import pytest
import structlog

from bot.observability.logging_setup import bind_conversation, clear_conversation, configure_logging
from bot.security import log_masking
from bot.security.log_masking import pseudonym


@contextlib.contextmanager
def configured(log_format: str, masked_records: bool = False):
    """This process's logging as a Kefu process sets it up, written to the yielded stream; with
    ``masked_records`` also the record factory the Rasa and action servers install."""
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogRecordFactory())
    if masked_records:
        log_masking.install()
    configure_logging(log_format, stream=stream)
    clear_conversation()
    try:
        yield stream
    finally:
        clear_conversation()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before[0]:
            root.addHandler(handler)
        root.setLevel(before[1])
        logging.setLogRecordFactory(before[2])
        structlog.reset_defaults()


@pytest.fixture
def json_lines():
    with configured("json") as stream:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_line_carries_the_bound_conversation_and_masks_numbers(json_lines):
    bind_conversation("ivr:CA42", "ivr")
    logging.getLogger("bot.ivr.engine").info("ivr.call.started call=%s caller=%s", "CA42", "13800000001")
    line = json_lines()[-1]
    assert line["event"] == "ivr.call.started"
    assert (line["conversation_id"], line["channel"]) == (pseudonym("ivr:CA42"), "ivr")
    assert "13800000001" not in json.dumps(line, ensure_ascii=False)
    assert line["message"].endswith("****0001")


def test_unexpected_exception_has_its_traceback(json_lines):
    bind_conversation("u-7", "rest")
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("bot.x").exception("turn.failed")
    line = json_lines()[-1]
    assert line["level"] == "error" and line["conversation_id"] == pseudonym("u-7")
    assert "Traceback" in line["exception"] and "KeyError: 'missing'" in line["exception"]


def test_rejected_catalogue_edit_names_the_file_and_the_reason(json_lines, tmp_path):
    from bot.selfhelp import load_catalogue

    source = os.path.join(os.path.dirname(__file__), "..", "..", "content", "selfhelp.yml")
    catalogue = tmp_path / "selfhelp.yml"
    catalogue.write_text(open(source, encoding="utf-8").read(), encoding="utf-8")
    good = load_catalogue(catalogue)
    catalogue.write_text("entries: [unclosed", encoding="utf-8")
    os.utime(catalogue, (time.time() + 5, time.time() + 5))
    assert load_catalogue(catalogue) is good  # the last good version keeps serving
    rejected = [line for line in json_lines() if line["event"] == "editor_file.rejected"]
    assert rejected and rejected[-1]["path"] == str(catalogue)
    assert "flow sequence" in rejected[-1]["error"] or "expected" in rejected[-1]["error"]


def test_development_format_is_one_readable_line():
    with configured("console") as stream:
        bind_conversation("wechat:o1", "wechat")
        logging.getLogger("bot.channels.wechat").warning("wechat.message.duplicate msg=%s", 12)
    text = stream.getvalue()
    assert text.count("\n") == 1 and not text.lstrip().startswith("{")
    assert "wechat.message.duplicate" in text and f"conversation_id={pseudonym('wechat:o1')}" in text


def test_a_button_payloads_json_is_not_logged_as_a_missing_slot_but_a_misspelt_slot_is(json_lines):
    """Found by a tester: every satisfaction question logged five tracebacks for its buttons'
    payloads (Rasa reads their JSON braces as placeholders), drowning real errors."""
    log = structlog.get_logger()
    for key, response in (('"csat_score": "5"', '/csat_score{"csat_score": "5"}'),
                          ("customer_nmae", "{customer_nmae}，您好")):
        try:
            raise KeyError(key)
        except KeyError:
            log.exception("interpolator.interpolate.text", response=response, placeholder_key=key)
    assert [line["placeholder_key"] for line in json_lines()] == ["customer_nmae"]


@pytest.mark.parametrize("log_format", ["console", "json"])
@pytest.mark.parametrize("masked_records", [False, True], ids=["plain", "record-factory"])
def test_no_conversation_id_reaches_a_log_line_from_the_context_or_extra_fields(log_format, masked_records):
    """Found by a tester: the bound ``conversation_id`` was written in clear (only the message part
    was hashed), and a web-chat id read from actions.log resumed a verified customer's chat."""
    web, call, openid, rest = "51aaf19d319a327b2ba116ea5a8bbbc2", "MZf8a1841cb3471342993df7e6c7ba92fa", \
        "o6_bm_security_test_openid01", "atk-bill-1"
    with configured(log_format, masked_records) as stream:
        bind_conversation(web, "webchat", action="action_identify_customer")
        logging.getLogger("bot.notify").info("notify.outbox.queued id=%s", 19, extra={"phone": "13800000004"})
        structlog.get_logger("rasa.core").info("rasa.turn", sender_id=web)  # a structlog event (Rasa's kind)
        clear_conversation()
        bind_conversation(f"ivr:{call}", "ivr")
        logging.getLogger("bot.ivr.engine").info("handoff.queued conversation=%s", f"ivr:{call}",
                                                 extra={"call": call, "openid": openid})
        clear_conversation()
        bind_conversation(rest, "rest")
        logging.getLogger("bot.handoff.queue").info("handoff.queued conversation=%s", rest)
    text = stream.getvalue()
    lines = text.strip().splitlines()
    assert len(lines) == 4
    assert [secret for secret in (web, call, openid, rest, "13800000004") if secret in text] == []
    for hashed in (pseudonym(web), pseudonym(f"ivr:{call}"), pseudonym(call), pseudonym(openid), pseudonym(rest)):
        assert hashed in text
    assert pseudonym(web) in lines[0] and pseudonym(web) in lines[1], "the same pseudonym on every line"
    assert lines[2].count(pseudonym(f"ivr:{call}")) == 2, "hashed once, in the message part and the context alike"
    assert lines[3].count(pseudonym(rest)) == 2, "hashed once, in the message part and the context alike"
    assert "0004" in text and "action_identify_customer" in text


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_value_with_a_line_break_cannot_forge_a_log_line(log_format):
    """Found by a tester: a REST sender id holding a newline and a back-dated line was written as two lines."""
    forged = "\n2026-12-02T06:00:00.000000Z [warning  ] security.desk_login.locked FORGED=1"
    with configured(log_format) as stream:
        bind_conversation("inj2" + forged, "rest", note="ok" + forged)
        logging.getLogger("bot.notify").info("notify.outbox.queued text=%s", "hi" + forged,
                                             extra={"reason": "\x1b[2Jbye\u2028" + forged})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "security.desk_login.locked" in lines[0]
    assert not lines[0].lstrip().startswith("2026-12-02T06:00:00") and "\x1b" not in lines[0]
    if log_format == "console":
        assert "note=ok\\n2026-12-02T06:00:00" in lines[0] and "\\x1b[2Jbye\\u2028" in lines[0]
    else:
        line = json.loads(lines[0])
        assert line["note"].startswith("ok\\n2026") and line["message"].startswith("text=hi\\n2026")


@pytest.mark.parametrize("masked_records", [False, True], ids=["plain", "record-factory"])
def test_a_pseudonym_made_of_digits_is_not_masked_as_a_phone_number(masked_records):
    """Found by a tester: this call's id hashed to ``#3055686454``, shown as ``#******6454``, so
    README's ``pseudonym()`` look-up found none of its lines."""
    call = "MZ4bf48875d75e65c87395234584616272"
    with configured("console", masked_records) as stream:
        bind_conversation(f"ivr:{call}", "ivr")
        logging.getLogger("bot.ivr.engine").info("ivr.call.ended call=%s reason=hangup", call)
    assert pseudonym(call) in stream.getvalue() and pseudonym(f"ivr:{call}") in stream.getvalue()


# A process that sets up Kefu's logging, then builds a Sanic app (Rasa's server, a test's) and logs as Sanic
# does when it starts; argv: the log level.
SANIC_AFTER_SET_UP = ("import sys\n"
                      "from bot.observability.logging_setup import configure_logging\n"
                      "configure_logging('json', sys.argv[1])\n"
                      "from sanic import Sanic\n"
                      "from sanic.log import error_logger, logger\n"
                      "Sanic('kefu_built_after_set_up')\n"
                      "logger.info(\"Goin' Fast @ http://127.0.0.1:5005\")\n"
                      "error_logger.warning('Experienced exception while trying to serve 13812345678')\n")


@pytest.mark.parametrize("level, sanic_imported_first", [("INFO", False), ("WARNING", False), ("INFO", True)])
def test_a_sanic_app_built_after_the_set_up_logs_through_it(level, sanic_imported_first):
    """Found in review: Sanic gives its loggers console handlers of its own each time an app is created, so an
    app built after Kefu's set-up printed its lines raw on stdout too (unmasked, not JSON), below the level
    configured as well. Each line now comes once, through Kefu's handler, at its level, whether Sanic was
    imported before the set-up or after."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = "import sanic\n" * sanic_imported_first + SANIC_AFTER_SET_UP
    ran = subprocess.run([sys.executable, "-c", code, level], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "", "Sanic printed lines of its own"
    lines = [json.loads(line) for line in ran.stderr.splitlines()]  # each one Kefu's (JSON)
    assert "13812345678" not in ran.stderr, "a number in Sanic's line is masked"
    assert [(line["logger"], line["level"]) for line in lines] == \
        [("sanic.root", "info")] * (level == "INFO") + [("sanic.error", "warning")]


# The two servers' order of set-up, each ending with Rasa's (rasa-sdk's) ``update_sanic_log_level``, run after
# Kefu's: Sanic's loggers stop propagating to the root logger. Then Sanic logs a failed request as it does.
SANIC_FAILED_REQUEST = ("from sanic.log import error_logger\n"
                        "try:\n"
                        "    raise RuntimeError('handler failed')\n"
                        "except RuntimeError:\n"
                        "    error_logger.exception(\"Exception occurred while handling uri: "
                        "'http://127.0.0.1:5005/webhooks/callback/138-0000-0003'\")\n")
RASA_SERVER_SET_UP = ("from bot.security import log_masking\n"
                      "log_masking.install()\n"  # bot.security.rasa_server
                      "from bot.observability.logging_setup import configure_logging, route_library_loggers\n"
                      "configure_logging('json', 'INFO')\n"  # the ops channel's from_credentials
                      "from sanic import Sanic\n"
                      "Sanic('rasa_server')\n"  # rasa.server.create_app
                      "route_library_loggers()\n"  # the ops blueprint, registered on it
                      "import rasa.utils.common\n"
                      "rasa.utils.common.update_sanic_log_level()\n")  # rasa.core.run.serve_application
ACTION_SERVER_SET_UP = ("from bot.security import log_masking\n"
                        "log_masking.install()\n"  # bot.security.action_server.main
                        "from rasa_sdk import utils\n"
                        "utils.configure_colored_logging('INFO')\n"
                        "utils.update_sanic_log_level()\n"
                        "from bot.observability.logging_setup import configure_logging\n"
                        "configure_logging('json', 'INFO')\n"  # rasa-sdk imports the actions (actions/__init__)
                        "from sanic import Sanic\n"
                        "Sanic('rasa_sdk', configure_logging=False)\n")  # rasa_sdk.endpoint.create_app


@pytest.mark.parametrize("set_up", [RASA_SERVER_SET_UP, ACTION_SERVER_SET_UP], ids=["rasa-server", "action-server"])
def test_sanic_s_lines_go_through_kefu_s_logging_after_rasa_set_sanic_s_loggers_up(set_up):
    """Found in review: Rasa's server and the action server call ``update_sanic_log_level`` after Kefu's set-up,
    which stops Sanic's loggers propagating; with no handler of their own (Kefu took Sanic's) their lines went
    to Python's last-resort handler: printed raw (not JSON: rasa.log held "Exception occurred while handling
    uri: ..." lines), masked only by the record factory, which leaves a number written in groups whole. Each
    line now comes once, through Kefu's handler."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    ran = subprocess.run([sys.executable, "-c", set_up + SANIC_FAILED_REQUEST], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "138-0000-0003" not in ran.stdout + ran.stderr, "the customer's number is masked"
    lines = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
    assert [(line["logger"], line["level"]) for line in lines if line["logger"].startswith("sanic")] == \
        [("sanic.error", "error")], "Sanic's line, once, through Kefu's handler"
    assert "handler failed" in lines[-1]["exception"] and "callback/***-****-0003'" in lines[-1]["event"]
