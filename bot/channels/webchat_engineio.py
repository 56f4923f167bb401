"""The web chat's Engine.IO route on Sanic: python-engineio's Sanic driver's route, ending requests properly.

* A websocket that is over (the page closed it, or the server did) is answered by Engine.IO with no response
  (None). Sanic takes that for a handler that forgot to answer unless the handler is marked as a websocket
  one, and logged ``ServerError: Invalid response type None (need HTTPResponse)`` for every page that went
  (sanic-org/sanic#2572, python-engineio#221; neither library changes it). The handler here is marked.
* A poll or post for a session that is closed but not yet forgotten (the page's own close packet, raced by its
  next poll) made Engine.IO raise ``KeyError('Session is disconnected')``: a 500 and an error log. Such a
  session is forgotten first, as Engine.IO itself does then, so it is answered as any unknown one (400).
* A page whose websocket upgrade is dropped before it completes (the tab closed, the network gone): Sanic
  ends the websocket's wait with a CancelledError, which Engine.IO's upgrade does not expect. It escaped
  the request (Sanic then wrote a 503 after the websocket was shut: ``Cannot call write() after
  write_eof()``, logged), and left the session "upgrading": its polls got only no-ops and what the server
  sent it was held, so a page still polling heard nothing until it timed out and reconnected. Such an
  upgrade now ends as a closed websocket does, and the session goes on polling.
* A request for a session Engine.IO does not know (a page still polling after a server restart, or after
  its session ended) is answered 400, and the page connects again with a new session: normal operation.
  Engine.IO logged it ``Invalid session <sid>`` at ERROR, once per process (an operator paged for every
  restart). :class:`EngineIOLog` says it as one INFO line (``webchat.engineio.old_session_refused``) and
  passes on Engine.IO's errors as before.
* Both libraries are given their loggers as objects (:func:`library_loggers`): given ``False`` (their
  default), each put a console handler of its own on its logger (``socketio.server``, ``engineio.server``)
  when the server was made, after Kefu's log set-up ran (the ops channel comes first), so each of their
  errors (``Cannot receive from redis``, for every Redis outage) was printed twice, once raw.
* A post with no session id at all (a scanner's, a broken client's) made Engine.IO 4.8 fail on its own
  log line (``'Invalid session ' + None``): a 500 and a TypeError's traceback. It is answered 400 here.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional
from urllib.parse import parse_qs

from engineio.async_drivers.sanic import WebSocket
from sanic import Sanic, response
from sanic.request import Request
from socketio import AsyncServer
from websockets.connection import OPEN

ROUTE_NAME = "kefu_engineio"
STALE_SESSION = "Invalid session "  # how Engine.IO 4.8 words its refusal of an unknown session id

logger = logging.getLogger(__name__)


class ErrorsOnly(logging.LoggerAdapter):
    """A library's logger, given to it as an object: its errors reach Kefu's handler (once: the library adds
    no console handler of its own to a logger it is given), nothing below. Its info lines name every
    event and room, and Engine.IO's carry every packet a page sends (what customers type)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.getLogger(name), {})

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR:
            self.logger.log(level, msg, *args, **kwargs)


class EngineIOLog(ErrorsOnly):
    """Engine.IO's logger (``engineio_logger``): its errors as before, its refusal of a page's old session
    as what it is."""

    def __init__(self) -> None:
        super().__init__("engineio.server")

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(msg, str) and msg.startswith(STALE_SESSION):
            sid = msg[len(STALE_SESSION):].split(" ", 1)[0]
            logger.info("webchat.engineio.old_session_refused sid=%s hint=a page asked with a session this "
                        "worker does not know (the server restarted, or the session ended); the page "
                        "reconnects with a new one", sid)
        else:
            super().log(level, msg, *args, **kwargs)


def library_loggers() -> dict[str, logging.LoggerAdapter]:
    """``AsyncServer``'s ``logger`` (Socket.IO's, its Redis manager's too) and ``engineio_logger``."""
    return {"logger": ErrorsOnly("socketio.server"), "engineio_logger": EngineIOLog()}


def attach_engineio(app: Sanic, sio: AsyncServer, socketio_path: str) -> None:
    """Serve ``sio`` at ``socketio_path`` (what ``sio.attach(app, socketio_path)`` does), once per app."""
    if any(route.name.endswith(ROUTE_NAME) for route in app.router.routes):
        return
    # This server's own copy: the driver's table is shared by every Engine.IO server in the process.
    sio.eio._async = {**sio.eio._async, "websocket": PageWebSocket}

    async def engineio_request(request: Request) -> Any:
        if request.method == "POST" and not session_of(request):
            return response.text('"Invalid session"', status=400)  # what Engine.IO answers an unknown one
        forget_if_closed(sio, request)
        return await sio.handle_request(request)

    engineio_request.is_websocket = True  # type: ignore[attr-defined]  # None is how a websocket ends
    app.add_route(engineio_request, f"/{socketio_path.strip('/')}/", methods=["GET", "POST", "OPTIONS"],
                  name=ROUTE_NAME)
    app.enable_websocket()


def session_of(request: Request) -> Optional[str]:
    """The Engine.IO session id the request names, if any."""
    return (parse_qs(request.query_string).get("sid") or [None])[0]


def forget_if_closed(sio: AsyncServer, request: Request) -> None:
    """Drop the request's Engine.IO session if it is closed (what ``_get_socket`` does before its KeyError)."""
    sid = session_of(request)
    socket = sio.eio.sockets.get(sid) if sid else None
    if socket is not None and socket.closed:
        sio.eio.sockets.pop(sid, None)


class PageWebSocket(WebSocket):
    """Engine.IO's Sanic websocket, for which a websocket shut while it waits is a closed one, not a cancel."""

    async def __call__(self, environ: dict) -> None:
        session = getattr(self.handler, "__self__", None)  # the Engine.IO socket this websocket serves
        try:
            await super().__call__(environ)
        except asyncio.CancelledError:
            if self._sock is None or self._sock.connection.state is OPEN:
                raise  # this request itself was cancelled (the server stopping)
        finally:
            if session is not None and not session.upgraded:
                session.upgrading = False  # the upgrade did not happen: the session goes on polling
