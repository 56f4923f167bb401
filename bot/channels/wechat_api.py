"""The three WeChat server APIs Kefu calls: access token, media download, customer-service send.

wechatpy's ``WeChatClient`` is built on blocking ``requests``; Kefu runs inside Rasa's event
loop, so these few documented endpoints are called with aiohttp instead. The access token is
shared by every worker through the channel guard's Redis cache and refreshed
``TOKEN_MARGIN_SECONDS`` before WeChat expires it (or at once when WeChat says it is stale).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp

from bot.channels.guard import ChannelGuard
from bot.redis_lock import held

logger = logging.getLogger(__name__)

TOKEN_MARGIN_SECONDS = 300
TOKEN_FETCH_LOCK_S = 10  # longest a process may hold the token fetch (a 4 s request, and Redis)
STALE_TOKEN_CODES = {40001, 40014, 42001}
MAX_MEDIA_BYTES = 2 * 1024 * 1024  # WeChat voice messages are at most 60 s of AMR (~100 KB)
# A follower's picture (2 MB at most) or short video (10 MB at most, WeChat's temporary media
# limits) passed through to an agent.
MAX_VIEW_BYTES = 10 * 1024 * 1024
_TIMEOUT = aiohttp.ClientTimeout(total=10)
# A customer-service send is what an agent waits for at the desk (under the conversation's lock):
# WeChat answers in well under a second; a hanging API must not hold the agent for long.
SEND_TIMEOUT = aiohttp.ClientTimeout(total=4)


# Why a customer-service message did not reach the follower, for the agent (desk UI string
# ``error_not_delivered_<reason>``). 45015: more than 48 hours since the follower last wrote, or
# they unsubscribed; 43004: not subscribed. Credential codes: a wrong AppSecret, a stale token
# that refreshing did not fix, or this server's IP missing from the AppSecret IP allowlist.
# 45047: too many messages since the follower last wrote (WeChat allows a limited number per
# message of the follower): more can be sent once the follower answers.
# ``partial``: a long text went out in parts (``bot.channels.wechat_split``) and WeChat refused a
# later one; the follower read the beginning only.
PARTIAL = "partial"
# ``held``: WeChat refused for quota (45047) and the message is kept, in order, to be sent as soon as
# the follower writes again (``bot.channels.wechat_held``); the desk shows it as pending.
HELD = "held"
# ``window``: more than 48 hours since the follower wrote, or they unsubscribed (the desk's
# ``undelivered_window``).
WINDOW = "window"
# Every reason above, as the desk names each (``undelivered_<reason>``; `kefu validate` names one missing).
NOT_DELIVERED = (WINDOW, "quota", "credentials", "failed", PARTIAL, HELD)
WINDOW_CODES = {45015, 43004}
QUOTA_CODES = {45047}
CREDENTIAL_CODES = {40001, 40013, 40014, 40125, 40164, 41001, 42001}


def failure_reason(error: BaseException) -> str:
    """``window``, ``quota``, ``credentials`` or ``failed`` (anything else: WeChat down, a timeout,
    an HTTP error)."""
    errcode = getattr(error, "errcode", None)
    if errcode in WINDOW_CODES:
        return WINDOW
    if errcode in QUOTA_CODES:
        return "quota"
    if errcode in CREDENTIAL_CODES:
        return "credentials"
    return "failed"


@dataclass(frozen=True)
class FollowerMedia:
    """A follower's picture or video: the file, or the address WeChat gives to download it from."""

    data: bytes = b""
    content_type: str = ""
    url: str = ""


class WeChatApiError(RuntimeError):
    """WeChat answered with an error code (or not at all); ``errcode`` is WeChat's number."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


async def _json_of(answer: aiohttp.ClientResponse, what: str) -> Any:
    """WeChat's JSON answer; a gateway's HTML error page (502...) is a failed call, not a crash."""
    raw = await answer.read()
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise WeChatApiError(f"{what} failed (HTTP {answer.status}, not JSON)") from None


async def _whole_body(answer: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole file WeChat sends, refused past ``max_bytes``. (``content.read(n)`` answers with what
    has arrived so far: over a real network, a voice message's first seconds.)"""
    if answer.content_length and answer.content_length > max_bytes:
        raise WeChatApiError("media too large")
    data = bytearray()
    async for chunk in answer.content.iter_any():
        data += chunk
        if len(data) > max_bytes:
            raise WeChatApiError("media too large")
    return bytes(data)


class WeChatApi:
    def __init__(self, base_url: str, app_id: str, app_secret: str, guard: ChannelGuard) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.guard = guard
        self._refresh_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- access token -----------------------------------------------------------
    async def access_token(self, *, refresh: bool = False, stale: str | None = None) -> str:
        """The account's access token, shared by every process through Redis.

        ``refresh``: fetch a new one. With ``stale`` (the token WeChat just refused), only when the
        shared one is still that token: each fetch counts against WeChat's daily limit (2000) and
        replaces the last, so a burst of sends refused together, in one process or several, must
        fetch once, not once each (enough of them use up the day's fetches, and then nothing goes out).
        """
        key = f"token:{self.app_id}"
        if not refresh:
            cached = await self.guard.get(key)
            if cached:
                return cached
        async with self._refresh_lock, self._fetching_alone():
            cached = await self.guard.get(key)
            if cached and (not refresh or (stale is not None and cached != stale)):
                return cached
            return await self._fetch_token(key)

    @contextlib.asynccontextmanager
    async def _fetching_alone(self) -> AsyncIterator[None]:
        """One process at a time fetches the token (the others then find it in Redis)."""
        client = self.guard.client()
        if client is None:
            yield
            return
        async with held(client, self.guard.key(f"token-fetch:{self.app_id}"), TOKEN_FETCH_LOCK_S):
            yield

    async def _fetch_token(self, key: str) -> str:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        async with self._http().get(f"{self.base_url}/cgi-bin/token", params=params,
                                    timeout=SEND_TIMEOUT) as answer:
            body = await _json_of(answer, "token request")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            errcode = body.get("errcode") if isinstance(body, dict) else None
            hint = " hint=add this server's IP to the AppSecret IP allowlist" if errcode == 40164 else ""
            logger.error("wechat.token.failed errcode=%s%s", errcode, hint)
            raise WeChatApiError(f"token request failed (errcode={errcode})", errcode)
        ttl = int(body.get("expires_in", 7200)) - TOKEN_MARGIN_SECONDS
        await self.guard.put(key, token, max(60, ttl))
        logger.info("wechat.token.refreshed expires_in=%s", body.get("expires_in"))
        return token

    async def _with_token(self, call):
        """Run ``call(token)``; on a stale-token error refresh once (unless done already) and retry."""
        token = await self.access_token()
        try:
            return await call(token)
        except WeChatApiError as error:
            if error.errcode not in STALE_TOKEN_CODES:
                raise
            logger.info("wechat.token.stale errcode=%s", error.errcode)
            return await call(await self.access_token(refresh=True, stale=token))

    # -- media ------------------------------------------------------------------
    async def download_media(self, media_id: str) -> bytes:
        async def call(token: str) -> bytes:
            params = {"access_token": token, "media_id": media_id}
            async with self._http().get(f"{self.base_url}/cgi-bin/media/get", params=params) as answer:
                if answer.content_type in ("application/json", "text/plain"):
                    body = await _json_of(answer, "media get")  # a proxy's plain-text error page too
                    errcode = body.get("errcode") if isinstance(body, dict) else None
                    raise WeChatApiError(f"media get failed (errcode={errcode})", errcode)
                return await _whole_body(answer, MAX_MEDIA_BYTES)

        return await self._with_token(call)

    async def fetch_media(self, media_id: str, max_bytes: int = MAX_VIEW_BYTES) -> "FollowerMedia":
        """A picture or video a follower sent, for an agent to open.

        WeChat's media/get (获取临时素材) answers a picture with the file and, as documented, a
        video with JSON ``{"video_url": ...}`` (some accounts are reported to get the file itself:
        both are taken). Media expire on WeChat's side three days after they were sent (40007).
        """
        async def call(token: str) -> FollowerMedia:
            params = {"access_token": token, "media_id": media_id}
            async with self._http().get(f"{self.base_url}/cgi-bin/media/get", params=params,
                                        timeout=SEND_TIMEOUT) as answer:
                if answer.content_type in ("application/json", "text/plain"):
                    body = await _json_of(answer, "media get")
                    url = str(body.get("video_url") or "") if isinstance(body, dict) else ""
                    if url.startswith(("https://", "http://")):
                        return FollowerMedia(url=url)
                    errcode = body.get("errcode") if isinstance(body, dict) else None
                    raise WeChatApiError(f"media get failed (errcode={errcode})", errcode)
                return FollowerMedia(data=await _whole_body(answer, max_bytes), content_type=answer.content_type)

        return await self._with_token(call)

    # -- customer-service messages ------------------------------------------------
    async def send_custom(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")

        async def call(token: str) -> None:
            async with self._http().post(
                f"{self.base_url}/cgi-bin/message/custom/send", params={"access_token": token}, data=body,
                headers={"Content-Type": "application/json; charset=utf-8"}, timeout=SEND_TIMEOUT,
            ) as answer:
                result = await _json_of(answer, "custom send")
            try:
                errcode = int((result or {}).get("errcode", 0)) if isinstance(result, dict) else -1
            except (TypeError, ValueError):
                errcode = -1
            if errcode:
                raise WeChatApiError(f"custom send failed (errcode={errcode})", errcode)

        await self._with_token(call)
