"""WeChat official account (公众号) channel at ``/webhooks/wechat/webhook``.

Protocol: WeChat's server configuration — GET verifies the URL (echostr), POST delivers XML in
plain or safe (AES) mode; every request is signed with the token. WeChat waits 5 s for an
answer and retries three times, so Kefu answers passively when the bot is done within the
reply deadline (4.5 s by default), otherwise answers ``success`` and sends the bot's messages
through the customer-service API when they are ready. An accepted message's turn runs in a task
of its own: it finishes and its reply is pushed even when WeChat has dropped the request (a slow
first turn after a restart). Each MsgId (or sender+CreateTime+event+key for events) is processed
once, whatever the retries.

Inbound mapping: text → text (menu links → their payload, told apart by title when an older
message's link is tapped), voice → offline ASR (WeChat's own Recognition only with
WECHAT_USE_RECOGNITION; with neither, a reply asking for text), menu clicks and subscribe →
intents from ``content/wechat_menu.yml``, unsubscribe → the follower leaves
(``bot.channels.wechat_followers``), image / location / link / video / others → a response from
the domain, or, while a person serves the follower, a turn the agent sees (``[图片]`` with the
picture's address, ``[视频]`` the agent opens through WeChat's media API, a link's title and address).
A follower's text beyond web chat's ``max_message_chars`` (credentials.yml) reaches the assistant cut,
and the reply starts with the chat page's ``notice_cut`` (``bot.channels.intake``).
A text too long for one WeChat message is sent in parts (``bot.channels.wechat_split``).
Messages WeChat refuses for quota (45047), and the bot's own replies its API failed on, are held and
sent, in order and before any new reply, when the follower writes again (``bot.channels.wechat_held``).
The sender id is the follower's openid.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import importlib
import json
import logging
import struct
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

import aiohttp
import yaml
from defusedxml import ElementTree as SafeXml
from defusedxml.common import DefusedXmlException
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import ArticlesReply, TextReply
from wechatpy.utils import WeChatSigner

from bot.channels import ChannelConfigError
from bot.channels.guard import ChannelGuard
from bot.channels.intake import MAX_MESSAGE_CHARS, configured_limit, cut_notice, for_assistant
from bot.outbound.wechat_delivery import record_report, take_not_delivered
from bot.renewing_thread import RenewingThread, client_from_url
from bot.channels.wechat_api import HELD, PARTIAL, WINDOW, WeChatApi, WeChatApiError, failure_reason
from bot.channels.wechat_held import HeldMessages, as_notice, current, reopens_quota, sendable
from bot.channels.wechat_followers import MEDIA_KINDS, follower_left, media_turn
from bot.channels.wechat_replies import MenuChoices, TextUnit, Unit, custom_message, merge_as_text, to_units
from bot.channels.wechat_split import fit_units
from bot.contacts.optout import opt_out_reply
from bot.db.repository import DatabaseError, Repository
from bot.handoff.undelivered import delivered_held, held_undelivered
from bot.security.claims import WECHAT_OPENID, channel_claim
from bot.observability.metrics import observe_real_time_factor
from bot.settings import Settings, get_settings
from bot.snapshot import EditorFile, editor_file
from bot.yaml_load import safe_load

logger = logging.getLogger(__name__)

SUCCESS = "success"  # what WeChat expects when there is no passive reply
MENU_TITLES_KEPT = 50  # recent link titles remembered per follower (older messages' links)
# WeChat retries an unanswered message about every 5 s, three times. A worker holds a message for
# this long and renews it while the turn runs; one that died lets it go in time for a retry.
CLAIM_LEASE_S = 5.0
DUPLICATE_WINDOW_S = 600  # an answered message's retries are duplicates for this long
TURN_EVENTS = {"subscribe", "click", "scan"}  # events the follower made that become a turn (``_answer``)


class _Turn:
    """Who delivers one message's reply: the request (passively) or the turn itself (pushed)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.passive = False  # the request answers with ``units``
        self.deferred = False  # the request answered ``success`` (or is gone): the turn pushes
        self.units: list[Unit] = []


class WeChatOutput(CollectingOutputChannel):
    """Collects one turn's messages so the channel can choose passive reply or API send."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"


class WeChatPushOutput(OutputChannel):
    """Sends through the customer-service API: for messages outside a request (agents, reminders)."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    def __init__(self, channel: "WeChatInput") -> None:
        self.channel = channel
        # Why messages sent through this output did not reach the follower (``failure_reason``):
        # the desk reads it to tell the agent, instead of showing a refused message as sent.
        self.undelivered: list[str] = []

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        if is_queue_notice(message) and not await self.channel.held.room_for_notice(recipient_id):
            logger.info("wechat.queue_notice.skipped sender=%s reason=quota_kept_for_agent", recipient_id)
            return  # a newer place, or the agent joining, will say more
        units, menu = to_units([message])
        await self.channel.remember_menu(recipient_id, menu)
        failure = await self.channel.push(recipient_id, units, notice=is_queue_notice(message))
        if failure is not None:
            self.undelivered.append(failure)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


def sealed_size(plain_bytes: int) -> int:
    """The largest safe-mode body that can carry a message of ``plain_bytes``: its base64 ciphertext (4/3 of
    the message with a 20-byte prefix, the AppID and up to 32 bytes of padding) in an envelope, and, in
    WeChat's compatible mode, the plain message beside it. A safe-mode body was held to the plain message's
    limit, so a long text WeChat posts (16-22 thousand characters) was refused in safe mode and cut in plain."""
    return plain_bytes + (plain_bytes + 128) * 4 // 3 + 1024


class WeChatInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        credentials = credentials or {}
        try:
            return cls(
                get_settings(),
                max_body_bytes=int(credentials.get("max_body_bytes", 64 * 1024)),
                messages_per_minute=int(credentials.get("messages_per_minute", 20)),
                reply_deadline_seconds=float(credentials.get("reply_deadline_seconds", 4.5)),
                max_clock_skew_seconds=int(credentials.get("max_clock_skew_seconds", 300)),
                max_message_chars=configured_limit(get_settings().root),  # web chat's: one setting
            )
        except (TypeError, ValueError) as error:
            raise ChannelConfigError(f"wechat credentials are invalid: {error}") from error

    def __init__(self, settings: Settings, *, max_body_bytes: int = 64 * 1024, messages_per_minute: int = 20,
                 reply_deadline_seconds: float = 4.5, max_clock_skew_seconds: int = 300,
                 max_message_chars: int = MAX_MESSAGE_CHARS) -> None:
        if not 0 < reply_deadline_seconds < 5:
            raise ChannelConfigError("wechat reply_deadline_seconds must be between 0 and 5 (WeChat waits 5 s)")
        self.settings = settings
        self.max_body_bytes = max_body_bytes
        self.messages_per_minute = messages_per_minute
        self.reply_deadline = reply_deadline_seconds
        self.max_clock_skew = max_clock_skew_seconds
        self.max_message_chars = max_message_chars
        self.token = settings.wechat_token
        self.crypto = self._crypto(settings)
        self.guard = ChannelGuard(settings.redis.url, "kefu:wechat")
        self.claim_lease_s = CLAIM_LEASE_S
        # The claims of the turns running here, with their tokens (the loop adds, the thread renews).
        self._claims: dict[str, str] = {}
        self._claims_lock = threading.Lock()
        self._renewer = RenewingThread("wechat claims", lambda: client_from_url(self.guard.redis_url),
                                       self._renew_claims, lambda: self.claim_lease_s / 3, "wechat.claim.not_renewed")
        self.held = HeldMessages(self.guard)
        has_api = bool(settings.wechat_app_id and settings.wechat_app_secret)
        self.api = WeChatApi(settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret,
                             self.guard) if self.token and has_api else None
        self._menu_file = self._load_menu(settings)
        self._engine = None
        self._engine_failed = False
        self._engine_lock: asyncio.Lock | None = None
        self._background: set[asyncio.Task] = set()
        if not self.token:
            logger.warning("wechat.not_configured hint=set WECHAT_TOKEN (and WECHAT_APP_ID/WECHAT_APP_SECRET)")

    @staticmethod
    def _crypto(settings: Settings) -> WeChatCrypto | None:
        if not settings.wechat_aes_key:
            return None
        if not settings.wechat_token or not settings.wechat_app_id:
            raise ChannelConfigError("WECHAT_AES_KEY needs WECHAT_TOKEN and WECHAT_APP_ID too")
        try:
            if len(settings.wechat_aes_key) != 43 or len(base64.b64decode(settings.wechat_aes_key + "=")) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            raise ChannelConfigError("WECHAT_AES_KEY must be the 43-character EncodingAESKey") from None
        return WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)

    @staticmethod
    def _load_menu(settings: Settings) -> EditorFile[dict] | None:
        """The editors' menu file, read again when they save it (``bot.snapshot``); a bad file at start is
        an error, a bad save later is logged and the last good menu serves. None: there is no menu."""
        path = settings.content_dir / "wechat_menu.yml"
        if not path.exists():
            return None
        menu = editor_file(path, parse_menu, (ChannelConfigError,))
        menu.get()
        return menu

    async def _menu(self) -> dict:
        return await self._menu_file.current() if self._menu_file is not None else {}

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WeChatPushOutput(self) if self.api else None

    # -- HTTP ---------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.listener("after_server_start")
        async def load_recogniser(_app, _loop) -> None:
            """Load the offline recogniser in the background as the worker starts, so a follower's
            first voice message does not pay for loading the model (a few seconds for Vosk)."""
            if self.token and self.api is not None:
                self._keep(asyncio.ensure_future(self._asr_engine()))

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.token else "not_configured"})

        @webhook.route("/webhook", methods=["GET", "POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            if not self.token:
                return response.text("wechat channel not configured", status=503)
            args = {k: request.args.get(k, "") for k in ("signature", "timestamp", "nonce", "echostr",
                                                          "encrypt_type", "msg_signature")}
            if not self._signed(args):
                return response.text("forbidden", status=403)
            if request.method == "GET":
                # WeChat's URL check is signed as a message is: its address (in a proxy's access log,
                # say) must not carry a message afterwards, so the signature is spent on the check.
                if not await self._first_use_of_signature(args, f"url-check:{args['echostr']}"):
                    logger.warning("wechat.request.replayed_signature")
                    return response.text("forbidden", status=403)
                return response.text(args["echostr"])
            safe_mode = args["encrypt_type"] == "aes"
            body = await self._read_body(request, sealed_size(self.max_body_bytes) if safe_mode else self.max_body_bytes)
            if body is None:
                logger.warning("wechat.request.too_large")
                return response.text("payload too large", status=413)
            if not await self._first_body_signed_so(args, body):
                logger.warning("wechat.request.replayed_signature")
                return response.text("forbidden", status=403)
            return await self._handle_post(request, args, body, on_new_message)

        return webhook

    def _signed(self, args: dict) -> bool:
        """Signed with the token, and recent. A signature that checks with a timestamp minutes away is
        WeChat's: this server's clock is off (every follower then gets a 403), which the log says."""
        try:
            right = signed_with(self.token, args["signature"], args["timestamp"], args["nonce"])
            skew = int(time.time() - int(args["timestamp"]))
        except ValueError:
            right = False
        if not right:
            logger.warning("wechat.request.bad_signature hint=check WECHAT_TOKEN against the console's Token")
            return False
        if abs(skew) > self.max_clock_skew:
            logger.warning("wechat.request.stale_timestamp skew_seconds=%d hint=the signature is right: check this "
                           "server's clock (NTP), or a replay of an old request", skew)
            return False
        return True

    async def _first_body_signed_so(self, args: dict, body: bytes) -> bool:
        """Only the first body posted with a signature is accepted with it.

        In plain mode WeChat signs the token, timestamp and nonce, not the message: whoever saw one
        request's address could post any message as any follower until the timestamp went stale
        (found by a probe). WeChat's own retries repeat the same body, and MsgId makes them no-ops.
        """
        return await self._first_use_of_signature(args, hashlib.sha256(body).hexdigest())

    async def _first_use_of_signature(self, args: dict, use: str) -> bool:
        """Whether ``use`` (a body's digest, a URL check) is the first the signature was given for."""
        signed = hashlib.sha256(f"{args['signature']}:{args['timestamp']}:{args['nonce']}".encode()).hexdigest()
        return await self.guard.first_value(f"signed:{signed}", use, 2 * self.max_clock_skew + 60) == use

    async def _read_body(self, request: Request, limit: int) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                return None

    async def _handle_post(self, request: Request, args: dict, body: bytes,
                           on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        started = time.monotonic()
        safe_mode = args["encrypt_type"] == "aes"
        try:
            fields = safe_fields(body)
            if safe_mode:
                if self.crypto is None:
                    logger.warning("wechat.request.aes_not_configured")
                    return response.text("bad request", status=400)
                xml = self._decrypt(body, fields, args)
                if xml is None:
                    return response.text("bad request: cannot decrypt", status=400)
                if len(xml.encode("utf-8")) > self.max_body_bytes:  # the message, as plain mode measures it
                    logger.warning("wechat.request.too_large mode=aes")
                    return response.text("payload too large", status=413)
                fields = safe_fields(xml.encode("utf-8"))
            else:
                xml = body.decode("utf-8")
        except InvalidSignatureException:
            logger.warning("wechat.request.bad_signature mode=aes")
            return response.text("forbidden", status=403)
        except (ValueError, KeyError, UnicodeDecodeError, DefusedXmlException, SafeXml.ParseError) as error:
            logger.warning("wechat.request.malformed error=%s", type(error).__name__)
            return response.text("bad request", status=400)
        openid = fields.get("FromUserName") or ""
        if not openid or not fields.get("MsgType"):
            return response.text("bad request", status=400)
        try:
            message = parse_message(xml)
        except (AttributeError, KeyError, TypeError, ValueError) as error:  # e.g. a field holding elements
            logger.warning("wechat.request.malformed error=%s", type(error).__name__)
            return response.text("bad request", status=400)
        claim = dedupe_key(fields)
        token = await self.guard.claim(claim, self.claim_lease_s)
        if token is None:
            logger.info("wechat.message.duplicate sender=%s", openid)
            return response.text(SUCCESS)
        if reopens_quota(fields):
            await self.held.wrote(openid, fields)
        if written_by_follower(fields) and not await self.guard.allow(openid, self.messages_per_minute, 60):
            logger.info("wechat.message.rate_limited sender=%s", openid)
            units = self._canned(request, "utter_wechat_slow_down")
            return self._passive(message, units[0], args) if units else response.text(SUCCESS)
        turn = _Turn(started)
        task = asyncio.ensure_future(self._run_turn(request, message, fields, on_new_message, turn, claim, token))
        self._keep(task)  # the turn is the channel's now: it ends, and is delivered, whatever the request does
        remaining = self.reply_deadline - (time.monotonic() - started)
        try:
            await asyncio.wait({task}, timeout=max(0.0, remaining))
        except asyncio.CancelledError:  # WeChat closed the connection (it waits 5 s): push instead
            self._hand_over(openid, turn)
            raise
        if not turn.passive:
            turn.deferred = True
            logger.info("wechat.reply.deferred sender=%s", openid)
            return response.text(SUCCESS)
        units = turn.units
        if not units:
            return response.text(SUCCESS)
        if self.api is None:
            whole = merge_as_text(units)
            merged = fit_units([whole]) if whole else []
            if len(merged) > 1:  # one passive reply is all there is: the rest would be refused whole
                logger.warning("wechat.reply.cut sender=%s reason=no_api_credentials parts=%d", openid, len(merged))
            return self._passive(message, merged[0], args) if merged else response.text(SUCCESS)
        logger.info("wechat.reply.passive sender=%s units=%d", openid, len(units))
        if len(units) > 1:
            return await self._reply_then_push(request, openid, self._passive(message, units[0], args), units)
        return self._passive(message, units[0], args)

    async def _reply_then_push(self, request: Request, openid: str, passive: HTTPResponse,
                               units: list[Unit]) -> None:
        """Write the passive reply (``units[0]``), then push the rest.

        Pushed as the handler returned, the rest could reach the follower first: "did that fix it?"
        above the video it asks about (seen in review of the quota work). Kefu cannot see when WeChat passes a
        passive reply on; the earliest it can push is once the reply is written.
        A request gone before that gets everything pushed (a duplicate at worst, never a loss)."""
        try:
            sent = await request.respond(passive)
            await sent.send(end_stream=True)
        except (asyncio.CancelledError, ConnectionError):
            logger.info("wechat.reply.request_gone sender=%s", openid)
            self._keep(asyncio.ensure_future(self.push(openid, units, bot_reply=True)))
            raise
        self._keep(asyncio.ensure_future(self.push(openid, units[1:], bot_reply=True)))

    @staticmethod
    async def _with_a_person(request: Request, openid: str) -> bool:
        """Whether the conversation is paused for a person (queued or served at the desk)."""
        agent = getattr(request.app.ctx, "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return False
        tracker = await store.retrieve(openid)
        return bool(tracker and tracker.is_paused())

    async def _run_turn(self, request: Request, message: Any, fields: dict,
                        on_new_message: Callable[[UserMessage], Awaitable[Any]], turn: "_Turn",
                        claim: str, token: str) -> None:
        """Process one accepted message to the end and deliver its reply.

        The reply goes back passively only if the request is still waiting within the reply
        deadline; otherwise it is pushed. Found by a tester: the first turn on a cold worker took
        5-8 s, WeChat gave up and Sanic cancelled the handler before it arranged the push; the
        retries were (rightly) duplicates, so the follower never got an answer.

        While the turn runs its claim on the message is renewed; once it has an answer the message
        is settled. A worker that dies (or stops) mid-turn leaves a lapsing or released claim, so
        WeChat's next retry of the message is answered by another worker instead of being dropped.
        """
        openid = fields["FromUserName"]
        holding = asyncio.ensure_future(self._hold_claim(claim, token))
        try:
            messages = await self._answer(request, message, fields, on_new_message)
        except asyncio.CancelledError:
            holding.cancel()
            with contextlib.suppress(RedisError):
                # Stopped before an answer: a retry may have the message.
                await self.guard.release(claim, token, self.claim_lease_s)
            raise
        except Exception:  # noqa: BLE001 - a failed turn must not become a 500 WeChat retries
            logger.exception("wechat.turn.failed sender=%s", openid)
            # Settled below, so no retry will carry it: the follower is told, not left with silence.
            messages = self._canned_messages(request, "utter_wechat_turn_failed")
        holding.cancel()
        with contextlib.suppress(RedisError):
            await self.guard.settle(claim, DUPLICATE_WINDOW_S)
        units, menu = to_units(messages)
        await self.remember_menu(openid, menu)
        in_time = time.monotonic() - turn.started < self.reply_deadline
        # A text too long for one message goes out in parts, all through the customer-service API,
        # one after the other: a passive reply reaches the follower when WeChat has read the HTTP
        # answer, a moment Kefu never sees, so a part pushed meanwhile could arrive before it.
        in_parts = self.api is not None and len(fit_units(units)) > len(units)
        # Messages held for quota go first, now that the follower wrote (``bot.channels.wechat_held``);
        # and a passive reply must not overtake what another turn or an agent is sending right now.
        behind = self.api is not None and await self._behind(openid, fields)
        if not turn.deferred and in_time and not in_parts and not behind:
            turn.passive, turn.units = True, units
            return
        turn.deferred = True
        if self.api is None:
            if units:
                logger.warning("wechat.reply.dropped sender=%s reason=no_api_credentials", openid)
            return
        if units or behind:
            await self.push(openid, units, bot_reply=True)

    async def _behind(self, openid: str, fields: dict) -> bool:
        """Whether this turn's reply must queue behind other messages to the follower."""
        if await self.held.sending(openid):
            return True
        return reopens_quota(fields) and bool(await self.held.pending(openid))

    def _hand_over(self, openid: str, turn: "_Turn") -> None:
        """The request is gone: whatever the turn says (or has said for a passive reply) is pushed."""
        if turn.passive and turn.units and self.api is not None:
            logger.info("wechat.reply.request_gone sender=%s", openid)
            self._keep(asyncio.ensure_future(self.push(openid, turn.units, bot_reply=True)))
        turn.deferred = True

    def _decrypt(self, body: bytes, fields: dict[str, str], args: dict) -> str | None:
        """The plain XML of a signed safe-mode body (``fields``: its top-level fields), or None when it
        cannot be decrypted.

        A signed body that does not decrypt is a setup mistake, not an attack (the signature
        covers the ciphertext): the EncodingAESKey or the AppID differs from the console's.
        Bad signatures raise ``InvalidSignatureException`` (403).
        """
        try:
            encrypted = fields["Encrypt"]
            if not signed_with(self.token, args["msg_signature"], args["timestamp"], args["nonce"], encrypted):
                raise InvalidSignatureException()
            # wechatpy checks the signature again (with ``!=``), now only one that matched.
            return self.crypto.decrypt_message({"Encrypt": encrypted}, args["msg_signature"], args["timestamp"],
                                               args["nonce"])
        except InvalidSignatureException:
            raise
        except InvalidAppIdException:
            logger.error("wechat.request.undecryptable reason=app_id hint=the message is for another AppID: "
                         "check WECHAT_APP_ID against the official account console")
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError, struct.error, binascii.Error) as error:
            if isinstance(error, (KeyError, ValueError)) and not isinstance(error, UnicodeDecodeError) \
                    and "Encrypt" not in body.decode("utf-8", "replace"):
                raise  # not a safe-mode envelope at all: malformed
            logger.error("wechat.request.undecryptable reason=%s hint=check WECHAT_AES_KEY (EncodingAESKey) and "
                         "WECHAT_APP_ID against the official account console", type(error).__name__)
        return None

    async def _template_report(self, openid: str, status: str, msgid: str) -> None:
        """WeChat's delivery report of a template message: kept for a send whose answer never came; a
        contact's text or an outbox message WeChat took and could not deliver is no longer ``sent``
        (bot/contacts/not_delivered.py, bot/outbound/undelivered.py)."""
        try:
            undelivered = await record_report(self.guard, openid, status, msgid)
        except RedisError as error:  # a maybe-sent template is then sent again, as before reports
            logger.warning("wechat.template_report.not_kept sender=%s error=%s", openid, type(error).__name__)
            return
        if not undelivered:
            return
        from bot.contacts.not_delivered import template_not_delivered
        from bot.contacts.rules import ContactRulesError
        from bot.outbound.undelivered import reported_not_delivered

        try:  # a contact's text, or an outbox message (a ticket notice): each takes only its own client_ref
            applied = await template_not_delivered(self.settings, undelivered, status)
            applied = await asyncio.to_thread(reported_not_delivered, Repository(self.settings.database_url),
                                              undelivered, status.strip()) or applied
        except (DatabaseError, SQLAlchemyError, ContactRulesError) as error:
            logger.error("wechat.template_report.not_recorded sender=%s ref=%s status=%s error=%s", openid,
                         undelivered, status, type(error).__name__)
            return
        if applied:  # else not recorded as sent yet: its sender applies the report once it has
            try:
                await take_not_delivered(self.guard, undelivered)
            except RedisError as error:  # its sender then finds it applied already
                logger.warning("wechat.template_report.not_taken ref=%s error=%s", undelivered, type(error).__name__)

    # -- answering --------------------------------------------------------------------
    async def _answer(self, request: Request, message: Any, fields: dict,
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> list[dict[str, Any]]:
        """The bot's messages for one inbound message (canned domain responses or a Rasa turn)."""
        openid = fields["FromUserName"]
        kind = message.type
        text: str | None = None
        extra: dict[str, Any] = {}
        if kind == "text":
            text = (await self._menu_payload(openid, fields.get("bizmsgmenuid"), fields.get("Content") or "")
                    or fields.get("Content") or "")
            opted_out = await opt_out_reply(self.settings, address=f"wechat:{openid}", text=text,
                                            conversation_id=openid, channel=self.name())
            if opted_out:  # "TD": no more follow-ups or reminders to this follower
                return [{"text": opted_out}]
        elif kind == "voice":
            if not await self._recognises_voice():  # "say it again" cannot help: ask for text instead
                return self._canned_messages(request, "utter_wechat_voice_unavailable")
            text = await self._voice_text(message, fields)
            if not text:
                return self._canned_messages(request, "utter_wechat_voice_unclear")
        elif kind == "event":
            event = (fields.get("Event") or "").lower()
            if event == "unsubscribe":
                await follower_left(self.settings, request.app, openid)
                await self._drop_held(openid)
                return []
            if event == "templatesendjobfinish":  # whether a template message reached them (no reply)
                await self._template_report(openid, fields.get("Status") or "", fields.get("MsgID") or "")
                return []
            if event in ("subscribe", "scan"):
                text = scanned_or_welcome(await self._menu(), event, fields.get("EventKey") or "", openid)
            elif event == "click":
                text = ((await self._menu()).get("clicks") or {}).get(fields.get("EventKey") or "")
                if not text:
                    logger.warning("wechat.event.unknown_menu_key key=%s sender=%s hint=map the console's menu key to "
                                   "an intent under `clicks` in content/wechat_menu.yml", fields.get("EventKey"), openid)
            if not text:
                return []
        elif kind in MEDIA_KINDS and await self._with_a_person(request, openid):
            # A person serves (or will serve) this follower: the picture, place, link or video goes
            # into the conversation for the agent, and the bot, paused, does not answer it.
            text, extra = media_turn(await self._menu(), kind, fields)
            if not text:
                return []
        elif kind == "image":
            return self._canned_messages(request, "utter_wechat_image")
        elif kind == "location":
            return self._canned_messages(request, "utter_wechat_location")
        else:
            return self._canned_messages(request, "utter_wechat_unsupported")
        taken, cut = for_assistant(text, self.max_message_chars)  # half an emoji failed the turn; a long text held the worker (``intake``)
        if cut:
            logger.info("wechat.message.cut sender=%s chars=%d kept=%d", openid, len(text), len(taken))
        collector = WeChatOutput()
        metadata = {"channel": self.name(), "wechat_openid": openid, "wechat_msg_type": kind,
                    "wechat_account": fields.get("ToUserName"),
                    # WeChat signed this request, so the openid is proven: a bound openid verifies.
                    **channel_claim(WECHAT_OPENID, openid, openid), **extra}
        await on_new_message(UserMessage(taken, collector, openid, input_channel=self.name(), metadata=metadata))
        notice = cut_notice(self.settings.content_dir, self.max_message_chars) if cut else None
        if notice:  # told first, as the chat page tells of a draft it cut
            return [{"text": notice}, *collector.messages]
        return collector.messages

    async def push(self, openid: str, units: list[Unit], *, bot_reply: bool = False,
                   notice: bool = False) -> str | None:
        """Send units through the customer-service API, in order, a long text in several parts
        (``bot.channels.wechat_split``), after whatever is held for this follower
        (``bot.channels.wechat_held``). None when all were sent; ``held`` when WeChat's quota ran out
        (45047): the rest wait for the follower's next message. Else why not (``failure_reason``, or
        ``partial`` when some were sent first): the rest are not sent, out of order they would not
        make sense.

        ``bot_reply``: the bot's answer to what the follower wrote, which nobody else sees. When
        WeChat's API fails on it (a timeout, a 5xx, errcode -1 "system busy") it is held as for the
        quota, and goes out first with the next message to the follower, instead of being lost.
        (An agent's message is not: the desk tells the agent, who decides.)

        ``notice``: a place-in-line notice; held, it is dropped once anything later is held behind it."""
        if self.api is None:
            return "failed" if units else None
        fresh = [custom_message(openid, unit) for unit in fit_units(units)]
        fresh = as_notice(fresh) if notice else fresh
        async with self.held.sending_to(openid):
            held = await self.held.pending(openid)
            queue = current(held + fresh)  # the fresh ones are last: only held ones are dropped
            owed = queue[:len(queue) - len(fresh)]
            for sent, message in enumerate(queue):
                try:
                    await self.api.send_custom(sendable(message))
                    await self.held.count_sent(openid)
                except (WeChatApiError, OSError, asyncio.TimeoutError, aiohttp.ClientError) as error:
                    reason = failure_reason(error)
                    logger.error("wechat.push.failed sender=%s errcode=%s error=%s sent=%d of=%d", openid,
                                 getattr(error, "errcode", None), str(error) or type(error).__name__, sent,
                                 len(queue))
                    if reason == "quota" or (bot_reply and reason == "failed"):  # nothing lost: sent
                        await self.held.keep(openid, queue[sent:])  # when the follower writes again
                        logger.info("wechat.push.held sender=%s held=%d reason=%s", openid, len(queue) - sent,
                                    reason)
                        return HELD
                    await self.held.keep(openid, owed[sent:])
                    return PARTIAL if sent > len(owed) else reason
            if held:  # the marks go first: a desk reading in between sees them sent, not dropped
                await delivered_held(self.guard.client(), openid)
                await self.held.keep(openid, [])
                logger.info("wechat.push.held_delivered sender=%s units=%d", openid, len(owed))
        logger.info("wechat.reply.pushed sender=%s units=%d", openid, len(fresh))
        return None

    async def _drop_held(self, openid: str) -> None:
        """The follower unsubscribed: what was held for them can never reach them (45015), and must not
        greet them should they follow again. The desk shows it undelivered instead of pending."""
        async with self.held.sending_to(openid):
            owed = await self.held.pending(openid)
            if owed:
                await self.held.keep(openid, [])
                logger.info("wechat.held.dropped sender=%s units=%d reason=unsubscribed", openid, len(owed))
            await held_undelivered(self.guard.client(), openid, WINDOW)

    async def _hold_claim(self, claim: str, token: str) -> None:
        """Keep the claim on a message while its turn runs (until cancelled), renewed a third of the lease at
        a time by a thread: an event loop held up for longer (a long synchronous step, a model predicting on
        it) let the claim lapse, and WeChat's retry ran the message again on another worker; one that lapsed
        while Redis hung is put back by the thread's next round (``ChannelGuard.renew_claims``). Without Redis
        (one process) the loop renews it."""
        if self.guard.client() is None:
            while True:
                await asyncio.sleep(self.claim_lease_s / 3)
                await self.guard.renew(claim, self.claim_lease_s)
        with self._claims_lock:
            self._claims[claim] = token
        self._renewer.start()
        try:
            await asyncio.Event().wait()
        finally:
            with self._claims_lock:
                self._claims.pop(claim, None)

    def _renew_claims(self, client) -> None:
        """The renewing thread's round (``client``: a synchronous one)."""
        with self._claims_lock:
            claims = dict(self._claims)
        self.guard.renew_claims(client, claims, self.claim_lease_s)

    def _keep(self, task: asyncio.Task) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def remember_menu(self, openid: str, menu: MenuChoices) -> None:
        """Keep the latest menu by id, and every recent link's payload by title.

        A follower may scroll up and tap a link of an older message: WeChat sends that link's id
        (which a newer menu reuses for another choice) and its title as the text.
        """
        if not menu.payloads:
            return
        stored = await self._stored_menu(openid)
        by_title = {**stored.get("by_title", {}),
                    **{menu.titles[i]: p for i, p in menu.payloads.items() if menu.titles.get(i)}}
        kept = dict(list(by_title.items())[-MENU_TITLES_KEPT:])
        value = {"ids": menu.payloads, "titles": menu.titles, "by_title": kept}
        await self.guard.put(f"menu:{openid}", json.dumps(value, ensure_ascii=False), 24 * 3600)

    async def _stored_menu(self, openid: str) -> dict:
        stored = await self.guard.get(f"menu:{openid}")
        try:
            value = json.loads(stored) if stored else {}
        except ValueError:
            return {}
        if isinstance(value, dict) and "ids" not in value:  # stored before titles were kept
            value = {"ids": value, "titles": {}, "by_title": {}}
        return value if isinstance(value, dict) else {}

    async def _menu_payload(self, openid: str, menu_id: str | None, text: str) -> str | None:
        """The payload of the tapped link: the latest menu's when its title is the text WeChat sent;
        else the most recent link with that title (an older message's); else, when the text names
        no link Kefu sent, the latest menu's by id as before."""
        if not menu_id:
            return None
        stored = await self._stored_menu(openid)
        ids, titles = stored.get("ids") or {}, stored.get("titles") or {}
        by_title = stored.get("by_title") or {}
        text = (text or "").strip()
        if menu_id in ids and (titles.get(menu_id) == text or text not in by_title):
            return ids[menu_id]
        return by_title.get(text)

    # -- voice --------------------------------------------------------------------------
    async def _recognises_voice(self) -> bool:
        """Whether this server can turn a voice message into words at all: WeChat's own Recognition,
        or the offline engine with the API to download the audio (a fresh install has no Vosk model)."""
        if self.settings.wechat_use_recognition:
            return True
        return self.api is not None and await self._asr_engine() is not None

    async def _voice_text(self, message: Any, fields: dict) -> str | None:
        if self.settings.wechat_use_recognition and (fields.get("Recognition") or "").strip():
            return fields["Recognition"].strip()
        if self.api is None:
            logger.warning("wechat.voice.no_api_credentials")
            return None
        from voice.asr import decode_executor
        from voice.audio import decode_bytes
        from voice.errors import VoiceError

        try:
            audio = await self.api.download_media(fields.get("MediaId") or "")
            loop = asyncio.get_running_loop()
            fmt = (fields.get("Format") or "amr").lower()
            pcm = await loop.run_in_executor(None, lambda: decode_bytes(audio, fmt, target_rate=16000))
            engine = await self._asr_engine()
            if engine is None:
                return None
            started = time.monotonic()
            result = await loop.run_in_executor(decode_executor(), engine.transcribe_pcm, pcm.samples,
                                                pcm.sample_rate, None)
            observe_real_time_factor("wechat", time.monotonic() - started, pcm.duration)
        except (WeChatApiError, VoiceError, OSError, asyncio.TimeoutError, aiohttp.ClientError) as error:
            logger.warning("wechat.voice.failed error=%s reason=%s", type(error).__name__,
                           getattr(error, "reason", getattr(error, "errcode", "")))
            return None
        logger.info("wechat.voice.transcribed seconds=%.1f chars=%d", pcm.duration, len(result.text))
        return result.text.strip() or None

    async def _asr_engine(self):
        """The ASR engine named by WECHAT_ASR_ENGINE, created and loaded once per process."""
        if self._engine_lock is None:
            self._engine_lock = asyncio.Lock()
        async with self._engine_lock:  # the start-up load and a first voice message may race
            return await self._load_asr_engine()

    async def _load_asr_engine(self):
        if self._engine is None and not self._engine_failed:
            from voice.errors import VoiceError

            module_name, _, class_name = self.settings.wechat_asr_engine.partition(":")
            try:
                engine_class = getattr(importlib.import_module(module_name), class_name)
                factory = getattr(engine_class, "from_settings", None)
                engine = factory(self.settings) if factory else engine_class()
                if hasattr(engine, "load"):
                    await asyncio.get_running_loop().run_in_executor(None, engine.load)
                self._engine = engine
            except (ImportError, AttributeError, VoiceError) as error:
                self._engine_failed = True
                logger.error("wechat.voice.asr_unavailable engine=%s error=%s", self.settings.wechat_asr_engine,
                             error)
        return self._engine

    # -- replies --------------------------------------------------------------------------
    def _canned_messages(self, request: Request, response_name: str) -> list[dict[str, Any]]:
        agent = getattr(request.app.ctx, "agent", None)
        domain = getattr(agent, "domain", None)
        variants = (getattr(domain, "responses", None) or {}).get(response_name) or []
        for variant in variants:
            if variant.get("channel") in (None, self.name()) and variant.get("text"):
                return [{"text": variant["text"], "buttons": variant.get("buttons") or []}]
        logger.error("wechat.response.missing name=%s", response_name)
        return []

    def _canned(self, request: Request, response_name: str) -> list[Unit]:
        return to_units(self._canned_messages(request, response_name))[0]

    def _passive(self, message: Any, unit: Unit, args: dict) -> HTTPResponse:
        if isinstance(unit, TextUnit):
            reply = TextReply(message=message, content=cdata_safe(unit.content))
        else:
            article = {"title": unit.title, "description": unit.description, "image": unit.picurl, "url": unit.url}
            reply = ArticlesReply(message=message, articles=[{k: cdata_safe(v) for k, v in article.items()}])
        xml = reply.render()
        if args["encrypt_type"] == "aes" and self.crypto is not None:
            xml = self.crypto.encrypt_message(xml, args["nonce"], args["timestamp"])
        return response.text(xml, content_type="application/xml; charset=utf-8")


def is_queue_notice(message: dict[str, Any]) -> bool:
    """A place-in-line notice of the waiting room, which the next one supersedes (``custom`` kind ``queue_status``)."""
    custom = message.get("custom")
    return isinstance(custom, dict) and custom.get("kind") == "queue_status"


def parse_menu(path: Path) -> dict:
    """``content/wechat_menu.yml``: ``clicks`` (menu key -> intent), ``scans`` (QR-code scene -> intent),
    ``subscribe``, ``with_agent``."""
    try:
        menu = safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ChannelConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(menu, dict):
        raise ChannelConfigError(f"{path} must map `clicks` keys to intents")
    for part in ("clicks", "scans"):
        if not isinstance(menu.get(part) or {}, dict):
            raise ChannelConfigError(f"{path} must map `{part}` keys to intents")
    return menu


def scanned_or_welcome(menu: dict, event: str, key: str, openid: str) -> str | None:
    """What a follower gets for following or scanning one of the account's QR codes with a scene (WeChat's
    带参数二维码): the scene's intent under ``scans``, else the ``subscribe`` welcome. A new follower's
    subscribe names the scene as ``qrscene_<scene>``; a follower's SCAN names it bare (a number or a string)."""
    scene = key.removeprefix("qrscene_") if event == "subscribe" else key
    scans = {str(name): intent for name, intent in (menu.get("scans") or {}).items()}  # YAML reads 1001 as a number
    if scene and scene not in scans:
        logger.warning("wechat.event.unknown_scene scene=%s sender=%s hint=map the QR code's scene to an intent "
                       "under `scans` in content/wechat_menu.yml", scene, openid)
    return scans.get(scene) or menu.get("subscribe")


def signed_with(token: str, signature: str, *signed: str) -> bool:
    """Whether ``signature`` is WeChat's (SHA-1 of the token and ``signed``), compared in constant time:
    wechatpy compares with ``!=``, whose timing tells how much of a guess is right."""
    signer = WeChatSigner()
    signer.add_data(token, *signed)
    return hmac.compare_digest(signer.signature.encode("ascii"), signature.encode("utf-8", "replace"))


def safe_fields(xml: bytes) -> dict[str, str]:
    """Top-level fields of a WeChat XML document, parsed with DTDs and entities forbidden."""
    root = SafeXml.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    if root.tag != "xml":
        raise ValueError("not a WeChat message")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag in fields:  # wechatpy would read it as a list: which one counts is anyone's guess
            raise ValueError(f"{child.tag} appears twice")
        fields[child.tag] = child.text or ""
    return fields


def written_by_follower(fields: dict[str, str]) -> bool:
    """Whether the follower sent this (a message, a menu click, a subscribe), which their rate limit
    counts. WeChat's own reports (a location every 5 s while the chat is open, an unsubscribe, a template
    delivered, a link menu opened) are not theirs to slow down, and get no reply."""
    if (fields.get("MsgType") or "").lower() != "event":
        return True
    return (fields.get("Event") or "").lower() in TURN_EVENTS


def dedupe_key(fields: dict[str, str]) -> str:
    """Messages by MsgId; events by sender, second, event, key and the MsgID a report names (two menu
    clicks in one second are two clicks, two template messages' reports two reports; WeChat's retries of
    one repeat them all)."""
    if fields.get("MsgId"):
        return f"msg:{fields['MsgId']}"
    report = f":{fields['MsgID']}" if fields.get("MsgID") else ""
    return (f"event:{fields.get('FromUserName')}:{fields.get('CreateTime')}:{fields.get('Event', '')}:"
            f"{fields.get('EventKey', '')}{report}")


def cdata_safe(text: str) -> str:
    """wechatpy writes CDATA sections; a literal ``]]>`` would end one early."""
    return str(text).replace("]]>", "]] >")
