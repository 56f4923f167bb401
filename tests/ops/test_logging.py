"""Log lines a person on call can use: event name, conversation, channel, masked numbers, tracebacks."""
from __future__ import annotations

import io
import json
import logging
import os
import time

import pytest
import structlog

from bot.observability.logging_setup import bind_conversation, clear_conversation, configure_logging


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_logging("json", stream=stream)
    clear_conversation()

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    clear_conversation()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in before[0]:
        root.addHandler(handler)
    root.setLevel(before[1])
    structlog.reset_defaults()


def test_every_line_carries_the_bound_conversation_and_masks_numbers(json_lines):
    bind_conversation("ivr:CA42", "ivr")
    logging.getLogger("bot.ivr.engine").info("ivr.call.started call=%s caller=%s", "CA42", "13800000001")
    line = json_lines()[-1]
    assert line["event"] == "ivr.call.started"
    assert (line["conversation_id"], line["channel"]) == ("ivr:CA42", "ivr")
    assert "13800000001" not in json.dumps(line, ensure_ascii=False)
    assert line["message"].endswith("*******0001")


def test_unexpected_exception_has_its_traceback(json_lines):
    bind_conversation("u-7", "rest")
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("bot.x").exception("turn.failed")
    line = json_lines()[-1]
    assert line["level"] == "error" and line["conversation_id"] == "u-7"
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


def test_development_format_is_one_readable_line(tmp_path):
    stream = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        configure_logging("console", stream=stream)
        bind_conversation("wechat:o1", "wechat")
        logging.getLogger("bot.channels.wechat").warning("wechat.message.duplicate msg=%s", 12)
    finally:
        clear_conversation()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
        structlog.reset_defaults()
    text = stream.getvalue()
    assert text.count("\n") == 1 and not text.lstrip().startswith("{")
    assert "wechat.message.duplicate" in text and "conversation_id=wechat:o1" in text


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
