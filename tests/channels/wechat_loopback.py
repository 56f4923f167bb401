"""A loopback stand-in for api.weixin.qq.com: token, media download and customer-service send.

Runs aiohttp on 127.0.0.1 in its own thread (the Rasa server under test is another process),
records every call, and can be told to serve a media file slowly to exercise the 5-second path.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

ACCESS_TOKEN = "loopback-access-token"
# What WeChat was measured to accept in a text message's content (UTF-8 bytes; see
# bot.channels.wechat_split): longer texts are refused with 45002 "content size out of limit".
TEXT_CONTENT_MAX_BYTES = 2048


@dataclass
class Media:
    data: bytes
    content_type: str = "audio/amr"
    delay_seconds: float = 0.0
    # A video message: WeChat's media/get answers with the address to download it from.
    video_url: str = ""
    # Sent in pieces of this many bytes, a moment apart, as a file crosses the internet (0: at once).
    chunk_bytes: int = 0


@dataclass
class WeChatLoopback:
    app_id: str
    app_secret: str
    port: int
    token_requests: int = 0
    # Bumped by ``revoke_token``: the token in use until then is refused (40001), as after another
    # system fetched a new one with the same AppSecret.
    token_generation: int = 0
    media_requests: list[str] = field(default_factory=list)
    sent: list[dict] = field(default_factory=list)
    media: dict[str, Media] = field(default_factory=dict)
    # How customer-service sends are refused: None (accepted), a WeChat errcode (45015...),
    # "html502" (a gateway's HTML error page) or "hang" (never answers).
    send_error: int | str | None = None
    # With ``send_error``: how many sends are accepted before it applies (a later part refused).
    refuse_after: int = 0
    refused: list[dict] = field(default_factory=list)
    # WeChat's quota: at most this many customer-service messages to a follower after each of their
    # messages, the next refused with 45047 (None: no limit). ``follower_wrote`` gives a fresh quota.
    quota: int | None = None
    # Seconds each accepted send takes (WeChat's latency), and when each was accepted (monotonic).
    send_delay: float = 0.0
    sent_at: list[float] = field(default_factory=list)
    _since_wrote: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- handlers -----------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        with self._lock:
            self.token_requests += 1
        query = request.query
        if query.get("appid") != self.app_id or query.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        return web.json_response({"access_token": self.current_token(), "expires_in": 7200})

    async def media_get(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != self.current_token():
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        media_id = request.query.get("media_id", "")
        with self._lock:
            self.media_requests.append(media_id)
            media = self.media.get(media_id)
        if media is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        if media.delay_seconds:
            await asyncio.sleep(media.delay_seconds)
        if media.video_url:
            return web.json_response({"video_url": media.video_url})
        if media.chunk_bytes:
            answer = web.StreamResponse(headers={"Content-Type": media.content_type})
            answer.content_length = len(media.data)
            await answer.prepare(request)
            for start in range(0, len(media.data), media.chunk_bytes):
                await answer.write(media.data[start:start + media.chunk_bytes])
                await asyncio.sleep(0.02)
            await answer.write_eof()
            return answer
        return web.Response(body=media.data, content_type=media.content_type,
                            headers={"Content-Disposition": f'attachment; filename="{media_id}.amr"'})

    async def custom_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != self.current_token():
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        body = json.loads(await request.read())
        content = (body.get("text") or {}).get("content") if body.get("msgtype") == "text" else None
        if content is not None and len(content.encode("utf-8")) > TEXT_CONTENT_MAX_BYTES:
            with self._lock:
                self.refused.append(body)
            return web.json_response({"errcode": 45002, "errmsg": "content size out of limit"})
        with self._lock:
            error = self.send_error if len(self.sent) >= self.refuse_after else None
            touser = str(body.get("touser") or "")
            if error is None and self.quota is not None and self._since_wrote.get(touser, 0) >= self.quota:
                error = 45047
        if error is not None:
            with self._lock:
                self.refused.append(body)
            if error == "hang":
                await asyncio.sleep(60)
            if error in ("html502", "hang"):
                return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>",
                                    content_type="text/html")
            return web.json_response({"errcode": error, "errmsg": "refused by the loopback"})
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        with self._lock:
            self.sent.append(body)
            self.sent_at.append(time.monotonic())
            self._since_wrote[touser] = self._since_wrote.get(touser, 0) + 1
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # -- test helpers ----------------------------------------------------------------
    def current_token(self) -> str:
        with self._lock:
            return ACCESS_TOKEN if not self.token_generation else f"{ACCESS_TOKEN}-{self.token_generation}"

    def revoke_token(self) -> None:
        """Refuse the token in use from now on; the next token request gets another."""
        with self._lock:
            self.token_generation += 1

    def follower_wrote(self, openid: str) -> None:
        """The follower sent a message: WeChat allows ``quota`` messages to them again."""
        with self._lock:
            self._since_wrote[openid] = 0

    def sent_to(self, openid: str) -> list[dict]:
        with self._lock:
            return [m for m in self.sent if m.get("touser") == openid]

    def wait_for_sent(self, openid: str, count: int = 1, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.sent_to(openid)
            if len(messages) >= count:
                return messages
            time.sleep(0.1)
        raise AssertionError(f"expected {count} customer-service message(s) to {openid}, got {self.sent_to(openid)}")

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "WeChatLoopback":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_get("/cgi-bin/token", self.token)
            app.router.add_get("/cgi-bin/media/get", self.media_get)
            app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="wechat-loopback", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback WeChat API did not start")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
