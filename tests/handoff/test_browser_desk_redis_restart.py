"""The conversation on an agent's desk through a Redis restart: the customer's later messages still show.

README "What survives what": Redis stopped and restarted keeps the handoff queue and the desk sessions
(the embedded Redis's append-only file). Found in a fault review: the desk's event stream ends when Redis
goes away; the page tried once, a second later, to fetch the conversation and reopen the stream, and with
Redis still restarting it gave up for good. The agent, still serving the customer, saw none of their later
messages until they happened to click the conversation again. The same happens when the Rasa server
restarts (it takes longer than a second to come back).
"""
from __future__ import annotations

import os
import uuid

import pytest
import requests

from bot import settings as settings_module
from tests.handoff.stack_client import desk, desk_login, desk_page, only_waiting, say, wait_for
from tests.ops.faults import restart_redis

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.fault]

REDIS_DOWN_S = 5.0  # a restart's outage, longer than the page's first retry


@pytest.fixture(scope="module")
def restartable_stack(trained_model, tmp_path_factory):
    """A stack of its own on an embedded Redis (with its append-only file) this module restarts."""
    from bot.embedded_redis import free_port
    from bot.stack import KefuStack

    data_dir = tmp_path_factory.mktemp("desk-redis-restart")
    env = dict(os.environ)
    for name in ("REDIS_URL", "KEFU_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "WECHAT_AES_KEY"):
        env.pop(name, None)
    env.update(KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()), KEFU_ACTION_PORT=str(free_port()),
               KEFU_REDIS_PORT=str(free_port()), KEFU_WORKERS="1", KEFU_DEMO_DATA="on")
    stack = KefuStack(settings_module.from_environment(env), model=trained_model)
    stack.start()
    yield stack
    stack.stop()


def desk_answers(session: requests.Session, stack) -> bool:
    try:
        return desk(session, stack, "GET", "overview").ok
    except requests.RequestException:
        return False


def test_the_customers_messages_reach_the_desk_after_a_redis_restart(browser, restartable_stack):
    stack = restartable_stack
    sender = f"desk-redis-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "电视没信号")
    say(stack, sender, "转人工")
    errors: list[str] = []
    context, agent = desk_page(browser, stack, errors)
    try:
        only_waiting(stack, sender, stack.settings.demo_agent_name)
        agent.locator("#claim").click()
        agent.locator("#transcript .turn.customer", has_text="转人工").wait_for(timeout=15000)
        say(stack, sender, "你好，在吗")
        agent.locator("#transcript .turn.customer", has_text="你好，在吗").wait_for(timeout=15000)

        restart_redis(stack, down_for=REDIS_DOWN_S)
        other = desk_login(stack)
        wait_for(lambda: desk_answers(other, stack), 30)  # Redis is back for the desk
        assert agent.locator("#desk").is_visible(), "the desk session survives the restart"

        say(stack, sender, "电视还是没信号")
        agent.locator("#transcript .turn.customer", has_text="电视还是没信号").wait_for(timeout=30000)
        assert not errors, errors
    finally:
        context.close()
