"""The database stops while an agent works: the desk says so (a code the page shows) and logs it.

Found by an ops tester: with PostgreSQL stopped, ``POST /agent/api/claim`` answered a bare 500 with no
log line, so neither the agent nor the person on call knew what was wrong.
"""
from __future__ import annotations

import json
import logging
import types

from bot.channels import agent_desk
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.sessions import COOKIE
from tests.conftest import PROJECT_ROOT


def desk_request(desk: Desk, token: str, path: str) -> types.SimpleNamespace:
    app = types.SimpleNamespace(ctx=types.SimpleNamespace(kefu_desk=desk))
    return types.SimpleNamespace(app=app, cookies={COOKIE: token}, method="POST", path=path,
                                 headers={agent_desk.CSRF_HEADER: "1"}, body=b"", json=None)


async def test_claim_while_the_database_is_down_answers_a_clear_503_and_logs_it(queue, kefu_env, caplog):
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["tv"])
    desk = Desk(queue, None, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    token, _ = await desk.login("wang", "wang-pass-1")
    # The database goes away: nothing listens where it was (as PostgreSQL stopped with `pg_ctl stop`).
    import sqlalchemy as sa

    desk.accounts.engine = sa.create_engine(f"postgresql://kefu:x@127.0.0.1:{free_port()}/kefu")

    with caplog.at_level(logging.WARNING, logger="bot.channels.agent_desk"):
        answer = await agent_desk.claim(desk_request(desk, token, "/agent/api/claim"))

    assert answer.status == 503 and answer.headers.get("Retry-After") == "5"
    code = json.loads(answer.body)["error"]
    assert code == "error_database_unavailable"
    assert any("desk.database_unavailable" in r.getMessage() and "/agent/api/claim" in r.getMessage()
               for r in caplog.records)
    shown = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
    assert shown.get(code), "the desk page has no text for the code"
