"""The agent desk: a web page at ``/agent/`` and its JSON API at ``/agent/api/``.

A Rasa input channel only so that it runs inside the Rasa server, next to the conversations
it hands over: Rasa mounts channel blueprints under ``/webhooks/agent_desk/``, so like the web
chat's page the blueprint's ``register`` adds root routes. It also starts the waiting room
(``bot.handoff.watcher``). Customers never send messages here.

Security: wrong passwords lock the name out from that client address for a while (``bot.security.login_guard``); sign-in sets an HttpOnly, SameSite=Strict cookie (Secure when served or published over https) holding a random token (its hash is
the Redis session key); state-changing calls also need the ``X-Kefu-Desk`` header, which a
cross-site form cannot send. A request from a page of another origin (its ``Origin`` header) is refused
(``from_another_origin``), the sites ``KEFU_CORS_ORIGINS`` adds included: Rasa's CORS lets those send
credentials, and one on the desk's own site (``www.example.com`` beside ``kefu.example.com``) is sent
the SameSite=Strict cookie, so its scripts read the desk and passed the header's CORS preflight.
The page renders every customer text with ``textContent``.
The supervisor page and its API are for agents with the ``supervisor`` role only (403 otherwise);
only there are agents' skill groups granted, an agent picks among the granted ones.

Presence: the desk checks in (``AgentRoster.heartbeat``) on each overview poll, each write request and
every ``STREAM_KEEPALIVE_S`` of an open conversation stream; a desk silent for ``agent_gone_after_s``
hands its customers back to the queue (``bot.handoff.departures``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from urllib.parse import unquote
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.assets import serve_assets
from bot.db.repository import DatabaseError
from bot.handoff.accounts import MAX_NAME_CHARS, SUPERVISOR, AccountStore
from bot.handoff.byte_ranges import ranged, starts_playback
from bot.handoff.conversations import RasaConversations
from bot.handoff import supervisor
from bot.handoff.departures import requeue, sign_out
from bot.handoff.desk import Desk, DeskError
from bot.handoff.desk_push import changes_channel, keep_installed
from bot.handoff.presence import customer_gone, gone_reason
from bot.handoff.queue import HandoffQueue, redis_from_settings
from bot.handoff.sessions import COOKIE, SESSION_TTL_S, close_session, session_agent
from bot.handoff.watcher import WaitingRoom, left_queue_marker
from bot.security.origins import from_another_origin
from bot.security.login_guard import LoginGuard
from bot.settings import get_settings

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "agent"
DESK_PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                 "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
CSRF_HEADER = "X-Kefu-Desk"
CLAIM_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what the page sends with 接入下一位 (agent.js)
COOKIE_PATH = "/agent"
Handler = Callable[..., Awaitable[HTTPResponse]]


def desk_of(app: Sanic) -> Desk:
    if not hasattr(app.ctx, "kefu_desk"):
        from bot.ivr.bridge import VoiceBridge

        settings = get_settings()
        app.ctx.kefu_desk = Desk(HandoffQueue(redis_from_settings()), RasaConversations(app),
                                 AccountStore(settings.database_url), voice_bridge=VoiceBridge.from_settings(settings))
    return app.ctx.kefu_desk


def login_guard(desk: Desk) -> LoginGuard:
    settings = get_settings()
    return LoginGuard(desk.queue.redis, settings.desk_login_max_failures, settings.desk_login_lockout_s)


async def current_agent(request: Request, desk: Desk) -> dict | None:
    """The session's agent while their account exists with the password it signed in with: a removed
    agent's sessions, and those of an agent whose password was changed, end at once, in every process."""
    agent = await session_agent(desk.queue.redis, request.cookies.get(COOKIE))
    if agent is None:
        return None
    account = await asyncio.to_thread(desk.accounts.get, agent["agent_id"])
    if account is None or account.credential != agent.get("credential"):
        await close_session(desk.queue.redis, request.cookies.get(COOKIE))
        return None
    return agent


def database_unavailable(request: Request, exc: Exception) -> HTTPResponse:
    """The database (accounts, tickets, customers) did not answer: a retryable 503 with a code the page
    shows (``error_database_unavailable``) and a log line, not a bare 500 nobody sees in the logs."""
    from bot.db.errors import database_error

    logger.warning("desk.database_unavailable path=%s error=%s", request.path, database_error(exc))
    return response.json({"error": "error_database_unavailable"}, status=503, headers={"Retry-After": "5"})


def store_unavailable(request: Request, exc: RedisError) -> HTTPResponse:
    """Redis failed under a desk write, or refused it (``LockLost``: the conversation's lock was taken by a
    turn while Redis hung; that write stored and sent nothing): a retryable 503 with a code the page shows
    (``error_store_unavailable``), not the ops channel's sentence the page has no words for, nor a 500. Its
    text does not say nothing happened: a close whose queue record ended before the hand-back failed is
    done, and the waiting room finishes its hand-back (``bot.handoff.handback``)."""
    logger.warning("desk.store_unavailable path=%s error=%s", request.path, type(exc).__name__)
    return response.json({"error": "error_store_unavailable"}, status=503, headers={"Retry-After": "5"})


def not_cached(reply: HTTPResponse | None) -> HTTPResponse | None:
    """A desk answer holds customers' words and details: agents share PCs, and a browser writes an answer
    without ``no-store`` to its disk cache, where it outlives the sign-out. An answer's own setting stays."""
    if reply is not None and "Cache-Control" not in reply.headers:
        reply.headers["Cache-Control"] = "no-store"
    return reply


def signed_in(handler: Handler) -> Handler:
    """Require a desk session (and the CSRF header on writes) from the desk's own pages; passes the
    session's agent."""
    async def answer(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if from_another_origin(request):
            logger.warning("security.desk.foreign_origin path=%s", request.path)
            return response.json({"error": "error_forbidden"}, status=403)
        desk = desk_of(request.app)
        try:
            agent = await current_agent(request, desk)
            if agent is None:
                return response.json({"error": "error_signed_out"}, status=401)
            if request.method != "GET" and request.headers.get(CSRF_HEADER) != "1":
                return response.json({"error": "error_forbidden"}, status=403)
            if request.method != "GET":  # an agent acting at the desk is there (bot.handoff.departures)
                await desk.queue.roster.heartbeat(agent["agent_id"])
            # Ids arrive URL-encoded ("+" in a WeChat or phone id is "%2B"); Sanic's router leaves them so.
            kwargs = {name: unquote(value) if name in ("conversation_id", "ticket_id", "agent_id") else value
                      for name, value in kwargs.items()}
            return await handler(request, desk, agent, *args, **kwargs)
        except DeskError as exc:
            return response.json({"error": exc.code}, status=exc.status)
        except (SQLAlchemyError, DatabaseError) as exc:  # DatabaseError: the repository's, e.g. a recording's
            return database_unavailable(request, exc)
        except RedisError as exc:
            if getattr(request, "responded", False):  # a stream under way: Sanic ends it as before
                raise
            return store_unavailable(request, exc)

    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
        return not_cached(await answer(request, *args, **kwargs))

    wrapped.__name__ = handler.__name__
    return wrapped


async def is_supervisor(desk: Desk, agent_id: str) -> bool:
    return await asyncio.to_thread(desk.accounts.role_of, agent_id) == SUPERVISOR


def supervisors_only(handler: Handler) -> Handler:
    """Inside ``signed_in``: the agent must have the supervisor role now, else 403 ``error_not_supervisor``."""
    async def wrapped(request: Request, desk: Desk, agent: dict, *args: Any, **kwargs: Any) -> HTTPResponse:
        if not await is_supervisor(desk, agent["agent_id"]):
            logger.info("handoff.supervisor.denied agent=%s", agent["agent_id"])
            raise DeskError("error_not_supervisor", 403)
        return await handler(request, desk, agent, *args, **kwargs)

    wrapped.__name__ = handler.__name__
    return wrapped


def body(request: Request) -> dict:
    data = request.json if request.body else {}
    return data if isinstance(data, dict) else {}


async def page(_: Request) -> HTTPResponse:
    return await page_file("index.html")


async def supervisor_page(request: Request) -> HTTPResponse:
    """The page for everyone signed in; a plain agent gets it with 403 and the page says why (no data in it)."""
    desk = desk_of(request.app)
    agent = await current_agent(request, desk)
    allowed = agent is None or await is_supervisor(desk, agent["agent_id"])  # signed out: the page signs in
    return await page_file("supervisor.html", status=200 if allowed else 403)


async def page_file(name: str, status: int = 200) -> HTTPResponse:
    return await response.file(WEB_DIR / name, status=status, headers={
        "Content-Security-Policy": DESK_PAGE_CSP, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"})


async def login(request: Request) -> HTTPResponse:
    desk = desk_of(request.app)
    data = body(request)
    if request.headers.get(CSRF_HEADER) != "1" or from_another_origin(request):
        return response.json({"error": "error_forbidden"}, status=403)
    # The client behind a trusted proxy (Sanic's PROXIES_COUNT / REAL_IP_HEADER / FORWARDED_SECRET), else the peer.
    name, address = str(data.get("name", ""))[:MAX_NAME_CHARS], request.remote_addr or request.ip or ""
    guard = login_guard(desk)
    if not await guard.attempt(name, address):  # counted as a wrong password until it succeeds
        return response.json({"error": "error_locked"}, status=429)
    try:
        result = await desk.login(name, str(data.get("password", ""))[:256])
    except SQLAlchemyError as exc:
        await guard.unchecked(name, address)  # an agent retrying through an outage is not locked out by it
        return database_unavailable(request, exc)
    if result is None:
        return response.json({"error": "error_login"}, status=401)
    await guard.succeeded(name, address)
    token, account = result
    reply = response.json({"agent_id": account.agent_id, "name": account.display_name})
    reply.cookies[COOKIE] = token
    cookie = reply.cookies[COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = COOKIE_PATH
    cookie["max-age"] = SESSION_TTL_S
    # Agents on https (KEFU_PUBLIC_URL) get Secure even when a TLS proxy's scheme is not trusted (SANIC_PROXIES_COUNT).
    cookie["secure"] = request.scheme == "https" or get_settings().public_url.startswith("https://")
    return reply


@signed_in
async def logout(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    """Conversations still held go back to their queue, keeping their place (the page asked first):
    found by a tester, a customer left by an agent who signed out was never answered."""
    requeued = await sign_out(desk.queue, agent["agent_id"], request.cookies.get(COOKIE))
    reply = response.json({"ok": True, "requeued": requeued})
    reply.cookies[COOKIE] = ""
    reply.cookies[COOKIE]["path"] = COOKIE_PATH  # the sign-in's, or the browser keeps it
    reply.cookies[COOKIE]["max-age"] = 0
    return reply


@signed_in
async def overview(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    return response.json(await desk.overview(agent["agent_id"]))


@signed_in
async def status(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    data = body(request)
    skills = data.get("skills")
    await desk.set_status(agent["agent_id"], str(data.get("status", "")),
                          [str(s) for s in skills] if isinstance(skills, list) else None)
    return response.json({"ok": True})


@signed_in
async def live(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    """Supervisors' live figures (bot/analytics/live.py; the panel is web/agent/live.js)."""
    from bot.analytics.live import live_figures

    settings = get_settings()
    return response.json(await live_figures(desk.queue, settings.database_url, settings.content_dir))


@signed_in
async def claim(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    """接入下一位. ``request_id``: the page's for this press, sent again when it got no answer (``Desk.claim``)."""
    request_id = str(body(request).get("request_id") or "")
    if not CLAIM_REQUEST_ID.fullmatch(request_id):
        request_id = ""  # a page from before request ids, or not one of ours: claimed as before
    view = await desk.claim(agent["agent_id"], agent["name"], request_id)
    return response.json({"conversation": view})


@signed_in
async def conversation(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    return response.json(await desk.view(agent["agent_id"], conversation_id))


@signed_in
async def messages(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    if request.method == "POST":
        await desk.send(agent["agent_id"], agent["name"], conversation_id, str(body(request).get("text", "")))
        return response.json({"ok": True})
    try:
        after = int(request.args.get("after", "-1"))
    except ValueError:
        after = -1
    return response.json(await desk.messages(agent["agent_id"], conversation_id, after))


STREAM_KEEPALIVE_S = 15.0
# A stream ends after this and the page opens the next (agent.js: a poll, then a stream from its last turn;
# nothing is missed). Its check-ins vouch for the agent only while their page can ask for streams: a desk
# whose network vanished without a word kept its last stream's check-ins going until TCP gave up (about a
# quarter of an hour on Linux), so their customers waited that long longer for an agent who was gone.
STREAM_MAX_S = 60.0


@signed_in
async def stream(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse | None:
    """Server-sent events: the conversation's new turns as they happen (see ``bot.handoff.desk_push``);
    the open stream checks the agent's desk in every ``STREAM_KEEPALIVE_S``."""
    try:
        after = int(request.args.get("after", "-1"))
    except ValueError:
        after = -1
    await desk.view(agent["agent_id"], conversation_id)  # DeskError (as JSON) unless the agent holds it
    pubsub = desk.queue.redis.pubsub()
    await pubsub.subscribe(changes_channel(conversation_id, desk.queue.redis))
    reply = await request.respond(content_type="text/event-stream",
                                  headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    clock = asyncio.get_running_loop().time
    opened = checked_in = clock()
    pending: list[int] | None = []
    try:
        while clock() - opened < STREAM_MAX_S:
            try:
                data = await desk.messages(agent["agent_id"], conversation_id, after)
            except DeskError as exc:
                await reply.send(f"event: ended\ndata: {json.dumps({'error': exc.code})}\n\n")
                break
            if data["turns"] or data.get("pending") != pending:  # new turns, or held ones delivered
                after, pending = data["last"], data.get("pending")
                await reply.send(f"data: {json.dumps(data, ensure_ascii=False)}\n\n")
            wait = min(STREAM_KEEPALIVE_S, max(0.0, STREAM_MAX_S - (clock() - opened)))
            quiet = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait) is None
            if quiet:
                await reply.send(": keep-alive\n\n")
            if quiet or clock() - checked_in >= STREAM_KEEPALIVE_S:
                # An open stream is a desk at work, quiet or busy; a background tab's own polling may be
                # slowed to once a minute, this is not (bot.handoff.agents, bot.handoff.departures).
                await desk.queue.roster.heartbeat(agent["agent_id"])
                checked_in = clock()
            while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.01) is not None:
                pass  # several saves, one fetch
    finally:
        await pubsub.unsubscribe()
        await pubsub.close()
    await reply.eof()
    return None


@signed_in
@supervisors_only
async def supervision(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    view = await supervisor.overview(desk.queue)
    accounts = {account.agent_id: account for account in await asyncio.to_thread(desk.accounts.all)}
    view["agents"] = supervisor.with_accounts(view["agents"], accounts.values())
    for shown in view["agents"]:  # what each may serve, beside what they take now
        account = accounts.get(shown["agent_id"])
        shown["granted_skills"] = list(account.skills) if account else []
    return response.json(view)


@signed_in
@supervisors_only
async def grant_skills(request: Request, desk: Desk, agent: dict, agent_id: str) -> HTTPResponse:
    """Only a supervisor sets which skill groups an agent serves (agents pick among those only)."""
    skills = body(request).get("skills")
    await desk.grant_skills(agent_id, [str(s) for s in skills] if isinstance(skills, list) else [])
    logger.info("handoff.supervisor.skills_granted agent=%s by=%s", agent_id, agent["agent_id"])
    return response.json({"ok": True})


@signed_in
@supervisors_only
async def remove_entry(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    entry = await desk.queue.entry(conversation_id)
    if entry is None or entry["state"] != "waiting":
        raise DeskError("error_not_waiting", 404)
    absence = await customer_gone(desk.queue.redis, entry, desk.queue.clock())
    reason = gone_reason(entry["channel"]) if absence is not None else "removed_by_supervisor"
    if absence is not None:  # the customer left: their abandonment, the supervisor only tidies (bot.handoff.supervisor)
        removed = await desk.queue.stop_waiting(conversation_id, reason, left_at=absence.seen_at,
                                                by=agent["agent_id"])
    else:
        removed = await desk.queue.stop_waiting(conversation_id, reason)
    if not removed:
        raise DeskError("error_not_waiting", 404)  # an agent took it meanwhile: theirs now
    if reason == "call_lost":  # its process died, and the line with it: nothing to say into it
        await desk.conversations.resume(conversation_id, None)
    else:  # told, with the way to a person (found by a tester: removed silently, the customer kept waiting)
        await desk.conversations.resume(conversation_id, "utter_queue_removed", **left_queue_marker(entry["channel"]))
    logger.info("handoff.supervisor.removed conversation=%s by=%s", conversation_id, agent["agent_id"])
    return response.json({"ok": True})


@signed_in
@supervisors_only
async def requeue_served(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    """A conversation an agent is serving goes back to its queue (the agent went home, or is stuck)."""
    entry = await desk.queue.entry(conversation_id)
    if entry is None or entry["state"] != "claimed" or not await requeue(desk.queue, conversation_id, entry["agent_id"],
                                                                         "supervisor", by=agent["agent_id"]):
        raise DeskError("error_not_serving", 404)
    logger.info("handoff.supervisor.requeued conversation=%s agent=%s by=%s", conversation_id,
                entry["agent_id"], agent["agent_id"])
    return response.json({"ok": True})


@signed_in
async def selfhelp(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    await desk.push_selfhelp(agent["agent_id"], conversation_id, str(body(request).get("entry_id", "")))
    return response.json({"ok": True})


@signed_in
async def reveal(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    value = await desk.reveal(agent["agent_id"], conversation_id, str(body(request).get("field", "")))
    return response.json({"value": value}, headers={"Cache-Control": "no-store"})


@signed_in
async def opt_out(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    """客户要求不再联系: no more automated calls, texts or WeChat messages to the customer served."""
    return response.json({"ok": True, "phone": await desk.opt_out(agent["agent_id"], conversation_id)})


@signed_in
async def ask_proof(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    """请客户验证身份: the bot asks the customer for proof and checks it; the agent sees only the outcome."""
    return response.json({"ok": True, "state": await desk.ask_proof(agent["agent_id"], conversation_id)})


@signed_in
async def close(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    """结束服务. ``claimed_at``: the claim the page shows (its view's), so a retry arriving after the agent took the
    customer again closes nothing; a page without it closes the current claim."""
    data = body(request)
    claimed_at = data.get("claimed_at")
    result = await desk.close(agent["agent_id"], conversation_id, str(data.get("disposition", "")),
                              str(data.get("note", "")), data.get("skill"), str(data.get("phone") or ""),
                              agent_name=agent["name"], claimed_at=float(claimed_at)
                              if isinstance(claimed_at, (int, float)) and not isinstance(claimed_at, bool) else None)
    return response.json(result)


@signed_in
async def catalogue(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    from bot.selfhelp import load_catalogue

    entries = load_catalogue(get_settings().selfhelp_catalogue).entries.values()
    return response.json([{"id": e.id, "title": e.title, "fault_type": e.fault_type, "page": e.page()}
                          for e in entries])


@signed_in
async def finish_ticket(request: Request, desk: Desk, agent: dict, ticket_id: str) -> HTTPResponse:
    await desk.finish_work_item(agent["agent_id"], ticket_id, str(body(request).get("note", "")))
    return response.json({"ok": True})


@signed_in
async def reveal_ticket(request: Request, desk: Desk, agent: dict, ticket_id: str) -> HTTPResponse:
    value = await desk.reveal_work_item(agent["agent_id"], ticket_id)
    return response.json({"value": value}, headers={"Cache-Control": "no-store"})


@signed_in
async def work_item_audio(request: Request, desk: Desk, agent: dict, ticket_id: str) -> HTTPResponse:
    """A voice message's recording, played on the desk by an agent of its skill group; range requests
    are answered (``bot.handoff.byte_ranges``), and only one starting the playback is recorded as played."""
    asked = request.headers.get("range")
    audio, content_type = await desk.work_item_audio(agent["agent_id"], ticket_id, new_playback=starts_playback(asked))
    return ranged(audio, asked, content_type=content_type, headers={"Cache-Control": "private, no-store"})


@signed_in
async def caller_clip(request: Request, desk: Desk, agent: dict, conversation_id: str, clip_id: str) -> HTTPResponse:
    """What a phone caller said that was not transcribed, played to the agent serving the call (ranges as
    for ``work_item_audio``)."""
    asked = request.headers.get("range")
    audio, content_type = await desk.caller_clip(agent["agent_id"], conversation_id, clip_id,
                                                 new_playback=starts_playback(asked))
    return ranged(audio, asked, content_type=content_type, headers={"Cache-Control": "private, no-store"})


ROUTES: list[tuple[str, Handler, list[str]]] = [
    ("/agent/api/login", login, ["POST"]),
    ("/agent/api/logout", logout, ["POST"]),
    ("/agent/api/overview", overview, ["GET"]),
    ("/agent/api/status", status, ["POST"]),
    ("/agent/api/claim", claim, ["POST"]),
    ("/agent/api/live", live, ["GET"]),
    ("/agent/api/selfhelp", catalogue, ["GET"]),
    ("/agent/api/conversations/<conversation_id:str>", conversation, ["GET"]),
    ("/agent/api/conversations/<conversation_id:str>/messages", messages, ["GET", "POST"]),
    ("/agent/api/conversations/<conversation_id:str>/stream", stream, ["GET"]),
    ("/agent/api/supervisor", supervision, ["GET"]),
    ("/agent/api/supervisor/queue/<conversation_id:str>/remove", remove_entry, ["POST"]),
    ("/agent/api/supervisor/agents/<agent_id:str>/skills", grant_skills, ["POST"]),
    ("/agent/api/supervisor/serving/<conversation_id:str>/requeue", requeue_served, ["POST"]),
    ("/agent/api/conversations/<conversation_id:str>/selfhelp", selfhelp, ["POST"]),
    ("/agent/api/conversations/<conversation_id:str>/reveal", reveal, ["POST"]),
    ("/agent/api/conversations/<conversation_id:str>/opt_out", opt_out, ["POST"]),
    ("/agent/api/conversations/<conversation_id:str>/proof", ask_proof, ["POST"]),
    ("/agent/api/conversations/<conversation_id:str>/close", close, ["POST"]),
    ("/agent/api/tickets/<ticket_id:str>/done", finish_ticket, ["POST"]),
    ("/agent/api/tickets/<ticket_id:str>/reveal", reveal_ticket, ["POST"]),
    ("/agent/api/tickets/<ticket_id:str>/audio", work_item_audio, ["GET"]),
    ("/agent/api/conversations/<conversation_id:str>/clips/<clip_id:str>", caller_clip, ["GET"]),
]


class DeskBlueprint(Blueprint):
    """Adds the desk's root routes and the waiting room's lifetime to the app."""

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        super().register(app, options)
        if any(route.name.endswith("kefu_agent_page") for route in app.router.routes):
            return  # registered already
        app.add_route(page, "/agent/", methods=["GET"], name="kefu_agent_page", strict_slashes=True)
        app.add_route(supervisor_page, "/agent/supervisor/", methods=["GET"], name="kefu_agent_supervisor_page",
                      strict_slashes=True)
        app.add_route(lambda _: response.redirect("/agent/"), "/agent", methods=["GET"],
                      name="kefu_agent_redirect", strict_slashes=True)
        serve_assets(app, "/agent/assets", WEB_DIR, "kefu_agent_assets")
        app.static("/agent/ui", str(get_settings().content_dir / "ui"), name="kefu_agent_ui")
        from bot.channels import glance_desk, knowledge_desk, ledger_desk, wechat_media_desk

        app.add_route(ledger_desk.ledger_page, "/agent/ledger/", methods=["GET"], name="kefu_agent_ledger_page",
                      strict_slashes=True)
        for path, handler, methods in (ROUTES + knowledge_desk.ROUTES + ledger_desk.ROUTES + glance_desk.ROUTES
                                       + wechat_media_desk.ROUTES):
            app.add_route(handler, path, methods=methods, name=f"kefu_agent_{handler.__name__}")
        app.register_listener(start_waiting_room, "after_server_start")
        app.register_listener(stop_waiting_room, "before_server_stop")


async def start_waiting_room(app: Sanic, _loop: Any) -> None:
    desk = desk_of(app)
    app.ctx.kefu_waiting_room = asyncio.create_task(WaitingRoom(desk.queue, desk.conversations,
                                                                accounts=desk.accounts).run_forever())
    app.ctx.kefu_desk_push = asyncio.create_task(keep_installed(app, desk.queue.redis))
    logger.info("handoff.watcher.started")


async def stop_waiting_room(app: Sanic, _loop: Any) -> None:
    for name in ("kefu_waiting_room", "kefu_desk_push"):
        task = getattr(app.ctx, name, None)
        if task is not None:
            task.cancel()


class AgentDeskInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "agent_desk"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "AgentDeskInput":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        desk = DeskBlueprint("agent_desk_webhook", __name__)

        @desk.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        return desk
