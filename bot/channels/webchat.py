"""Web chat: Rasa's Socket.IO protocol plus Kefu's own chat page at ``/chat/``, ``/media/`` and ``/help/``.

The wire protocol is the one the common Rasa web-chat widgets speak (``session_request`` /
``session_confirm``, ``user_uttered`` / ``bot_uttered``, sessions persisted by id), so those
widgets keep working against Kefu. Messages Kefu adds, all as ``bot_uttered``:

* ``{"quick_replies": [{"type": "web_url", "title", "url"}]}`` — link buttons next to payload ones;
* ``{"attachment": {"type": "video", "payload": {"src", "poster", "title"}}}`` — inline video;
* ``{"custom": {"kind": "queue_status", "position": N, "wait_minutes": M}}`` — waiting for an agent
  (``"agents_available": false`` and no wait when nobody is signed in);
* ``{"custom": {"kind": "agent_message", "agent_name": "...", "text": "..."}}`` — a human agent;
* ``{"custom": {"kind": "agent_joined", "agent_name": "..."}}`` — an agent took the conversation: the
  waiting room's buttons shown earlier no longer apply;
* ``{"custom": {"kind": "queue_left"}}`` — with the message of a request taken out of the queue (a
  supervisor's 移出队列, a timeout): the waiting room's buttons shown earlier no longer apply either;
* ``{"custom": {"kind": "notice", "reason": "rate_limited" | "too_long"}}`` — the page explains; to the
  page that sent the refused message only: the message is no part of the conversation (not answered,
  not stored, not shown in its other pages nor replayed to one resuming), so neither is its refusal;
* ``{"custom": {"kind": "notice", "reason": "not_handled", "message": "...", "client_id": "..."}}`` — an
  acknowledged message was set aside unanswered (``webchat_inflight``): the page asks the customer to
  send it again or ask for an agent (sent again, like missed replies, to a page resuming after it);
* ``{"custom": {"kind": "agent_left"}}`` — with the hand-back after an agent closed: the assistant
  answers again (the page shows no assistant typing dots while an agent holds the conversation);
* ``"input": "proof"`` on the parts of a message asking for an SMS code or the service password
  (``secret_answers.PROOF_PROMPTS``): the page offers a numeric keypad with one-time-code autofill and
  masks the answer in its bubble and its stored history.

Just before ``session_confirm`` the server sends ``message_limit`` ``{"max_message_chars"}``
(credentials.yml): the page cuts drafts at it, not at a number of its own (2000 until told).
After ``session_confirm`` the server sends ``session_timing`` ``{"idle_s", "warn_s"}``: the session
ends ``idle_s`` after the customer's last message (``domain/core.yml``), and the page warns ``warn_s``
before (``KEFU_WEBCHAT_EXPIRY_WARNING_S``). ``session_keep`` (acknowledged ``{"ok": true}``) is the
customer asking to stay: the session lasts ``idle_s`` from then (``bot.session_keepalive``).

Every part of an assistant's or agent's message carries ``timestamp``, its event's time in the
conversation. A page that resumes a session sends the latest one it received as ``seen_at`` in
``session_request``, and is sent again what was said after it: an agent's words written while the
page was closed reach the customer when they come back (found by a tester: they were lost). The page
joins its room and is sent what it missed between two turns of the conversation, under its lock
(``between_turns``): a page back during a turn gets each reply once, live or replayed.

The customer's message goes to the conversation's other pages (a duplicated tab, on any worker) as
``user_uttered`` ``{"message", "client_id"}``, to its room but the socket that sent it, before its
turn's answers (``show_typed``), when the presence keys count another page of it open (a page is
counted before it joins the room, or, counted while Redis failed, once it answers: ``webchat_presence``;
most conversations have one, and nothing is sent); a resuming page is sent the customer's messages it missed too, each
with its ``timestamp``, in order with the replies. The page shows each once, by its client id: the
page's own, or for a message sent without one (a third-party widget's) the id the server gave it,
the same live and replayed (``Pending.shown_id``).

Delivery (``webchat_delivery``): a ``user_uttered`` carrying ``client_id`` and asking for a Socket.IO
ack is acknowledged once accepted — ``{"ok": true}``, ``{"ok": true, "duplicate": true}`` for a
resend already taken, ``{"ok": false, "reason": ...}`` for one refused for good (too long, rate
limited, no session) — and taken once per conversation however often the page resends it. An
acknowledged message is kept in Redis until its turn is done, and taken over by another worker if
the one handling it dies (``webchat_inflight``).
The heartbeat (``KEFU_WEBCHAT_PING_INTERVAL_S`` / ``_TIMEOUT_S``) reaches the page in Engine.IO's
open packet: the page (socket.io-client) counts the connection dead after interval + timeout without
a ping, or when an ack is later than the timeout.

Security: session ids are issued and signed by the server (``webchat_sessions``): a page resumes
only an id it was given, never one it picked (a phone number, or another customer's id). Client
metadata is dropped, messages are size- and rate-limited per session and per socket (a socket asking
for a new session after every few messages has no fresh allowance with each), and a socket asking
for more than ``SESSION_REQUESTS_PER_MINUTE`` sessions is disconnected: each one starts a conversation
and writes its presence keys (a week's TTL) in Redis. Per client address (``webchat_addresses``, every
worker together): a connection past ``KEFU_WEBCHAT_CONNECTIONS_PER_ADDRESS`` open is refused with
``too_many_connections`` (the client's ``connect_error``), and a new session past
``KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE`` is answered ``session_refused`` ``{"reason":
"too_many_sessions"}`` instead of ``session_confirm`` (the connection stays; the page asks again later).
A connection may carry Socket.IO ``auth`` ``{"page": "<16-64 hex>"}`` (Kefu's page sends a random id per
page load): it then takes the count of the page's previous connection, which the server closes (a page
back from a lost network counted twice until the heartbeat gave up on its old socket).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.core.lock_store import LockError
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from redis.exceptions import RedisError
from socketio import AsyncManager, AsyncRedisManager, AsyncServer
from socketio.exceptions import ConnectionRefusedError as Refused

from bot import session_keepalive
from bot.channels import ChannelConfigError
from bot.channels import webchat_rooms as rooms_wire, webchat_sessions as sessions
from bot.channels.assets import serve_assets
from bot.channels.webchat_addresses import TOO_MANY_CONNECTIONS, TOO_MANY_SESSIONS, AddressLimits, client_of, page_of
from bot.channels.webchat_engineio import attach_engineio, library_loggers
from bot.channels.webchat_delivery import client_id_of, forget_delivery
from bot.channels.webchat_inflight import PREFIX as GUARD_PREFIX, InFlight, Pending
from bot.channels.webchat_presence import OwedPresence
from bot.channels.guard import ChannelGuard
from bot.channels.intake import MAX_MESSAGE_CHARS, encodable
from bot.channels.help_page import WEB_DIR as HELP_DIR, help_response
from bot.channels.media_route import media_response
from bot.redis_channels import deployment_channel
from bot.redis_reconnect import listening, reconnecting
from bot.security.launch import kefu_origins
from bot.security.secret_answers import PROOF_PROMPTS
from bot.security.secrets import get_secrets
from bot.handoff.masking import AWAITING_PROOF, blank_secrets, proof_secrets
from bot.handoff.presence import page_alive, page_closed
from bot.lock_store import confirm_held
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "chat"
# The page asks for a session when it connects and on 新对话; a socket asking more often is a script.
SESSION_REQUESTS_PER_MINUTE = 10
# A resuming page waits at most this long for a running turn to end before it is sent what it missed.
REPLAY_LOCK_WAIT_S = 10.0
# The page is self-contained: scripts and styles from Kefu only; media may come from a CDN.
CHAT_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' https: data:; media-src 'self' https:; frame-ancestors 'self'; base-uri 'none'"
)


# The timestamp of the bot event being sent, for each part it is sent as (task-local: sends interleave).
_SENDING_AT: ContextVar[Optional[float]] = ContextVar("webchat_sending_at", default=None)
# Whether the message being sent asks for an SMS code or the service password (its parts say ``"input": "proof"``).
_ASKS_PROOF: ContextVar[bool] = ContextVar("webchat_asks_proof", default=False)


class WebChatOutput(SocketIOOutput):
    """Socket.IO output that also carries link buttons and Kefu's custom message kinds."""

    @classmethod
    def name(cls) -> Text:
        return WebChatInput.name()

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        token = _SENDING_AT.set(message.get("timestamp"))
        proof = _ASKS_PROOF.set(message.get("utter_action") in PROOF_PROMPTS)
        try:
            await super().send_response(recipient_id, message)
        finally:
            _SENDING_AT.reset(token)
            _ASKS_PROOF.reset(proof)

    async def _send_message(self, recipient_id: Text, response: Any) -> None:
        # Sent as the turn goes, before its save: a turn whose conversation lock was taken meanwhile (Redis
        # hung, the worker frozen) stops here, its stale reply unseen (LockLost; the turn guard runs it again).
        await confirm_held(recipient_id)
        sending_at = _SENDING_AT.get()
        if sending_at is not None and isinstance(response, dict):
            response = {**response, "timestamp": sending_at}
        if _ASKS_PROOF.get() and isinstance(response, dict):
            response = {**response, "input": "proof"}
        await super()._send_message(recipient_id, response)

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        parts = text.strip().split("\n\n") or [text]
        for part in parts[:-1]:
            await self._send_message(recipient_id, {"text": part})
        await self._send_message(
            recipient_id, {"text": parts[-1], "quick_replies": [quick_reply(b) for b in buttons]}
        )

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        # Rasa's SocketIOOutput spreads the dict into emit() keyword arguments; send it as data.
        await self._send_message(recipient_id, {"custom": json_message})


def quick_reply(button: Dict[Text, Any]) -> Dict[Text, Any]:
    """A domain button as the widgets expect it: payload buttons send, link buttons open."""
    if button.get("type") == "web_url" or ("url" in button and "payload" not in button):
        return {"type": "web_url", "title": button.get("title", ""), "url": button.get("url", "")}
    return {"content_type": "text", "title": button.get("title", ""), "payload": button.get("payload", "")}


class ChatPageBlueprint(SocketBlueprint):
    """Attaches Socket.IO at the app root and serves the chat page and media next to it."""

    def __init__(self, sio: AsyncServer, socketio_path: Text, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(sio, socketio_path, *args, **kwargs)
        self.ctx.settings = settings

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        # SocketBlueprint.register, with Kefu's Engine.IO route in place of ``sio.attach`` (webchat_engineio).
        attach_engineio(app, self.ctx.sio, self.ctx.socketio_path)
        Blueprint.register(self, app, options)
        self.ctx.app = app  # the Rasa server: its tracker store replays what a reopened page missed
        settings: Settings = self.ctx.settings
        if any(route.name.endswith("kefu_chat_page") for route in app.router.routes):
            return  # registered already (Rasa may attach blueprints more than once in tests)
        index = WEB_DIR / "index.html"

        async def chat_page(_: Request) -> HTTPResponse:
            page = await response.file(index, headers={"Content-Security-Policy": CHAT_PAGE_CSP,
                                                       "X-Content-Type-Options": "nosniff",
                                                       "Cache-Control": "no-cache"})
            return page

        async def chat_redirect(_: Request) -> HTTPResponse:
            return response.redirect("/chat/")

        app.add_route(chat_page, "/chat/", methods=["GET"], name="kefu_chat_page", strict_slashes=True)
        app.add_route(chat_redirect, "/chat", methods=["GET"], name="kefu_chat_redirect", strict_slashes=True)
        serve_assets(app, "/chat/assets", WEB_DIR, "kefu_chat_assets")
        app.static("/chat/ui", str(settings.content_dir / "ui"), name="kefu_chat_ui")
        async def media(request: Request, path: str) -> HTTPResponse:
            return await media_response(request, settings.media_dir, path)

        app.add_route(media, "/media/<path:path>", methods=["GET", "HEAD"], name="kefu_media")

        async def help_page(request: Request, entry_id: str) -> HTTPResponse:
            return await help_response(request, settings, entry_id)

        app.add_route(help_page, "/help/<entry_id:str>", methods=["GET"], name="kefu_help_page")
        serve_assets(app, "/help/assets", HELP_DIR, "kefu_help_assets")


def _agent(webhook: ChatPageBlueprint) -> Any:
    """The Rasa server's agent (its tracker and lock stores); None without one (a channel unit test)."""
    return getattr(getattr(getattr(webhook.ctx, "app", None), "ctx", None), "agent", None)


# Socket.IO rooms across workers: the Redis pub/sub channel's name before its database (``deployment_channel``),
# how often a message on it that is not one of the workers' is logged, and how many messages a worker keeps
# waiting to be published (a Redis that hangs takes them one timeout each) before it drops the newest,
# logged as often as the unreadable.
ROOMS_CHANNEL_BASE = "kefu:webchat:socketio"
UNREADABLE_LOG_EVERY_S = 60.0
UNPUBLISHED_MAX = 1000


class RoomsAcrossWorkers(AsyncRedisManager):
    """Socket.IO rooms shared through Redis, so an emit from any worker reaches the customer's socket.

    An emit is delivered at once to the sockets connected to this worker, then published for the
    others beside the caller: a reply never waits for Redis to reach a page on the worker that sends
    it (with Redis hung, each message waited ``KEFU_REDIS_TIMEOUT_SECONDS`` for its publish first; a
    turn's three messages came one timeout apart, the apology for exactly that fault among them). This
    worker's listener skips what it published itself, so no page gets a message twice; an emit to one
    socket of this worker is not published at all (it is nowhere else). An emit to a conversation's room
    is, even when the one page counted open is here: that page may be back on another worker mid-turn,
    asking without ``seen_at`` (nothing replayed to it), and only the publish brings it the rest of the turn
    (``test_webchat_rooms``, a tab back on another worker mid-turn). What a worker publishes goes
    out in order, one message at a time (python-socketio's own ``disconnect``, ``close_room`` and
    ``callback`` messages with the emits), each given up after ``KEFU_REDIS_TIMEOUT_SECONDS`` and not
    tried a second time on a timeout (python-socketio would, doubling the wait): pages on other workers
    miss what could not be published, as they did. The listener has a client of its own that may wait
    for messages for as long as there are none (bot/redis_reconnect.py).

    Messages are JSON (``webchat_rooms``), never pickle: python-socketio unpickles what it reads, and
    whoever can publish on the Redis would run code in every worker. One that is not JSON of
    python-socketio's shapes is dropped, and logged at most once a minute (``webchat.rooms.unreadable``).
    """

    _own_id: Optional[str] = None  # the id this process publishes under, and the process it is for
    _own_pid: Optional[int] = None
    _unreadable = 0  # dropped since the last log line
    _unreadable_logged_at = float("-inf")
    _unpublished = 0  # dropped for a full backlog since the last log line
    _unpublished_logged_at = float("-inf")
    _outbox: Optional[asyncio.Queue] = None  # what waits to be published, encoded, in order
    _publisher: Optional[asyncio.Task] = None

    # python-socketio gives a manager one id when it is made, and a worker skips what is published under its own.
    # Kefu's workers are forked from the process that made it (bot/sanic_workers.py): all had one id, and each
    # dropped the others' emits (found on a live stack: an agent's messages, and "an agent joined", reached the
    # page only when the desk's request landed on the page's worker). Each process has an id of its own.
    @property
    def host_id(self) -> str:
        if self._own_pid != os.getpid():
            self._own_id, self._own_pid = uuid.uuid4().hex, os.getpid()
        return self._own_id

    @host_id.setter
    def host_id(self, value: str) -> None:
        self._own_id, self._own_pid = value, os.getpid()

    def _redis_connect(self):
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(self.redis_url, **reconnecting())
        self.pubsub = aioredis.Redis.from_url(self.redis_url, **listening()).pubsub(ignore_subscribe_messages=True)

    async def emit(self, event, data, namespace=None, room=None, skip_sid=None, callback=None, **kwargs):
        if kwargs.get("ignore_queue") or callback is not None:  # an ack across workers: python-socketio's way
            return await super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid,
                                      callback=callback, **kwargs)
        namespace = namespace or "/"
        message = {"method": "emit", "event": event, "data": data, "namespace": namespace, "room": room,
                   "skip_sid": skip_sid, "callback": None, "host_id": self.host_id}
        encoded = rooms_wire.encode(message)  # a TypeError for the caller before anything is sent
        await AsyncManager.emit(self, event, data, namespace=namespace, room=room, skip_sid=skip_sid)
        if not (isinstance(room, str) and self.is_connected(room, namespace)):  # not one socket of this worker's
            self._publish_later(encoded)

    async def _publish(self, data):
        """python-socketio's other messages (``disconnect``, ``close_room``, ``callback``): after the emits
        published before them."""
        self._publish_later(rooms_wire.encode(data))

    def _publish_later(self, encoded: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._publisher is None or self._publisher.done() or self._publisher.get_loop() is not loop:
            self._outbox = asyncio.Queue()
            self._publisher = loop.create_task(self._publish_in_order(self._outbox))
            self._publisher.add_done_callback(self._publisher_ended)
        if self._outbox.qsize() < UNPUBLISHED_MAX:
            self._outbox.put_nowait(encoded)
            return
        self._unpublished += 1
        if time.monotonic() - self._unpublished_logged_at >= UNREADABLE_LOG_EVERY_S:
            logger.warning("webchat.rooms.not_published dropped=%d waiting=%d hint=Redis does not take this "
                           "worker's messages for the other workers' pages", self._unpublished, UNPUBLISHED_MAX)
            self._unpublished, self._unpublished_logged_at = 0, time.monotonic()

    async def _publish_in_order(self, outbox: asyncio.Queue) -> None:
        while True:
            encoded = await outbox.get()
            try:
                await self.redis.publish(self.channel, encoded)
            except RedisError as error:
                logger.warning("webchat.rooms.publish_failed error=%s", type(error).__name__)

    @staticmethod
    def _publisher_ended(task: asyncio.Task) -> None:
        """A bug stopped the publisher (the next message starts another): logged with its traceback."""
        if not task.cancelled() and task.exception() is not None:
            logger.error("webchat.rooms.publisher_failed", exc_info=task.exception())

    async def _handle_emit(self, message):
        if message.get("host_id") == self.host_id and message.get("callback") is None:
            return  # delivered to this worker's sockets when it was emitted (``emit``)
        await super()._handle_emit(message)

    async def _listen(self):
        """What other workers published, decoded; python-socketio takes a dict as it is."""
        async for raw in super()._listen():
            message = rooms_wire.decode(raw)
            if message is not None:
                yield message
                continue
            self._unreadable += 1
            if time.monotonic() - self._unreadable_logged_at >= UNREADABLE_LOG_EVERY_S:
                logger.warning("webchat.rooms.unreadable dropped=%d channel=%s hint=not a JSON message of Kefu's "
                               "workers: a worker of an older Kefu (pickle) during an upgrade, or someone else "
                               "publishing on this Redis", self._unreadable, self.channel)
                self._unreadable, self._unreadable_logged_at = 0, time.monotonic()


def typed_on_a_page(event: UserUttered, session_id: Text) -> Optional[Text]:
    """The id pages show a customer's message taken by this channel by (``Pending.shown_id``), or None
    for an event that is not one (an intent an agent's hand-back triggered): its Rasa message id is its
    ``Pending.id``."""
    prefix = f"{session_id}:"
    if not event.text or not isinstance(event.message_id, str) or not event.message_id.startswith(prefix):
        return None
    return event.message_id[len(prefix):]


def allowed_origins(settings: Settings, configured: Any) -> Any:
    """Socket.IO's ``cors_allowed_origins``: Kefu's own origins plus those configured (one or a list),
    or ``"*"`` when configured so."""
    if configured == "*":
        return "*"
    extra = [configured] if isinstance(configured, str) else list(configured or [])
    return list(dict.fromkeys([*kefu_origins(settings), *extra]))


def rooms_across_workers(settings: Settings) -> Optional[AsyncRedisManager]:
    if not settings.redis.url:
        return None  # no shared Redis (a unit test): one process, in-memory rooms
    return RoomsAcrossWorkers(settings.redis.url, channel=deployment_channel(ROOMS_CHANNEL_BASE, settings.redis.url))


class WebChatInput(SocketIOInput):
    """Rasa's Socket.IO channel, hardened, with the chat page; see the module docstring."""

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebChatInput":
        credentials = credentials or {}
        try:
            return cls(
                settings=get_settings(),
                user_message_evt=credentials.get("user_message_evt", "user_uttered"),
                bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
                namespace=credentials.get("namespace"),
                session_persistence=bool(credentials.get("session_persistence", True)),
                socketio_path=credentials.get("socketio_path", "/socket.io"),
                max_message_chars=int(credentials.get("max_message_chars", MAX_MESSAGE_CHARS)),
                max_frame_bytes=int(credentials.get("max_frame_bytes", 64 * 1024)),
                messages_per_minute=int(credentials.get("messages_per_minute", 30)),
                cors_allowed_origins=credentials.get("cors_allowed_origins"),
            )
        except (TypeError, ValueError) as error:
            raise ChannelConfigError(f"webchat credentials are invalid: {error}") from error

    def __init__(self, settings: Settings, *, max_message_chars: int = MAX_MESSAGE_CHARS, max_frame_bytes: int = 64 * 1024,
                 messages_per_minute: int = 30, cors_allowed_origins: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.session_persistence:
            raise ChannelConfigError("webchat needs session_persistence: true (the page resumes by session id)")
        if max_message_chars <= 0 or max_frame_bytes < 1024:
            raise ChannelConfigError("webchat max_message_chars must be > 0 and max_frame_bytes >= 1024")
        self.settings = settings
        self.max_message_chars = max_message_chars
        self.max_frame_bytes = max_frame_bytes
        self.messages_per_minute = messages_per_minute
        # Kefu's own pages and KEFU_CORS_ORIGINS; a widget on another site may be listed in credentials.yml
        # too, in addition (the chat page stays allowed), or "*".
        self.cors_allowed_origins = allowed_origins(self.settings, cors_allowed_origins)
        self.guard = ChannelGuard(settings.redis.url, GUARD_PREFIX)
        self.inflight = InFlight(self.guard, set_aside_s=settings.tracker_expiry_s)
        self._presence_redis = None
        self._processing: set = set()  # messages being handled after their ack (kept from the GC)
        self._closing: set = set()  # sockets being closed beside what closes them (kept from the GC)
        self._sweeper: Optional[asyncio.Task] = None
        self.addresses = AddressLimits(self.redis, settings.webchat_connections_per_address,
                                       settings.webchat_sessions_per_address_per_minute)
        self._vouching: Optional[asyncio.Task] = None
        self.owed = OwedPresence()  # pages counted open or closed while Redis failed: written once it answers
        self._healing: Optional[asyncio.Task] = None

    def redis(self):
        """This worker's Redis client for presence and de-duplication; None without a shared Redis."""
        if not self.settings.redis.url:
            return None
        if self._presence_redis is None:
            import redis.asyncio as redis

            self._presence_redis = redis.from_url(self.settings.redis.url, **reconnecting())
        return self._presence_redis

    async def customer_seen(self, session_id: str, sid: str, *, closed: bool = False) -> Optional[int]:
        """The page ``sid`` is open (or just closed): the waiting room's grace period counts from here,
        and a customer with no open page is not handed to an agent (``bot.handoff.presence``). Returns how
        many pages of the conversation are open, ``sid`` included (``page_alive``); None when closed or
        not known."""
        if self.redis() is None:
            return None
        at, ticket = time.time(), self.owed.ticket()
        try:
            pages = await self.write_presence(session_id, sid, closed, at)
        except RedisError as error:  # the chat goes on; written once Redis answers (``webchat_presence``)
            self.owed.owe((session_id, sid), closed, at, ticket)
            logger.warning("webchat.presence.unknown session=%s error=%s", session_id, type(error).__name__)
            return None
        self.owed.paid((session_id, sid), ticket)
        return pages

    async def write_presence(self, session_id: str, sid: str, closed: bool, at: float) -> Optional[int]:
        """:meth:`customer_seen`'s write, at ``at``; raises RedisError."""
        if closed:
            await page_closed(self.redis(), session_id, sid, at)
            return None
        return await page_alive(self.redis(), session_id, sid, at)

    @contextlib.asynccontextmanager
    async def between_turns(self, webhook: ChatPageBlueprint, session_id: Optional[Text]):
        """Hold the conversation's turn lock (Rasa's lock store) while a resuming page joins its room and
        is sent what it missed; nothing for ``session_id`` None.

        A turn sends its replies as they come and stores them only at its end. A page resuming during
        one was never sent the replies said before it joined, nor found them stored (lost for good: its
        next resume asks only for what came after newer ones); one said after it joined and stored
        before the read came twice. Between turns each reply is either stored and replayed, or sent live
        to the page in the room. Waits at most ``REPLAY_LOCK_WAIT_S``; without the lock the page is
        sent what is stored, as before."""
        lock_store = getattr(_agent(webhook), "lock_store", None)
        async with contextlib.AsyncExitStack() as stack:
            if session_id and lock_store is not None:
                try:
                    await asyncio.wait_for(stack.enter_async_context(lock_store.lock(session_id)),
                                           REPLAY_LOCK_WAIT_S)
                except (LockError, RedisError, asyncio.TimeoutError) as error:
                    logger.warning("webchat.session.replay_unlocked session=%s error=%s", session_id,
                                   type(error).__name__)
            yield

    async def send_missed(self, webhook: ChatPageBlueprint, sid: Text, session_id: Text, seen_at: float) -> None:
        """Send the reopened page (only it) what was said into its conversation after ``seen_at`` (the
        customer's messages too, typed in another tab of it: :meth:`show_typed`), then the notices of its
        messages set aside since (``webchat_inflight``); run within :meth:`between_turns`."""
        agent = _agent(webhook)
        if agent is not None:  # without one (a channel unit test) nothing is stored to replay
            from bot.handoff.conversations import RasaConversations

            missed = await RasaConversations(webhook.ctx.app).said_after(session_id, seen_at)
            output = WebChatOutput(self.sio, self.bot_message_evt)
            for event in missed:
                if isinstance(event, BotUttered):
                    await output.send_response(sid, event.message())
                elif (shown_id := typed_on_a_page(event, session_id)) is not None:
                    await self.show_typed(session_id, shown_id, event.text, to=sid, at=event.timestamp)
            if missed:
                logger.info("webchat.session.replayed session=%s messages=%d", session_id, len(missed))
        try:
            set_aside = await self.inflight.set_aside_since(session_id, seen_at)
        except RedisError as error:  # the page is told of none this time: a later resume tells it
            logger.warning("webchat.inflight.unreachable session=%s error=%s", session_id, type(error).__name__)
            return
        for pending, at in set_aside:
            await self.tell_set_aside(pending, at, to=sid)

    async def show_typed(self, session_id: Text, shown_id: Text, text: Text, *,
                         skip_sid: Optional[Text] = None, to: Optional[Text] = None, at: Optional[float] = None) -> None:
        """Show the customer's message in the other pages of its conversation (a duplicated tab, on any
        worker), as the page sends it (``user_uttered``), with ``shown_id`` as its ``client_id``
        (``Pending.shown_id``): the page that sent it (``skip_sid``; one resumed, by the id) shows it once. Found by the maintainers: each tab showed
        the answers to what was typed in the other, and not the question. Every six-digit run and code
        given by name is blanked, as when proof is awaited: the text goes through Redis to other pages.
        ``to`` one resumed page (:meth:`send_missed`), ``at`` the stored message's time."""
        said = {"message": blank_secrets(text, proof_secrets(text, AWAITING_PROOF)), "client_id": shown_id}
        if at is not None:
            said["timestamp"] = at
        await self.sio.emit(self.user_message_evt, said, room=to or session_id, skip_sid=skip_sid,
                            namespace=self.namespace)

    async def asked(self, sid: Text) -> int:
        """Number the socket's session request (its page's latest has the highest; :meth:`latest`)."""
        session = await self.sio.get_session(sid, namespace=self.namespace)
        session["asked"] = session.get("asked", 0) + 1
        return session["asked"]

    @contextlib.asynccontextmanager
    async def latest(self, sid: Text, asked: int):
        """Whether request ``asked`` is still the socket's latest, held while it joins its session and is
        confirmed: of a page's requests answered side by side, one waiting for a running turn to resume
        the old conversation ended after 新对话 and put the page back into the conversation it had wiped."""
        session = await self.sio.get_session(sid, namespace=self.namespace)
        async with session.setdefault("joining", asyncio.Lock()):
            yield session.get("asked") == asked

    async def leave_session(self, sid: Text) -> None:
        """The socket ``sid`` no longer shows its session: out of its room, and its page counted closed."""
        async with self.sio.session(sid, namespace=self.namespace) as session:
            old = session.pop("session_id", None)
        if old:
            self.sio.leave_room(sid, old, namespace=self.namespace)
            await self.customer_seen(old, sid, closed=True)

    def session_timing(self, webhook: ChatPageBlueprint) -> Optional[Dict[Text, float]]:
        """How long the served model's sessions last idle, and when the page warns; None if they never end."""
        agent = _agent(webhook)
        idle_s = session_keepalive.idle_seconds(getattr(agent, "domain", None))
        if not idle_s:
            return None
        return {"idle_s": idle_s, "warn_s": max(0.0, min(self.settings.webchat_expiry_warning_s, idle_s))}

    async def within_rate(self, session_id: str, sid: str) -> bool:
        """Whether the message is within ``messages_per_minute`` for its session (every page of it) and
        for its socket (whatever sessions it asked for: a new one has a fresh allowance)."""
        per_session, per_socket = await asyncio.gather(
            self.guard.allow(session_id, self.messages_per_minute, 60),
            self.guard.allow(f"socket:{sid}", self.messages_per_minute, 60))
        return per_session and per_socket

    async def take_once(self, pending: Pending) -> tuple[bool, Optional[str]]:
        """Whether the message is new (not a resend taken already, by any worker), and the id of its
        in-flight entry (None when not recorded)."""
        recorded = self.inflight.keeps(pending)  # not without a shared Redis, nor a possible code or password
        try:
            return await self.inflight.take(pending), (pending.id if recorded else None)
        except RedisError as error:  # better a rare double than a lost message
            logger.warning("webchat.delivery.unchecked session=%s error=%s", pending.session_id, type(error).__name__)
            return True, None

    async def process(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage,
                      client_id: Optional[str], entry_id: Optional[str] = None) -> None:
        """Run the message's turn, its in-flight entry's lease renewed meanwhile, and settle the entry.

        A turn that fails keeps its entry: once the lease lapses another worker (or this one) tries it
        again, up to ``webchat_inflight.MAX_ATTEMPTS`` runs. A turn cancelled (the worker stopping)
        lets its entry go at once."""
        if entry_id:
            self.inflight.hold(entry_id)
        try:
            await on_new_message(message)
        except asyncio.CancelledError:
            if entry_id:
                self.inflight.let_go(entry_id)  # first: the renewing thread would set the lease again
                with contextlib.suppress(RedisError):
                    await self.guard.forget(self.inflight.lease(entry_id))
            raise
        except Exception:  # noqa: BLE001 - logged; tried again (kept) or by a resend (not kept)
            logger.exception("webchat.message.failed session=%s", message.sender_id)
            if client_id and not entry_id and self.redis() is not None:
                with contextlib.suppress(RedisError):
                    await forget_delivery(self.redis(), message.sender_id, client_id)
            return
        finally:
            if entry_id:
                self.inflight.let_go(entry_id)
        if entry_id:
            try:
                await self.inflight.done(entry_id)
            except RedisError as error:  # the lease lapses and the turn runs again: a double, not a loss
                logger.warning("webchat.inflight.not_settled session=%s error=%s", message.sender_id,
                               type(error).__name__)

    def handle(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], pending: Pending,
               entry_id: Optional[str]) -> None:
        """Run an accepted message's turn in the background (see ``handle_message``)."""
        # The entry's id as Rasa's message id: a taken-over message whose turn was stored is not run again.
        message = UserMessage(pending.text, WebChatOutput(self.sio, self.bot_message_evt), pending.session_id,
                              input_channel=self.name(), message_id=pending.id, metadata=pending.metadata)
        task = asyncio.ensure_future(self.process(on_new_message, message, pending.client_id, entry_id))
        self._processing.add(task)
        task.add_done_callback(self._processing.discard)

    async def turn_stored(self, webhook: ChatPageBlueprint, pending: Pending) -> bool:
        """Whether Rasa stored the turn of ``pending`` already: its worker died, or could not settle the
        entry (Redis), after the turn ended. Run again, it answered the customer a second time (and
        filed a second ticket)."""
        if _agent(webhook) is None:
            return False
        from bot.handoff.conversations import RasaConversations

        events = await RasaConversations(webhook.ctx.app).events(pending.session_id)
        return any(e.get("event") == "user" and e.get("message_id") == pending.id for e in events)

    async def tell_set_aside(self, pending: Pending, at: float, to: Optional[Text] = None) -> None:
        """Tell the customer their message was set aside unanswered at ``at`` (``webchat_inflight``): a
        notice into the conversation's room, as their replies go, so the page open on any worker shows
        it; ``to`` one resumed page only (:meth:`send_missed`). Timestamped like replies, so a page that
        saw it is not sent it again. The words are the page's: ``notice_not_handled`` in
        ``content/ui/webchat.zh.json``."""
        notice = {"kind": "notice", "reason": "not_handled", "message": pending.text, "client_id": pending.client_id}
        await WebChatOutput(self.sio, self.bot_message_evt).send_response(to or pending.session_id,
                                                                          {"custom": notice, "timestamp": at})

    def close_later(self, sid: Text) -> None:
        """Close the socket ``sid`` (on whichever worker holds it) beside the caller, which neither waits for it
        nor fails with it."""
        task = asyncio.ensure_future(self.sio.disconnect(sid, namespace=self.namespace))
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("webchat.socket.not_closed", exc_info=task.exception())

    def get_output_channel(self) -> Optional["WebChatOutput"]:
        return WebChatOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins,
                          max_http_buffer_size=self.max_frame_bytes, client_manager=rooms_across_workers(self.settings),
                          ping_interval=self.settings.webchat_ping_interval_s,
                          ping_timeout=self.settings.webchat_ping_timeout_s, **library_loggers())
        self.sio = sio
        webhook = ChatPageBlueprint(sio, self.socketio_path, self.settings, "webchat_webhook", __name__)

        async def run_taken_over(pending: Pending) -> None:
            if await self.turn_stored(webhook, pending):  # its worker died (or lost Redis) just after the turn
                logger.info("webchat.inflight.answered_already session=%s", pending.session_id)
                await self.inflight.done(pending.id)
                return
            self.handle(on_new_message, pending, pending.id)

        @webhook.listener("after_server_start")
        async def take_over_lapsed(_app: Sanic, _loop: Any) -> None:
            """Messages whose worker died after acknowledging them are answered by this one."""
            if self._sweeper is None or self._sweeper.done():  # once, however often the blueprint is attached
                self._sweeper = asyncio.ensure_future(self.inflight.sweep_forever(run_taken_over,
                                                                                  self.tell_set_aside))
            if self._vouching is None or self._vouching.done():  # this worker's sockets go on counting
                self._vouching = asyncio.ensure_future(self.addresses.renew_forever(connected, self.close_later))
            if self._healing is None or self._healing.done():  # a page counted while Redis failed counts after
                self._healing = asyncio.ensure_future(self.owed.pay_forever(self.write_presence, showing))

        @webhook.listener("before_server_stop")
        async def stop_taking_over(_app: Sanic, _loop: Any) -> None:
            if self._sweeper is not None:
                self._sweeper.cancel()
            self.inflight.stop()
            if self._vouching is not None:
                self._vouching.cancel()
            if self._healing is not None:
                self._healing.cancel()
            await self.addresses.release_all()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        def connected(sid: Text) -> bool:
            return sio.manager.is_connected(sid, self.namespace or "/")

        def showing(session_id: Text, sid: Text) -> bool:
            """Whether the socket ``sid`` is open here and in the conversation's room."""
            return connected(sid) and session_id in (sio.manager.get_rooms(sid, self.namespace or "/") or [])

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            request = environ.get("sanic.request")  # Engine.IO's own REMOTE_ADDR is always 127.0.0.1
            client = client_of(request)
            # The page's socket from before it lost its network, on whichever worker, is closed beside.
            if not await self.addresses.admit(sid, client, page=page_of(auth), request=request,
                                              replaced=self.close_later):
                raise Refused(TOO_MANY_CONNECTIONS)  # the page says so (connect_error) and tries later
            async with sio.session(sid, namespace=self.namespace) as session:
                session["client"] = client
            logger.debug("webchat.socket.connected sid=%s", sid)
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            asked = await self.asked(sid)  # before any wait: of two requests, the later is the one the page gets
            if not await self.guard.allow(f"socket:{sid}:sessions", SESSION_REQUESTS_PER_MINUTE, 60):
                logger.warning("webchat.session.rate_limited sid=%s", sid)
                await sio.disconnect(sid, namespace=self.namespace)
                return
            requested = (data or {}).get("session_id") if isinstance(data, dict) else None
            secret = get_secrets().channel_secret
            started = not sessions.issued(requested, secret)
            session_id = sessions.issue(secret) if started else requested
            seen_at = (data or {}).get("seen_at") if isinstance(data, dict) else None
            resuming = requested == session_id and isinstance(seen_at, (int, float)) and not isinstance(seen_at, bool)
            async with self.between_turns(webhook, session_id if resuming else None), \
                    self.latest(sid, asked) as latest:
                if not latest:  # the page asked again meanwhile (新对话 while it resumed): that one answers
                    logger.info("webchat.session.superseded session=%s", session_id)
                    return
                # A new conversation: the address's budget, however often it reconnected; taken here, by the
                # request that starts it only (a 新对话 clicked twice took two, one for the superseded click).
                client = (await sio.get_session(sid, namespace=self.namespace)).get("client", "")
                if started and not await self.addresses.new_session(client):
                    # The page left its session (新对话): nothing more of it reaches the page.
                    await self.leave_session(sid)
                    await sio.emit("session_refused", {"reason": TOO_MANY_SESSIONS}, room=sid,
                                   namespace=self.namespace)
                    return  # the page says so and asks again later
                async with sio.session(sid, namespace=self.namespace) as session:
                    old = session.get("session_id")
                    if old and old != session_id:
                        sio.leave_room(sid, old, namespace=self.namespace)
                        await self.customer_seen(old, sid, closed=True)
                    session["session_id"] = session_id
                # Counted open before it joins the room: a message typed in another page of the
                # conversation is copied to it whenever it is in the room (``handle_message``). Not while
                # this worker knows Redis unreachable: the confirmation would wait out its timeout.
                counted_first = not self.addresses.unreachable()
                if counted_first:
                    await self.customer_seen(session_id, sid)
                sio.enter_room(sid, session_id, namespace=self.namespace)
                # Before the confirmation: the page cuts drafts at it from the moment it may send.
                await sio.emit("message_limit", {"max_message_chars": self.max_message_chars}, room=sid,
                               namespace=self.namespace)
                await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
                if not counted_first:
                    await self.customer_seen(session_id, sid)
                logger.info("webchat.session.%s session=%s", "resumed" if requested == session_id else "started",
                            session_id)
                timing = self.session_timing(webhook)
                if timing:  # the page warns before the session ends (module docstring)
                    await sio.emit("session_timing", timing, room=sid, namespace=self.namespace)
                if resuming:
                    await self.send_missed(webhook, sid, session_id, float(seen_at))

        @sio.on("session_alive", namespace=self.namespace)
        async def session_alive(sid: Text, data: Any = None) -> None:
            session = await sio.get_session(sid, namespace=self.namespace)
            if session.get("session_id"):
                await self.customer_seen(session["session_id"], sid)

        @sio.on("session_keep", namespace=self.namespace)
        async def session_keep(sid: Text, data: Any = None) -> Dict[Text, Any]:
            """The customer pressed the stay button of the expiry warning: the session goes on."""
            session = await sio.get_session(sid, namespace=self.namespace)
            timing = self.session_timing(webhook)
            if not session.get("session_id") or not timing or self.redis() is None:
                return {"ok": False}
            try:
                await session_keepalive.keep(self.redis(), session["session_id"], timing["idle_s"])
            except RedisError as error:
                logger.warning("webchat.session.not_kept session=%s error=%s", session["session_id"], type(error).__name__)
                return {"ok": False}
            logger.info("webchat.session.kept session=%s", session["session_id"])
            return {"ok": True}

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: Text) -> None:
            # Read first: closed by the server (sio.disconnect), the socket's Engine.IO session is gone once
            # the page answers the close, which it may do while the release waits for Redis (a KeyError).
            session = await sio.get_session(sid, namespace=self.namespace)
            await self.addresses.release(sid)
            if session.get("session_id"):
                await self.customer_seen(session["session_id"], sid, closed=True)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> Dict[Text, Any]:
            """Returns the ack (sent when the page asked for one): see the module docstring."""
            session = await sio.get_session(sid, namespace=self.namespace)
            session_id = session.get("session_id")
            if not isinstance(data, dict) or not session_id or data.get("session_id") not in (None, session_id):
                logger.warning("webchat.message.rejected reason=no_session sid=%s", sid)
                return {"ok": False, "reason": "no_session"}  # the page asks for its session and resends
            text = data.get("message")
            if not isinstance(text, str):
                logger.warning("webchat.message.rejected reason=not_text session=%s", session_id)
                return {"ok": False, "reason": "not_text"}
            text = encodable(text)  # half an emoji failed the turn, and Redis refused it (``intake``)
            output = WebChatOutput(sio, self.bot_message_evt)
            if len(text) > self.max_message_chars:
                logger.info("webchat.message.too_long session=%s chars=%d", session_id, len(text))
                await output.send_custom_json(sid, {"kind": "notice", "reason": "too_long"})  # refused: its tab only
                return {"ok": False, "reason": "too_long"}
            client_id = client_id_of(data)
            pending = Pending.new(session_id, client_id, text, {"channel": self.name()})
            # Three Redis round trips, each failing open, at once: a hung Redis costs the message one
            # KEFU_REDIS_TIMEOUT_SECONDS before its turn, not three. A page that writes is open
            # (widgets without session_alive), duplicate or not; with no other page of its conversation
            # counted open the message is not shown elsewhere: a publish and a decode on every other
            # worker saved (bench/webchat_echo.py). A page is counted before it joins its room
            # (``session_request``; after, while Redis is known unreachable). Taking the message records it in
            # flight before the ack (``webchat_inflight``): a worker dying after the ack loses nothing.
            (first, entry_id), allowed, pages = await asyncio.gather(
                self.take_once(pending),
                self.within_rate(session_id, sid),
                self.customer_seen(session_id, sid))
            if not first:
                logger.info("webchat.message.duplicate session=%s", session_id)
                return {"ok": True, "duplicate": True}
            if not allowed:
                logger.info("webchat.message.rate_limited session=%s", session_id)
                with contextlib.suppress(RedisError):
                    if entry_id:
                        await self.inflight.done(entry_id)
                    if client_id and self.redis() is not None:
                        # Refused for good (the page does not resend it): a flood of refused messages must
                        # not leave a delivery key behind for each, kept a day (DELIVERED_TTL_S).
                        await forget_delivery(self.redis(), session_id, client_id)
                await output.send_custom_json(sid, {"kind": "notice", "reason": "rate_limited"})
                return {"ok": False, "reason": "rate_limited"}
            logger.debug("webchat.message.received session=%s", session_id)
            if pages != 1:  # another page of the conversation is open, or it is not known
                await self.show_typed(session_id, pending.shown_id, text, skip_sid=sid)  # before its turn's answers
            # Acknowledged now, handled after: the ack must not wait for the model's turn, or a slow
            # turn would look like a lost connection to the page. python-socketio runs every event
            # in a task of its own anyway (async_handlers), so this keeps the order it had.
            self.handle(on_new_message, pending, entry_id)
            return {"ok": True}

        return webhook
