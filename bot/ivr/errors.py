"""Typed errors of the IVR: flows that cannot run, calls that cannot continue."""
from __future__ import annotations


class IvrError(Exception):
    """Base of every error raised by :mod:`bot.ivr`."""


class FlowError(IvrError):
    """A flow file is unusable. The message names the file, the node and the field.

    ``node`` and ``field`` are empty when the problem is with the file as a whole.
    """

    def __init__(self, file: str, node: str, field: str, problem: str, line: int | None = None) -> None:
        self.file, self.node, self.field, self.problem, self.line = file, node, field, problem, line
        where = f"{file}:{line}" if line else file
        if node:
            where += f": node {node!r}"
        if field:
            where += f", field {field!r}" if node else f": field {field!r}"
        super().__init__(f"{where}: {problem}")


class HotlineConfigError(IvrError):
    """``content/ivr.yml`` (business hours, channel prompts, limits) is malformed."""


class CallStateError(IvrError):
    """A call's state is missing or unreadable in Redis (expired, or another worker ended it)."""


class BotUnavailable(IvrError):
    """No assistant can take a phone turn (none connected to the channel)."""


class HandoffUnavailable(IvrError):
    """The human queue cannot take the call (queue module absent, Redis down, queue closed)."""


class LineClosed(IvrError, ConnectionError):
    """The far end has gone (the caller hung up, the carrier dropped the socket): nothing more can be
    sent. The end of a call, not a fault; transports raise it for their own "socket closed" errors."""


class WireFormatError(IvrError):
    """A media-stream frame that does not follow the telephony provider's protocol.

    ``fatal`` frames (wrong codec, a media frame before ``start``) end the call; others are
    logged and skipped.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal
