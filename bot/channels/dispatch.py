"""The dispatch system's way back in: ``POST /api/tickets/<ticket_id>/status`` (bot/dispatch/status.py).

``Authorization: Bearer $KEFU_DISPATCH_TOKEN`` (compared in constant time, as ``/metrics`` does with
its token); without a token set the endpoint refuses everyone (401), so a deployment that never set
one up has no ticket API open. Answers: 200 with where the ticket stands (``changed`` false for a
repeat or a status reached already), 400 for a body that is not a status request, 404 for no such
ticket, 409 for a status the ticket cannot reach, 503 while the database is away. Configured as a
channel in ``credentials.yml`` so every Rasa server process serves it, at the app root.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.db.repository import DatabaseError, Repository, TicketTransitionError
from bot.dispatch.status import StatusConflict, StatusRequestError, apply_status, parse_request
from bot.security.offered_secret import is_secret
from bot.settings import get_settings

logger = logging.getLogger(__name__)

PATH = "/api/tickets/<ticket_id:str>/status"


def authorised(request: Request) -> bool:
    token = get_settings().dispatch_token
    offered = request.headers.get("authorization", "")
    return bool(token) and is_secret(offered, f"Bearer {token}")


def _body(request: Request) -> Any:
    try:
        return request.json
    except InvalidUsage:  # JSON Sanic cannot parse
        return None


async def ticket_status(request: Request, ticket_id: str) -> HTTPResponse:
    if not authorised(request):
        logger.warning("dispatch.status.unauthorised ticket=%s", ticket_id)
        return response.json({"error": "unauthorised"}, status=401)
    try:
        wanted = parse_request(_body(request))
    except StatusRequestError as exc:
        return response.json({"error": "bad_request", "message": str(exc)}, status=400)
    repository = Repository(get_settings().database_url)
    try:
        outcome = await asyncio.to_thread(apply_status, repository, ticket_id, wanted)
    except StatusConflict as exc:
        logger.info("dispatch.status.refused ticket=%s status=%s wanted=%s", ticket_id, exc.status, wanted.status)
        return response.json({"error": exc.code, "message": str(exc), "status": exc.status}, status=409)
    except TicketTransitionError:
        return response.json({"error": "no_such_ticket"}, status=404)
    except (DatabaseError, SQLAlchemyError) as exc:
        logger.warning("dispatch.status.database_unavailable error=%s", type(exc).__name__)
        return response.json({"error": "database_unavailable"}, status=503, headers={"Retry-After": "5"})
    logger.info("dispatch.status.%s ticket=%s status=%s", outcome.reason, outcome.ticket_id, outcome.status)
    return response.json(outcome.answer())


class DispatchBlueprint(Blueprint):
    """Adds the route at the app root (``/api/...``, not under ``/webhooks/<channel>/``)."""

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        super().register(app, options)
        if not any(route.name.endswith("kefu_dispatch_ticket_status") for route in app.router.routes):
            app.add_route(ticket_status, PATH, methods=["POST"], name="kefu_dispatch_ticket_status")


class DispatchInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "dispatch"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "DispatchInput":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return DispatchBlueprint("dispatch_webhook", __name__)
