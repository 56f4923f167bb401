"""What the desk's API answers (customers' words, names, masked numbers, tickets) is never kept in the
browser's cache: agents share PCs, and a response without ``Cache-Control: no-store`` is written to the
browser's disk cache, where the next user of the PC (or anyone with the disk) finds it after sign-out.
The number reveal and the screen pop said ``no-store``; the overview, a conversation's transcript and the
ledger did not.

Through the real routes: the desk's handlers on a Sanic server, real Redis and SQLite."""
from __future__ import annotations

import aiohttp
import pytest
from sanic import Sanic

from bot.channels import agent_desk, ledger_desk
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.sessions import COOKIE
from tests.handoff.conftest import queue, redis, redis_url, rules, clock, events  # noqa: F401 - a real Redis
from tests.sanic_served import served_app

Sanic.test_mode = True  # a second app in the process (tests/handoff/test_audio_ranges.py says why)


@pytest.fixture
async def desk_url(queue, kefu_env):  # noqa: F811
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["tv", "broadband", "billing", "general"],
                                            role="supervisor")
    app = Sanic(f"desk_not_cached_{free_port()}")
    app.ctx.kefu_desk = Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    for path, handler, methods in agent_desk.ROUTES + ledger_desk.ROUTES:
        app.add_route(handler, path, methods=methods)
    async with served_app(app) as url:
        yield url


async def test_the_desks_answers_are_not_kept_in_the_browsers_cache(desk_url):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{desk_url}/agent/api/login", json={"name": "wang", "password": "wang-pass-1"},
                                headers={agent_desk.CSRF_HEADER: "1"}) as answer:
            cookie = {"Cookie": f"{COOKIE}={answer.cookies[COOKIE].value}"}
        for path in ("overview", "ledger?all=1", "supervisor", "conversations/nobody-here/messages"):
            async with session.get(f"{desk_url}/agent/api/{path}", headers=cookie) as answer:
                assert answer.status in (200, 404), path
                assert "no-store" in answer.headers.get("Cache-Control", ""), f"/agent/api/{path} may be cached"
