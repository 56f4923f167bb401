"""The agent desk's API answers Kefu's own pages only, never another site's script, even one of the
origins ``KEFU_CORS_ORIGINS`` lets call Rasa (the site that embeds the chat widget).

Rasa's CORS (``--cors``, as Kefu starts it: ``bot.security.launch.cors_arguments``) allows credentials
for every listed origin, and the desk shares Rasa's app. A partner site on the same registrable domain
(``www.example.com`` beside ``kefu.example.com``) is *same-site*, so the desk's SameSite=Strict cookie
goes with its requests: any script on it (an XSS there, a third-party tag) read an agent's desk and
acted as the agent (the ``X-Kefu-Desk`` header passes a CORS preflight), while the agent browsed it.

Through the real routes: the desk's handlers and Rasa's own CORS set-up on a Sanic server, real
Redis and SQLite, requests over a socket with the headers a browser sends."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

import aiohttp
import pytest
from rasa.server import configure_cors
from sanic import Sanic

from bot.channels import agent_desk
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.sessions import COOKIE
from bot.security.launch import cors_arguments
from bot.settings import get_settings
from tests.handoff.conftest import queue, redis, redis_url, rules, clock, events  # noqa: F401 - a real Redis

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)

PARTNER = "https://www.example.com"  # the company's site, embedding the chat widget


@pytest.fixture
def desk(queue, kefu_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KEFU_CORS_ORIGINS", PARTNER)
    get_settings.cache_clear()
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["tv"])
    return Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))


@pytest.fixture
async def desk_url(desk):
    """The desk's routes on an app with Rasa's CORS configured as ``kefu run`` has Rasa do it."""
    async with served(desk) as url:
        yield url


@pytest.fixture
async def desk_behind_nginx(desk):
    """The same, trusting one proxy as ``deploy/nginx.conf`` asks (``SANIC_PROXIES_COUNT=1``)."""
    async with served(desk, PROXIES_COUNT=1) as url:
        yield url


@contextlib.asynccontextmanager
async def served(desk: Desk, **config) -> AsyncIterator[str]:
    app = Sanic(f"desk_origins_{free_port()}")
    app.config.update(config)
    app.ctx.kefu_desk = desk
    configure_cors(app, cors_arguments(get_settings())[1:])
    for path, handler, methods in agent_desk.ROUTES:
        app.add_route(handler, path, methods=methods)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()  # as ``app.run`` does: Rasa's CORS adds its middleware then
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def signed_in(session: aiohttp.ClientSession, url: str, headers: dict | None = None) -> dict:
    async with session.post(f"{url}/agent/api/login", json={"name": "wang", "password": "wang-pass-1"},
                            headers={**(headers or {}), agent_desk.CSRF_HEADER: "1"}) as answer:
        assert answer.status == 200
        return {"Cookie": f"{COOKIE}={answer.cookies[COOKIE].value}"}


def readable_by(answer: aiohttp.ClientResponse, origin: str) -> bool:
    """Whether a browser hands a credentialed answer to a script of ``origin`` (the Fetch standard's CORS check)."""
    return (answer.headers.get("Access-Control-Allow-Origin") == origin
            and answer.headers.get("Access-Control-Allow-Credentials") == "true")


async def test_a_partner_sites_script_can_neither_read_the_desk_nor_act_as_the_agent(desk, desk_url):
    async with aiohttp.ClientSession() as session:
        cookie = await signed_in(session, desk_url)
        async with session.get(f"{desk_url}/agent/api/overview", headers={**cookie, "Origin": PARTNER}) as answer:
            leaked = answer.status == 200 and readable_by(answer, PARTNER)
            assert not leaked, "a partner page's script read the agent's desk"
            assert answer.status == 403
        # The preflight of a write passes (Rasa's CORS), so the write itself must be refused.
        async with session.options(f"{desk_url}/agent/api/status", headers={
                "Origin": PARTNER, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": f"content-type,{agent_desk.CSRF_HEADER}"}) as preflight:
            assert preflight.status < 300
        async with session.post(f"{desk_url}/agent/api/status", json={"status": "available"},
                                headers={**cookie, "Origin": PARTNER, agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 403, "a partner page's script set the agent available"
        assert (await desk.queue.roster.get("wang")).status == "away"
        # Login from there is refused too: it would sign the agent's browser in as someone else.
        async with session.post(f"{desk_url}/agent/api/login", json={"name": "wang", "password": "wang-pass-1"},
                                headers={"Origin": PARTNER, agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 403 and COOKIE not in answer.cookies


async def test_the_desks_own_page_still_works_with_or_without_an_origin(desk, desk_url):
    async with aiohttp.ClientSession() as session:
        cookie = await signed_in(session, desk_url)
        async with session.get(f"{desk_url}/agent/api/overview", headers=cookie) as answer:
            assert answer.status == 200  # a same-origin GET carries no Origin
        async with session.post(f"{desk_url}/agent/api/status", json={"status": "available"},
                                headers={**cookie, "Origin": desk_url, agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200  # a same-origin POST names the desk's own origin
        assert (await desk.queue.roster.get("wang")).status == "available"


# What deploy/nginx.conf's ``location /`` sends on: the agent's Host, the client it appends, the scheme.
NGINX = {"Host": "kefu.example.com", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


async def test_behind_nginx_a_partner_sites_script_cannot_name_itself_the_desks_host(desk, desk_behind_nginx):
    """Found in review: trusting the proxy (``SANIC_PROXIES_COUNT=1``) makes Sanic take the request's
    host from ``X-Forwarded-Host``, which nginx passes on as the client sent it. A partner page's script
    sent its own name there (Rasa's CORS lets the header through the preflight), and the desk took the
    request for one from its own page: it read the agent's desk and set the agent available."""
    url = desk_behind_nginx
    forged = {**NGINX, "Origin": PARTNER, "X-Forwarded-Host": "www.example.com"}
    async with aiohttp.ClientSession() as session:
        async with session.options(f"{url}/agent/api/overview", headers={
                **NGINX, "Origin": PARTNER, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-forwarded-host"}) as preflight:
            assert preflight.status < 300 and "x-forwarded-host" in \
                preflight.headers.get("Access-Control-Allow-Headers", "").lower(), "the browser sends the header"
        cookie = await signed_in(session, url, NGINX)
        async with session.get(f"{url}/agent/api/overview", headers={**cookie, **forged}) as answer:
            assert not (answer.status == 200 and readable_by(answer, PARTNER)), "a partner page's script read the desk"
            assert answer.status == 403
        async with session.post(f"{url}/agent/api/status", json={"status": "available"},
                                headers={**cookie, **forged, agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 403, "a partner page's script set the agent available"
        assert (await desk.queue.roster.get("wang")).status == "away"
        # The agent's own page through nginx still works.
        async with session.post(f"{url}/agent/api/status", json={"status": "available"}, headers={
                **cookie, **NGINX, "Origin": "https://kefu.example.com", agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200


@pytest.mark.parametrize("public_url", ["https://kefu.example.com:8443", "HTTPS://Kefu.Example.COM:8443/kefu/"],
                         ids=["port", "upper-case-and-path"])
async def test_behind_a_tls_proxy_on_another_port_the_agents_page_works_as_published(desk, public_url, monkeypatch):
    """nginx's ``$host`` (deploy/nginx.conf) drops the port, so the agent's ``Origin`` names one the
    ``Host`` does not: ``KEFU_PUBLIC_URL``, as the operator wrote it, makes it the desk's own."""
    monkeypatch.setenv("KEFU_PUBLIC_URL", public_url)
    get_settings.cache_clear()
    page = {**NGINX, "Origin": "https://kefu.example.com:8443"}
    async with served(desk, PROXIES_COUNT=1) as url, aiohttp.ClientSession() as session:
        cookie = await signed_in(session, url, page)
        async with session.post(f"{url}/agent/api/status", json={"status": "available"},
                                headers={**cookie, **page, agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200
        async with session.get(f"{url}/agent/api/overview", headers={**cookie, **page}) as answer:
            assert answer.status == 200
