"""Operations endpoints inside the Rasa server: ``GET /metrics`` (Prometheus), ``GET /health`` (readiness)
and ``GET /health/live`` (liveness).

Configured as a channel in ``credentials.yml`` (``bot.channels.ops.OpsInput``) so every Rasa server
process serves them; building it also sets up Kefu's structured logging and the turn guards
(:mod:`bot.observability.rasa_guards`) in that process. ``/metrics`` wants
``Authorization: Bearer $KEFU_METRICS_TOKEN``; without a token set it answers loopback clients only.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.lock_store import LockError
from redis.exceptions import RedisError
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.rest_guard import check_rest_body
from bot.redis_reconnect import reconnecting
from bot.security.body_size import refuse_too_large
from bot.security.loopback import bearer_or_loopback
from bot.settings import Settings, get_settings
from bot.model_swap_memory import release_after_swap
from bot.served_model import remember_swap
from bot.worker_balance import close_after_turn, serves_with_several_workers

logger = logging.getLogger(__name__)


def store_unavailable(request: Request, exception: Exception) -> HTTPResponse:
    """Redis down under a webhook that needs it before any turn (WeChat's dedupe, a rate limit):
    a retryable 503 — WeChat's servers and well-behaved clients send the message again — never a 500."""
    from bot.observability.metrics import APOLOGIES

    APOLOGIES.labels("redis").inc()
    logger.warning("http.store_unavailable path=%s error=%s", request.path, type(exception).__name__)
    return response.json({"error": "temporarily unavailable, please send again in a few seconds"}, status=503,
                         headers={"Retry-After": "5"})


class OpsBlueprint(Blueprint):
    """Routes at the app root (load balancers and Prometheus expect ``/health`` and ``/metrics``)."""

    def __init__(self, channel: "OpsInput") -> None:
        super().__init__("kefu_ops", __name__)
        self.ctx.channel = channel

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        from bot.observability.logging_setup import route_library_loggers

        super().register(app, options)
        if any(route.name.endswith("kefu_health") for route in app.router.routes):
            return
        route_library_loggers()  # the app exists now, with Sanic's own log handlers
        app.register_middleware(refuse_too_large, "request")  # first: the others would read an empty body
        app.register_middleware(check_rest_body, "request")
        if serves_with_several_workers(get_settings().env):
            app.register_middleware(close_after_turn, "response")
        app.register_middleware(release_after_swap, "response")
        app.register_middleware(remember_swap, "response")  # a replaced worker loads the published model
        app.error_handler.add(RedisError, store_unavailable)
        app.error_handler.add(LockError, store_unavailable)
        channel = self.ctx.channel
        app.add_route(channel.health, "/health", methods=["GET"], name="kefu_health")
        app.add_route(channel.live, "/health/live", methods=["GET"], name="kefu_health_live")
        app.add_route(channel.metrics, "/metrics", methods=["GET"], name="kefu_metrics")
        app.register_listener(channel.open_clients, "before_server_start")
        app.register_listener(channel.warm_up, "after_server_start")  # Rasa loads the model before start
        app.register_listener(channel.close_clients, "after_server_stop")


class OpsInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "ops"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "OpsInput":
        from bot.handoff import desk_proof
        from bot.observability import rasa_guards
        from bot.observability.logging_setup import configure_from_settings

        settings = get_settings()
        configure_from_settings(settings)
        rasa_guards.install()
        desk_proof.install()  # a proof the desk asked for is checked by the bot while the agent holds the chat
        return cls(settings)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = None
        self.http = None
        self.repository = None
        self.warmed = False  # the model has parsed once in this process (bot.warm_up)

    async def warm_up(self, app: Sanic, _loop) -> None:
        from bot.warm_up import warm_up

        await warm_up(app)
        self.warmed = True  # also without a model (nothing to warm): health reports the other checks

    async def open_clients(self, app: Sanic, _loop) -> None:
        import aiohttp
        import redis.asyncio as redis

        from bot.db.repository import Repository
        from bot.observability.health import CHECK_TIMEOUT_S

        url = self.settings.redis.url or "redis://127.0.0.1:6379/0"
        self.redis = redis.from_url(url, **reconnecting(CHECK_TIMEOUT_S))
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT_S))
        self.repository = Repository(self.settings.database_url)

    async def close_clients(self, app: Sanic, _loop) -> None:
        if self.http is not None:
            await self.http.close()
        if self.redis is not None:
            await self.redis.close()

    async def health(self, _: Request) -> HTTPResponse:
        from bot.observability.disk_space import MIB
        from bot.observability.health import CheckResult, check_all, check_disk, readiness

        action_health = f"{self.settings.action_base_url}/health"
        results = await check_all(self.redis, self.repository.engine, self.http, action_health)
        # A worker whose first turn would still pay the model's warm-up is not ready for traffic.
        results.append(CheckResult("warm_up", self.warmed, 0.0, "" if self.warmed else "warming up"))
        results.append(check_disk(self.settings.data_dir, self.settings.data_dir_min_free_mb * MIB))
        status, body = readiness(results)
        if body["status"] != "ok":
            logger.warning("health.%s failing=%s", body["status"], ",".join(r.name for r in results if not r.ok))
        return response.json(body, status=status)

    async def live(self, _: Request) -> HTTPResponse:
        """Liveness: this server process answers (no dependency checked; ``/health`` is readiness)."""
        return response.json({"status": "alive"})

    def allowed(self, request: Request) -> bool:
        return bearer_or_loopback(request, self.settings.metrics_token)

    async def metrics(self, request: Request) -> HTTPResponse:
        from bot.observability.metrics import exposition
        from bot.observability.state import read_state, state_registry

        if not self.allowed(request):
            return response.json({"error": "metrics need the operations token"}, status=401)
        snapshot = await read_state(self.redis, self.repository, data_dir=self.settings.data_dir)
        body, content_type = exposition(state_registry(snapshot))
        return response.raw(body, content_type=content_type)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return OpsBlueprint(self)
