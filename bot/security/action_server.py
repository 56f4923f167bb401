"""The action server Kefu runs: rasa-sdk's app, bound to loopback, answering only Rasa.

rasa-sdk's own runner binds 0.0.0.0 and accepts any caller, so a hand-made tracker posted to
``/webhook`` would run ``action_query_bill`` for anyone. Here every route but ``/health`` needs
the ``X-Kefu-Action-Secret`` header that Rasa sends (``endpoints.yml`` ``action_endpoint.headers``),
and the address is ``KEFU_ACTION_HOST`` (127.0.0.1 unless configured).

Run as ``python -m bot.security.action_server``.
"""
from __future__ import annotations

import asyncio
import logging

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request

from bot import sanic_workers
from bot.security.offered_secret import is_secret
from bot.security import log_masking
from bot.security.secrets import get_secrets
from bot.settings import get_settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Kefu-Action-Secret"
OPEN_PATHS = ("/health",)


def guard(app: Sanic, secret: str) -> Sanic:
    """Refuse every request without the shared secret (compared in constant time)."""

    @app.middleware("request")
    async def require_secret(request: Request):
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SECRET_HEADER, "")
        if not is_secret(given, secret):
            logger.warning("security.action_server.refused path=%s", request.path)
            return response.json({"error": "forbidden"}, status=403)
        return None

    return app


def build_app(secret: str) -> Sanic:
    app = guard(create_app("actions", cors_origins=""), secret)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    app.register_listener(start_filing_kept, "after_server_start")
    app.register_listener(stop_filing_kept, "before_server_stop")
    return app


async def start_filing_kept(app: Sanic, _loop) -> None:
    """Each worker files the requests kept while the database was down (``actions.kept_requests``)."""
    from actions.kept_requests import file_kept_forever

    app.ctx.kefu_kept_requests = asyncio.create_task(file_kept_forever())


async def stop_filing_kept(app: Sanic, _loop) -> None:
    task = getattr(app.ctx, "kefu_kept_requests", None)
    if task is not None:
        task.cancel()


def main() -> None:
    log_masking.install()
    sanic_workers.install()  # a dead action-server worker is replaced (bot.sanic_workers)
    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    settings = get_settings()
    app = build_app(get_secrets().action_secret)
    logger.info("security.action_server.listening host=%s port=%s", settings.action_host, settings.action_port)
    app.run(settings.action_host, settings.action_port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
