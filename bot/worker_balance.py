"""Each chat turn goes to a Rasa worker that is free, not to the one holding the client's connection.

Sanic's workers (``KEFU_WORKERS``) share one listening socket: a connection belongs to the worker
that accepted it, for as long as the client keeps it alive. Ten clients connecting at once can
land mostly on one worker, which then runs their turns one after another while the other idles
(measured under ``bench/chat.py``: 26 ms of CPU per turn on one worker, 3 ms on the other, in the
same phase). Answering a webhook turn with ``Connection: close`` makes the client's next turn a
new connection, and a new connection is accepted by whichever worker is waiting in ``accept`` —
one that is not busy. Only turn webhooks close; pages, Socket.IO, the desk's event streams and
everything else keep their connections. A single worker changes nothing.
"""
from __future__ import annotations

from sanic.request import Request
from sanic.response import HTTPResponse

TURN_WEBHOOKS = ("/webhooks/rest/webhook", "/webhooks/wechat/webhook")


def serves_with_several_workers(env: dict) -> bool:
    """Whether this Rasa server forks several Sanic workers (``bot.workers`` sets ``SANIC_WORKERS``)."""
    try:
        return int(env.get("SANIC_WORKERS") or 1) > 1
    except ValueError:
        return False


async def close_after_turn(request: Request, response: HTTPResponse) -> None:
    """Response middleware: end a turn webhook's connection with its answer (see the module docstring)."""
    if request.method == "POST" and request.path in TURN_WEBHOOKS:
        request.stream.keep_alive = False  # Sanic's HTTP/1 state: sends ``Connection: close`` and closes
