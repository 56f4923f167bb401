"""The messages web chat workers exchange on Redis for Socket.IO rooms (``webchat.RoomsAcrossWorkers``).

python-socketio 5.9's Redis client manager publishes them pickled and unpickles whatever it reads
on the channel: anyone able to publish on the Redis (a neighbour service on a shared Redis, one
without a password in a flat network) could run code in every web chat worker. Kefu's manager
publishes JSON instead and reads only JSON of the shapes python-socketio 5.9's
``AsyncPubSubManager`` sends (its ``emit``, ``callback``, ``disconnect`` and ``close_room``); it
never unpickles. An emit carries one argument (``data``): several (a tuple) would arrive as one list.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _texts(value: Any) -> bool:
    """A room or the sids to skip: one, none, or a list."""
    return value is None or isinstance(value, str) or (isinstance(value, list) and all(map(_text, value)))


def _ack(value: Any) -> bool:
    """An emit's callback: none, or (room, namespace, ack id) on the worker that emitted."""
    return value is None or (isinstance(value, list) and len(value) == 3 and _text(value[0])
                             and _text(value[1]) and isinstance(value[2], int))


def _anything(_: Any) -> bool:
    return True


SHAPES: Dict[str, Dict[str, Callable[[Any], bool]]] = {
    "emit": {"event": _text, "data": _anything, "namespace": _text, "room": _texts, "skip_sid": _texts,
             "callback": _ack, "host_id": _text},
    "callback": {"host_id": _text, "sid": _text, "namespace": _text, "id": lambda v: isinstance(v, int),
                 "args": lambda v: isinstance(v, list)},
    "disconnect": {"sid": _text, "namespace": _text},
    "close_room": {"room": _text, "namespace": _text},
}


def encode(message: Dict[str, Any]) -> bytes:
    """A manager's message as published; a value JSON cannot carry (bytes, a tuple of arguments) is a
    ``TypeError`` for the code emitting it."""
    if isinstance(message.get("data"), tuple):
        raise TypeError("an emit across workers carries one argument, not a tuple")
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(raw: Any) -> Optional[Dict[str, Any]]:
    """The message published as ``raw``, or None when it is not JSON of one of ``SHAPES``."""
    try:
        message = json.loads(raw)
    except (TypeError, ValueError, RecursionError):  # ValueError: not JSON, or not UTF-8
        return None
    method = message.get("method") if isinstance(message, dict) else None
    shape = SHAPES.get(method) if isinstance(method, str) else None
    if shape is None or not all(name in message and valid(message[name]) for name, valid in shape.items()):
        return None
    return message
