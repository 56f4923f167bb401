"""The desk's sign-in over HTTP: the wrong-password lock-out holds against guesses sent all at once,
and the session cookie is flagged Secure wherever agents reach the desk over https.

Through the real route: the desk's login handler on a Sanic server, requests over a socket."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sanic import Sanic

from bot.channels import agent_desk
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.sessions import COOKIE
from bot.settings import get_settings
from tests.handoff.conftest import queue, redis, redis_url, rules, clock, events  # noqa: F401 - a real Redis
from tests.sanic_served import served_desk

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)


@pytest.fixture
def desk(queue, kefu_env):  # noqa: F811
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["tv"])
    return Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))


@pytest.fixture
async def desk_url(desk):
    async with served_desk(desk, "desk_login") as url:
        yield url


async def sign_in(session: aiohttp.ClientSession, url: str, password: str, headers: dict | None = None) -> int:
    async with session.post(f"{url}/agent/api/login", json={"name": "wang", "password": password},
                            headers={agent_desk.CSRF_HEADER: "1", **(headers or {})}) as answer:
        return answer.status


async def test_guesses_sent_at_once_get_no_more_checks_than_the_lock_out_allows(desk_url):
    """Found in review: the lock was read before and counted after each (slow, scrypt) password check,
    so a guesser sending 60 guesses together had all 60 checked, not the 5 the lock-out allows."""
    limit = get_settings().desk_login_max_failures
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(sign_in(session, desk_url, f"guess-{n:04d}") for n in range(12 * limit)))
        assert answers.count(401) == limit, "each 401 is a password checked"
        assert answers.count(429) == 12 * limit - limit
        assert await sign_in(session, desk_url, "wang-pass-1") == 429, "locked, the right password too"


async def test_behind_a_proxy_the_addresses_of_one_ipv6_network_share_one_lock(desk):
    """Behind deploy/nginx.conf (SANIC_PROXIES_COUNT=1) Sanic gives an IPv6 client as ``[2001:db8::1]``, in
    brackets, which was not read as an address: each address of a /64 had a lock of its own, and a guesser
    moving through its network had unlimited guesses at an agent's password."""
    limit = get_settings().desk_login_max_failures
    async with served_desk(desk, "desk_login_proxied", PROXIES_COUNT=1) as url, aiohttp.ClientSession() as session:
        for n in range(limit):
            assert await sign_in(session, url, "wrong", {"X-Forwarded-For": f"2001:db8:1:2::{n + 1:x}"}) == 401
        assert await sign_in(session, url, "wrong", {"X-Forwarded-For": "2001:db8:1:2:ffff::9"}) == 429
        assert await sign_in(session, url, "wang-pass-1", {"X-Forwarded-For": "2001:db8:1:3::1"}) == 200, \
            "another network is another client"


async def test_sign_ins_while_the_database_is_down_do_not_lock_the_agent_out(desk, desk_url):
    """Each attempt counts from the moment it is let through: one whose password was never checked
    (503) is taken back, or an agent retrying through an outage would be locked out after it."""
    import sqlalchemy as sa

    working = desk.accounts.engine
    desk.accounts.engine = sa.create_engine(f"postgresql://kefu:x@127.0.0.1:{free_port()}/kefu")  # nothing there
    async with aiohttp.ClientSession() as session:
        for _ in range(2 * get_settings().desk_login_max_failures):
            assert await sign_in(session, desk_url, "wang-pass-1") == 503
        desk.accounts.engine = working
        assert await sign_in(session, desk_url, "wang-pass-1") == 200


@pytest.mark.parametrize("public_url", ["https://kefu.example.com", "HTTPS://Kefu.Example.com"])
async def test_the_session_cookie_is_secure_when_agents_use_https_even_if_the_proxy_is_not_trusted(
        desk_url, monkeypatch, public_url):
    """Found in review: Secure followed only the scheme Sanic saw, which is http behind a TLS proxy unless
    SANIC_PROXIES_COUNT is set too; the cookie then also went over plain http to anyone who could make
    the agent's browser open an http:// address of the desk. KEFU_PUBLIC_URL says where agents are (written
    in capitals too: the cookie was not Secure then, found in review)."""
    monkeypatch.setenv("KEFU_PUBLIC_URL", public_url)
    get_settings.cache_clear()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{desk_url}/agent/api/login", json={"name": "wang", "password": "wang-pass-1"},
                                headers={agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200
            cookie = answer.cookies[COOKIE]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/agent"


async def test_signing_out_removes_the_cookie_the_sign_in_set(desk_url):
    """The cookie lives under /agent: a removal for / (Sanic's default) left the dead token in the browser."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # unsafe: an IP host
        assert await sign_in(session, desk_url, "wang-pass-1") == 200
        async with session.post(f"{desk_url}/agent/api/logout", headers={agent_desk.CSRF_HEADER: "1"}) as answer:
            assert answer.status == 200
            removed = answer.cookies[COOKIE]
        assert removed["path"] == "/agent" and removed["max-age"] == "0"
        assert not [c for c in session.cookie_jar if c.key == COOKIE]
