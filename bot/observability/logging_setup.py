"""Kefu's logging, configured in one place for the launcher, the Rasa server and the action server.

Every line is a structlog event: the stdlib loggers Kefu, Rasa and Sanic already use are routed
through structlog's ``ProcessorFormatter``, so ``logger.info("ivr.call.ended call=%s", ...)`` and
``log.error("selfhelp.catalogue.rejected", extra={...})`` both come out with the bound context
(``conversation_id``, ``channel``), their ``extra=`` fields, a traceback when there is one, and
personal numbers masked. JSON in production (``KEFU_LOG_FORMAT=json``), readable in development.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import re
import sys
from typing import Any

import structlog

from bot.handoff.masking import mask_text
from bot.security.log_masking import mask_field, mask_numbers

_CONFIGURED_MARK = "_kefu_structlog"


def bind_conversation(conversation_id: str | None = None, channel: str | None = None, **values: Any) -> None:
    """Bind the conversation to every later log line of this task (and tasks it starts)."""
    bound = {k: v for k, v in {"conversation_id": conversation_id, "channel": channel, **values}.items()
             if v is not None}
    structlog.contextvars.bind_contextvars(**bound)


def clear_conversation() -> None:
    structlog.contextvars.clear_contextvars()


def mask_ids_and_numbers(_, __, event_dict: dict) -> dict:
    """Every string field of the line, bound context and ``extra=`` fields included: a conversation id
    (``conversation_id``, ``sender``, ``call`` …) becomes its pseudonym, as in the message part;
    phone, account and ID numbers keep their last 4 digits. The record factory of
    ``bot.security.log_masking`` sees the message only, not the context merged here (found by a tester:
    a web-chat id read from a log resumed a verified conversation)."""
    for key, value in event_dict.items():
        if isinstance(value, str) and key not in ("timestamp", "exception", "level", "logger"):
            event_dict[key] = mask_text(mask_field(key, value))
    return event_dict


# C0/C1 controls (line breaks included), Unicode line separators and bidi overrides: a value holding
# one could end a log line and forge the next, or make a terminal show a line other than it is.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_control_characters(_, __, event_dict: dict) -> dict:
    """Every field of the line stays on its line: control characters are written as escapes
    (``\\n``), whoever chose the value (found by a tester: a REST sender id with a newline forged
    a back-dated security line). A traceback keeps its lines."""
    for key, value in event_dict.items():
        if isinstance(value, str) and key != "exception":
            event_dict[key] = CONTROL_CHARACTERS.sub(lambda m: m.group().encode("unicode_escape").decode(), value)
    return event_dict


def _event_name(_, __, event_dict: dict) -> dict:
    """Name the event: ``ivr.call.ended call=1`` -> event ``ivr.call.ended``, the rest as ``message``."""
    text = str(event_dict.get("event", ""))
    if event_dict.get("message") == text:  # set on the record by another handler's formatter
        del event_dict["message"]
    head, _sep, rest = text.partition(" ")
    if rest and "." in head and "=" not in head:
        event_dict["event"], event_dict["message"] = head, rest
    return event_dict


def drop_payload_interpolation(_, __, event_dict: dict) -> dict:
    """Rasa fills a button payload's JSON (``/csat_score{"csat_score": "5"}``) as if its braces named
    a slot, logs a traceback, then sends the payload as written: five tracebacks per satisfaction
    question drowned real errors (found by a tester). A misspelt slot (``{customer_nmae}``) is kept."""
    if (event_dict.get("event") == "interpolator.interpolate.text"
            and str(event_dict.get("placeholder_key", "")).lstrip().startswith('"')):
        raise structlog.DropEvent
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _event_name,
        mask_ids_and_numbers,
    ]


def build_formatter(log_format: str = "console") -> logging.Formatter:
    """A stdlib formatter that renders any record as a structlog event (JSON or console)."""
    if log_format == "json":
        final = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(ensure_ascii=False)]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=False)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, mask_exception,
                    escape_control_characters, *final],
    )


def mask_exception(_, __, event_dict: dict) -> dict:
    """Tracebacks may quote a number or a conversation id from a message: mask them there too."""
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = mask_text(mask_numbers(event_dict["exception"]))
    return event_dict


def _console_handler(handler: logging.Handler) -> bool:
    """Handlers that print to the terminal (ours, coloredlogs', basicConfig's); others (pytest's) stay."""
    if getattr(handler, _CONFIGURED_MARK, False) or type(handler).__module__.startswith("coloredlogs"):
        return True
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout, sys.__stderr__,
                                                                         sys.__stdout__)


def configure_logging(log_format: str = "console", level: int | str = logging.INFO, stream=None,
                      handler: logging.Handler | None = None) -> None:
    """Route every logger of this process through one structlog handler on the root logger (``handler``,
    else one writing to ``stream``, else stderr).

    Idempotent; replaces handlers Rasa, rasa-sdk (coloredlogs) or Sanic put on the root logger so each
    line is written once, in one format.
    """
    handler = handler or logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(build_formatter(log_format))
    setattr(handler, _CONFIGURED_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if _console_handler(old):
            root.removeHandler(old)
            if isinstance(old, logging.FileHandler) and old is not handler:
                old.close()  # an earlier cli.log of this process
    root.addHandler(handler)
    root.setLevel(level)
    _sanic_brings_no_handlers()
    for name in SANIC_LOGGERS:
        _forwarded_to_root(logging.getLogger(name))
    structlog.configure(
        processors=[drop_payload_interpolation, *_shared_processors(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _sanic_brings_no_handlers() -> None:
    """Sanic configures its loggers from ``LOGGING_CONFIG_DEFAULTS`` each time an app is created (Rasa's server,
    a test's): console handlers of its own and level INFO, so an app built after this set-up printed its lines
    raw beside ours, unmasked and below the level configured. Emptied in place (Sanic reads that very dict), an
    app built later leaves its loggers to propagate to ours (with :class:`ToRootWhenNotPropagating` only); one
    built before is seen to by :func:`route_library_loggers`. Not imported for it (a one-shot command would
    wait for Sanic): emptied as soon as it is."""
    if "sanic.log" in sys.modules:
        _empty_sanic_defaults(sys.modules["sanic.log"])
    elif not any(isinstance(finder, _SanicLogImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SanicLogImport())


def _empty_sanic_defaults(sanic_log: Any) -> None:
    defaults = sanic_log.LOGGING_CONFIG_DEFAULTS
    defaults.setdefault("handlers", {})[_TO_ROOT] = {"()": ToRootWhenNotPropagating}
    for library in defaults.get("loggers", {}).values():
        library.pop("level", None)
        library["handlers"] = [_TO_ROOT]
        library["propagate"] = True


_TO_ROOT = "kefu_to_root"
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access", "sanic.server")


class ToRootWhenNotPropagating(logging.Handler):
    """Hands a library's line to the root logger's handlers (Kefu's) when the library's logger was told not to
    propagate after Kefu's set-up: Rasa's server and the action server call ``update_sanic_log_level``, which
    does so to Sanic's, and their lines then went to Python's last-resort handler, raw and not fully masked.
    While the logger propagates, the root logger gets the line anyway and this does nothing."""

    def emit(self, record: logging.LogRecord) -> None:
        source: Any = logging.getLogger(record.name)
        while source.propagate and source.parent is not None:
            source = source.parent
        if source is not logging.getLogger():
            logging.getLogger().handle(record)


def _forwarded_to_root(library: logging.Logger) -> None:
    if not any(isinstance(handler, ToRootWhenNotPropagating) for handler in library.handlers):
        library.addHandler(ToRootWhenNotPropagating())


class _SanicLogImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: has ``sanic.log``'s defaults emptied once the module is executed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "sanic.log":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            _empty_sanic_defaults(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


LIBRARY_LOGGERS = ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "socketio", "engineio", "jieba")


def route_library_loggers() -> None:
    """Sanic (when the app is built) and jieba bring their own console handlers: send their lines to
    ours, at the root logger's level (Sanic's still, once Rasa stops them propagating). The web chat's Socket.IO server, made later, is given its loggers
    (``webchat_engineio.library_loggers``) so that it brings none."""
    import jieba  # noqa: F401 - jieba adds its handler on import; import it now so it can be removed

    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            if not isinstance(handler, ToRootWhenNotPropagating):
                library.removeHandler(handler)
        library.propagate = True
        if name in SANIC_LOGGERS:  # Rasa stops them propagating after this (rasa.core.run.serve_application)
            _forwarded_to_root(library)
        if library.level and library.level < logging.getLogger().level:
            library.setLevel(logging.NOTSET)


def configured() -> bool:
    """Has this process's logging been set up by Kefu already (a ``kefu`` command's ``cli.log``, a server's
    console)? Importing the actions (``kefu validate`` does) must not send a one-shot command's log back
    to the console."""
    return any(getattr(handler, _CONFIGURED_MARK, False) for handler in logging.getLogger().handlers)


def configure_from_settings(settings=None, *, one_shot: bool = False) -> None:
    """Configure from Kefu's settings (``KEFU_LOG_FORMAT``, ``KEFU_LOG_LEVEL``).

    A one-shot command (``kefu voicemail``, ``kefu report``...) prints its own result and its own
    ``kefu: error:`` line; its log goes to ``<data dir>/logs/cli.log`` so a script reading stderr sees
    the one line that matters (``KEFU_LOG_LEVEL`` set explicitly puts it back on stderr). ``cli.log`` is
    rotated like the servers' logs (``KEFU_LOG_MAX_MB``, ``KEFU_LOG_BACKUPS``), safely while several
    commands write it (:class:`~bot.observability.log_files.SharedBoundedLog`).
    """
    import os

    from bot.observability.log_files import SharedBoundedLog
    from bot.security.private_files import private_dir
    from bot.settings import get_settings

    settings = settings or get_settings()
    handler = None
    if one_shot and not os.environ.get("KEFU_LOG_LEVEL"):
        try:
            logs = private_dir(settings.data_dir / "logs")
            handler = SharedBoundedLog(logs / "cli.log", settings.log_max_bytes, settings.log_backups)
        except OSError:  # no data folder to log in (KEFU_DATA_DIR below a file): its warnings on stderr, not
            handler = logging.StreamHandler(sys.stderr)  # the info lines that buried the command's own error
            handler.setLevel(logging.WARNING)
    configure_logging(settings.log_format, settings.log_level, handler=handler)
    if handler is not None:
        route_library_loggers()  # jieba's own console handler, added when a command loads the NLU
