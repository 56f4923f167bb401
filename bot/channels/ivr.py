"""Phone IVR channel: a Twilio-Media-Streams WebSocket at ``/webhooks/ivr/media``, and the
browser softphone at ``/ivr/phone/`` that calls it from a microphone.

This module is only the transport: it accepts the socket, hands frames to a
:class:`bot.ivr.session.CallSession` with a :class:`bot.ivr.twilio.TwilioSerializer`, and
builds the per-process pieces once (Redis client, flows, ASR engine, prompt player, voicemail
pipeline). Flows and ``content/ivr.yml`` are validated when the channel is built, so a broken
flow stops the server at start with a :class:`bot.ivr.FlowError` naming file, node and field.
Free speech reaches the assistant in process through ``on_new_message`` (see
:mod:`bot.ivr.bot_turns`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import ChannelConfigError
from bot.channels.assets import serve_assets
from bot.ivr.config import HotlineConfigSource, load_hotline_config
from bot.ivr.errors import HotlineConfigError
from bot.ivr.registry import FlowRegistry
from bot.redis_reconnect import reconnecting
from bot.security.secrets import load_secrets
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "softphone"
# The Redis keys of the unvouched calls each client address holds (bot/channels/webchat_addresses.py's leases).
UNVOUCHED_CALLS_PREFIX = "kefu:ivr:unvouched"
PHONE_PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
                  "media-src 'self' blob:; frame-ancestors 'self'; base-uri 'none'")


class SoftphoneBlueprint(Blueprint):
    """Channel routes live under /webhooks/ivr/; the softphone page is added at the app root."""

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        super().register(app, options)
        if any(route.name.endswith("kefu_softphone_page") for route in app.router.routes):
            return
        index = WEB_DIR / "index.html"

        async def phone_page(_: Request) -> HTTPResponse:
            return await response.file(index, headers={"Content-Security-Policy": PHONE_PAGE_CSP,
                                                       "X-Content-Type-Options": "nosniff",
                                                       "Cache-Control": "no-cache"})

        async def phone_redirect(_: Request) -> HTTPResponse:
            return response.redirect("/ivr/phone/")

        app.add_route(phone_page, "/ivr/phone/", methods=["GET"], name="kefu_softphone_page", strict_slashes=True)
        app.add_route(phone_redirect, "/ivr/phone", methods=["GET"], name="kefu_softphone_redirect",
                      strict_slashes=True)
        serve_assets(app, "/ivr/phone/assets", WEB_DIR, "kefu_softphone_assets")
        app.static("/ivr/phone/ui/softphone.zh.json", str(get_settings().content_dir / "ui" / "softphone.zh.json"),
                   name="kefu_softphone_ui")
        from bot.channels import demo_carrier_routes

        demo_carrier_routes.register(app)  # incoming calls from the demo carrier (off with a real provider)


class IvrRuntime:
    """What every call of this process shares; built on the first call (it needs the loop)."""

    def __init__(self, channel: "IvrInput", on_new_message: Callable[[UserMessage], Awaitable[Any]],
                 app: Sanic | None = None) -> None:
        import redis.asyncio as redis

        from bot.db.repository import Repository
        from bot.ivr.bot_turns import RasaInProcess
        from bot.ivr.call_state import CallStore
        from bot.ivr.caller_clips import CallerClips
        from bot.ivr.engine import FlowEngine
        from bot.handoff.conversations import RasaConversations
        from bot.ivr.handoff import QueueHandoff
        from bot.ivr.held_calls import HeldCalls
        from bot.ivr.line import CallLines
        from bot.ivr.services import CallRecords, CallServices
        from bot.ivr.sms_budget import TextBudget
        from bot.notify import OutboxNotifier
        from voice.prompts import PromptPlayer
        from voice.tts import default_engine

        settings = channel.settings
        hotline = channel.hotline.get()
        self.redis = redis.from_url(settings.redis.url, **reconnecting())
        channel.registry.redis = self.redis
        repository = Repository(settings.database_url)
        self.services = CallServices(
            registry=channel.registry,
            store=CallStore(self.redis, ttl_s=hotline.max_call_s + 600),
            hotline=channel.hotline,
            records=CallRecords(repository),
            handoff=QueueHandoff(self.redis, repository, RasaConversations(app) if app is not None else None),
            notifier=OutboxNotifier.from_settings(settings, repository),
            bot=RasaInProcess(on_new_message, hotline.bot_turn_timeout_s),
            clips=CallerClips.from_settings(settings),
            sms_budget=TextBudget.from_settings(self.redis, settings),
        )
        self.engine = FlowEngine(self.services)
        self.lines = CallLines(self.redis, HeldCalls(self.redis))
        self.player = PromptPlayer(default_engine(), settings.prompts_dir)
        self.asr = None
        self.settings = settings
        self.secrets = load_secrets(settings)

    async def start(self) -> "IvrRuntime":
        from bot.ivr.asr_factory import load_asr_engine

        self.asr = await load_asr_engine(self.settings.ivr_asr_engine, self.settings)
        self.services.voicemail = self._store_voicemail
        await self.lines.start()
        return self

    async def _store_voicemail(self, pcm: bytes, sample_rate: int, caller: str, call_id: str) -> None:
        from bot.ivr.flow_loader import MAX_RECORD_SECONDS
        from bot.ivr.services import local_phone
        from voice.audio import DEFAULT_LIMITS, AudioLimits
        from voice.voicemail import RasaHttpNlu, VoicemailPipeline

        nlu = RasaHttpNlu(self.settings.rasa_url, token=self.secrets.rasa_token)
        # As long as a record node may let the caller speak (the last frame may go a little past it):
        # the uploads' 120 s limit threw away every message longer than that (ivr.voicemail.failed).
        limits = AudioLimits(DEFAULT_LIMITS.max_bytes, max(DEFAULT_LIMITS.max_seconds, MAX_RECORD_SECONDS + 2))
        pipeline = VoicemailPipeline.from_settings(self.settings, nlu=nlu, asr=self.asr,
                                                   notifier=self.services.notifier, limits=limits)
        try:
            outcome = await pipeline.handle_bytes(pcm, "pcm", caller_phone=local_phone(caller) or "",
                                                  channel="ivr", source_rate=sample_rate)
            logger.info("ivr.voicemail.stored call=%s message=%s outcome=%s", call_id, outcome.message_id,
                        outcome.outcome)
        except Exception:  # a lost voice message must at least be loud in the log
            logger.exception("ivr.voicemail.failed call=%s", call_id)


class IvrInput(InputChannel):
    """The ``ivr`` input channel; settings from ``credentials.yml`` (all optional)."""

    @classmethod
    def name(cls) -> Text:
        return "ivr"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "IvrInput":
        credentials = credentials or {}
        try:
            unvouched = credentials.get("max_unvouched_calls")
            unstarted = credentials.get("max_unstarted_sockets")
            return cls(get_settings(), max_calls=int(credentials.get("max_calls", 50)),
                       max_unvouched_calls=None if unvouched is None else int(unvouched),
                       max_unstarted_sockets=None if unstarted is None else int(unstarted))
        except (TypeError, ValueError) as error:
            raise ChannelConfigError(f"ivr credentials are invalid: {error}") from error

    def __init__(self, settings: Settings, *, max_calls: int = 50, max_unvouched_calls: int | None = None,
                 max_unstarted_sockets: int | None = None) -> None:
        from bot.channels.webchat_addresses import AddressLimits
        from bot.ivr.places import CallPlaces, Unstarted
        from bot.observability.metrics import show_every_refusal_reason

        if max_calls < 1:
            raise ChannelConfigError("ivr max_calls must be >= 1")
        if max_unvouched_calls is None:  # a fifth of the places, at least one (the demo softphone's calls)
            max_unvouched_calls = max(1, max_calls // 5)
        if not 0 <= max_unvouched_calls <= max_calls:
            raise ChannelConfigError("ivr max_unvouched_calls must be between 0 and max_calls")
        if max_unstarted_sockets is None:  # every call the process serves connecting at once, and as many
            max_unstarted_sockets = 2 * max_calls  # again (a vouched call may take an unvouched one's place)
        if max_unstarted_sockets < 1:
            raise ChannelConfigError("ivr max_unstarted_sockets must be >= 1")
        self.settings = settings
        self.max_calls = max_calls
        self.places = CallPlaces(max_calls, max_unvouched_calls)
        self.unstarted = Unstarted(max_unstarted_sockets)  # sockets with no start yet, but the carrier's signed ones
        self._unstarted_refusals = RefusalLog("not_started_full")
        self._rate_refusals = RefusalLog("unvouched_rate")
        # Unvouched calls one client address holds at once, in Redis for every process: one lease per call, renewed
        # while it lasts (``_vouching``), so a dead process's calls stop counting (webchat_addresses.STALE_S).
        # Renewed on the event loop, not a thread (bot.renewing_thread), on purpose: a round is one pipelined
        # round trip (measured 0.3 ms median, 8 ms p99 for 10 calls, the default max_unvouched_calls, on the
        # loaded 2-core test machine), and the leases lapse only after a stall of STALE_S - RENEW_S = 60 s;
        # what lapses then is an abuse limit (still bounded by the process's unvouched places and starts per
        # minute), not a caller's call, unlike the queue's word for a waiting call (bot.ivr.held_calls).
        self.addresses = AddressLimits(lambda: self._runtime.redis if self._runtime is not None else None,
                                       settings.phone_unvouched_calls_per_address, 0, prefix=UNVOUCHED_CALLS_PREFIX,
                                       name="ivr.unvouched")
        self._vouching: asyncio.Task | None = None
        show_every_refusal_reason()
        self.registry = FlowRegistry(settings.ivr_flows_dir).load()  # FlowError stops the server here
        try:
            load_hotline_config(settings.ivr_config_path)
        except HotlineConfigError as error:
            raise ChannelConfigError(str(error)) from error
        self.hotline = HotlineConfigSource(settings.ivr_config_path)
        self._runtime: IvrRuntime | None = None
        self._runtime_lock: asyncio.Lock | None = None
        self._warming: asyncio.Task | None = None
        logger.info("ivr.flows.loaded flows=%s", ",".join(self.registry.flow_ids()))

    async def runtime(self, on_new_message, app: Sanic | None = None) -> IvrRuntime:
        if self._runtime_lock is None:
            self._runtime_lock = asyncio.Lock()
        async with self._runtime_lock:
            if self._runtime is None:
                self._runtime = await IvrRuntime(self, on_new_message, app).start()
        return self._runtime

    async def warm(self, on_new_message, app: Sanic | None = None) -> None:
        """Build the call runtime and warm what a call needs (bot/ivr/warm_up.py), in the background
        after server start: the first caller need not wait for it. A failure here is retried by the
        first call, which then reports it."""
        from bot.ivr.warm_up import warm_runtime

        if not self.settings.redis.url:  # calls are refused without it (see media()): nothing to warm
            return
        started = time.monotonic()
        try:
            runtime = await self.runtime(on_new_message, app)
            built = time.monotonic() - started
            timings = await warm_runtime(runtime)
        except Exception as exc:  # noqa: BLE001 - the first call builds it again and fails loudly if it must
            logger.warning("ivr.warm_up.failed error=%s: %s", type(exc).__name__, exc)
            return
        logger.info("ivr.warm_up.done seconds=%.2f runtime=%.2f %s", time.monotonic() - started, built,
                    " ".join(f"{name}={seconds}" for name, seconds in timings.items()))

    def get_output_channel(self):
        """Speaks to a live call from any process (the desk, the waiting room): see ``bot.ivr.line``."""
        from bot.ivr.line_output import IvrLineOutput

        return IvrLineOutput()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = SoftphoneBlueprint("ivr_webhook", __name__)

        @webhook.listener("after_server_start")
        async def warm_up(app: Sanic, _loop) -> None:
            # Not awaited: the server answers (and `kefu run` reports it up) while this runs.
            self._warming = asyncio.create_task(self.warm(on_new_message, app), name="ivr-warm-up")

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})  # not the flow ids: not the public's to list

        @webhook.route("/status", methods=["POST"])
        async def call_status(request: Request) -> HTTPResponse:
            """The carrier's status callback for Kefu's own outbound calls (bot/contacts/status.py)."""
            from bot.contacts.carrier_account import carrier_account
            from bot.contacts.status import contact_rules, record_call_status, signed_by_carrier
            from bot.db.repository import Repository
            from bot.security.secrets import get_secrets

            params = {k: v[0] for k, v in (request.form or {}).items()}
            url = f"{self.settings.public_url.rstrip('/')}/webhooks/ivr/status"
            account = carrier_account(self.settings, get_secrets().channel_secret)  # operator's, or the demo's
            if account is None or not signed_by_carrier(account.auth_token, url, params,
                                                        request.headers.get("X-Twilio-Signature", "")):
                return response.text("forbidden", status=403)
            await asyncio.to_thread(record_call_status, Repository(self.settings.database_url), params,
                                    await asyncio.to_thread(contact_rules, self.settings))
            return response.text("", status=204)

        @webhook.websocket("/media")
        async def media(request: Request, ws) -> None:
            from bot.ivr.handshake import carrier_signed, trunk_authorized
            from bot.observability.metrics import count_refused_call
            from bot.security.login_guard import client as network_of

            if not self.settings.redis.url:
                logger.error("ivr.call.refused reason=no_redis")
                count_refused_call("no_redis")
                await ws.close(code=1011, reason="call state store unavailable")
                return
            if self.places.vouched >= self.max_calls:  # no stream could have a place (bot/ivr/places.py)
                logger.warning("ivr.call.refused reason=busy calls=%d", self.places.taken)
                count_refused_call("busy")
                await ws.close(code=1013, reason="busy")
                return
            signed = carrier_signed(request, self.settings.public_url, self.settings.telephony_auth_token)
            if not signed and "authorization" in request.headers:  # the runtime holds the trunk's token
                runtime = await self.runtime(on_new_message, request.app)
                signed = trunk_authorized(request, runtime.secrets.ivr_trunk_token)
            # The carrier's own sockets (signed, or with the trunk's token at connect) are not counted: a flood
            # of sockets that send nothing must not turn its callers away. A trunk's kefuTrunkToken in the start
            # is read only then: its socket is counted, and takes the place of the one waiting longest when all
            # are taken (places.py).

            def make_room() -> None:  # this socket waited longest for its start: closed without waiting for
                self._unstarted_refusals.refused(f"waiting={self.unstarted.count}")  # its client's answer
                ws.fail_connection(1013, "too many streams starting")

            leave = (lambda: None) if signed else self.unstarted.enter(make_room)
            try:
                await self._serve(ws, await self.runtime(on_new_message, request.app), signed, leave,
                                  network_of(request.remote_addr or request.ip or ""))
            finally:
                leave()

        return webhook

    async def _serve(self, ws, runtime: IvrRuntime, carrier_signed: bool, started: Callable[[], None],
                     client: str) -> None:
        """``client``: the address the socket came from (a trusted proxy's client's, an IPv6 one's /64)."""
        from bot import rate_window
        from bot.ivr.places import UNVOUCHED_STARTS_WINDOW_S, unvouched_starts_key
        from bot.ivr.session import CallSession
        from bot.ivr.twilio import TwilioSerializer
        from bot.observability.metrics import count_refused_call

        hotline = runtime.services.hotline.get()

        async def close() -> None:
            from websockets.exceptions import WebSocketException

            try:
                if session.end_reason == "busy":
                    await ws.close(code=1013, reason="busy")
                else:
                    await ws.close()
            except WebSocketException:  # the far end closed it first
                pass

        taken = []
        counted_at_address: list[str] = []  # an unvouched call's id, while its address counts it
        uncounting: list[asyncio.Future] = []

        def give_up_place() -> None:  # a vouched call found every place taken: this unvouched one makes room
            if session.end_with("line_busy", "busy"):  # not a call already ending (the caller hung up)
                logger.warning("ivr.call.unvouched_ended reason=busy call=%s", session.call_id)
                count_refused_call("unvouched_ended")

        per_minute = self.settings.phone_unvouched_calls_per_address_per_minute

        async def admit(start) -> bool:
            started()  # the socket has started: it no longer waits for its start
            counted = None
            if not start.vouched and per_minute:  # one client starting stream after stream (places.py)
                counted = await rate_window.take(runtime.redis, unvouched_starts_key(client), limit=per_minute,
                                                 window_s=UNVOUCHED_STARTS_WINDOW_S, now=time.time())
                if counted is None:
                    self._rate_refusals.refused(f"call={start.call_id} per_minute={per_minute}")
                    return False
            if not start.vouched:  # one client holding call after call open (silent, or waiting in the queue)
                if not await self._count_at_address(start.call_id, client):
                    count_refused_call("unvouched_address")  # logged by AddressLimits, once a minute per client
                    if counted is not None:  # not started after all: a retry is not held against the client
                        await rate_window.give_back(runtime.redis, unvouched_starts_key(client), counted)
                    return False
                counted_at_address.append(start.call_id)
            place = self.places.take(start.vouched, give_up_place)
            if place is None:
                free_place()
                if counted is not None:  # not started after all: a retry is not held against the client
                    await rate_window.give_back(runtime.redis, unvouched_starts_key(client), counted)
                over_share = not start.vouched and self.places.unvouched >= self.places.max_unvouched
                reason = "unvouched_full" if over_share else "busy"
                logger.warning("ivr.call.refused reason=%s call=%s vouched=%s calls=%d unvouched=%d", reason,
                               start.call_id, start.vouched, self.places.taken, self.places.unvouched)
                count_refused_call(reason)
                return False
            taken.append(place)
            return True

        def free_place() -> None:
            for place in taken:
                place.release()
            while counted_at_address:  # beside the call's clean-up, as the place
                uncounting.append(asyncio.ensure_future(self._uncount_at_address(counted_at_address.pop())))

        serializer = TwilioSerializer(runtime.secrets.ivr_trunk_token, carrier_signed=carrier_signed)
        session = CallSession(engine=runtime.engine, serializer=serializer, player=runtime.player,
                              asr=runtime.asr, send=line_sender(ws), close=close, max_call_s=hotline.max_call_s,
                              max_utterance_s=hotline.max_utterance_s, lines=runtime.lines,
                              end_of_turn=(hotline.end_of_turn_menu_s, hotline.end_of_turn_free_s),
                              unfinished=(hotline.unfinished_starts, hotline.unfinished_wait_s), admit=admit,
                              free_place=free_place)
        try:
            await session.run(lambda timeout: _receive(ws, timeout))
        finally:
            free_place()
            await asyncio.gather(*uncounting)

    async def _count_at_address(self, call_id: str, client: str) -> bool:
        """Count an unvouched call for its ``client`` address, if it holds fewer than its limit; False: refused.
        While this process's calls count, it renews their leases."""
        if not await self.addresses.admit(call_id, client):
            return False
        if self.addresses.counted and (self._vouching is None or self._vouching.done()):
            self._vouching = asyncio.ensure_future(self.addresses.renew_forever(lambda _call: True))
        return True

    async def _uncount_at_address(self, call_id: str) -> None:
        await self.addresses.release(call_id)
        if not self.addresses.counted and self._vouching is not None:  # started again by the next one
            self._vouching.cancel()
            self._vouching = None


class RefusalLog:
    """Counts each refusal for ``reason``; logs the first, then at most one line every ``every_s`` with how many
    since: a flood of sockets must not become a flood of log lines."""

    def __init__(self, reason: str, every_s: float = 10.0) -> None:
        self.reason = reason
        self.every_s = every_s
        self._unlogged = 0
        self._logged_at: float | None = None

    def refused(self, detail: str) -> None:
        from bot.observability.metrics import count_refused_call

        count_refused_call(self.reason)
        self._unlogged += 1
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= self.every_s:
            logger.warning("ivr.call.refused reason=%s %s refused=%d", self.reason, detail, self._unlogged)
            self._unlogged, self._logged_at = 0, now


def line_sender(ws) -> Callable[[str], Awaitable[None]]:
    """``ws.send`` for the call, with Sanic's "socket closed" errors raised as :class:`LineClosed`: a frame
    sent just as the caller hangs up is the end of the call, not a fault of the playback."""
    from sanic.exceptions import ServerError, WebsocketClosed

    from bot.ivr.errors import LineClosed

    async def send(frame: str) -> None:
        try:
            await ws.send(frame)
        except WebsocketClosed as exc:
            raise LineClosed(str(exc)) from exc
        except ServerError as exc:  # "... after it is finished": the connection was lost
            finished = getattr(ws, "data_finished_fut", None)
            if finished is None or finished.done():
                raise LineClosed(str(exc)) from exc
            raise

    return send


class SocketClosed(ConnectionError):
    """The far end went away while we waited for a frame."""


async def _receive(ws, timeout: float):
    """Sanic's ``recv`` raises CancelledError when the socket closes under it; that is a hang-up."""
    from websockets.connection import State

    try:
        return await ws.recv(timeout=timeout)
    except asyncio.CancelledError:
        if ws.connection.state in (State.CLOSING, State.CLOSED):
            raise SocketClosed("websocket closed") from None
        raise
