"""What an agent says to a REST conversation reaches the integration's callback URL, signed."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from aiohttp import web

from bot.embedded_redis import free_port
from bot.handoff.rest_delivery import OutboxOutput
from bot.outbound.rest_callback import SIGNATURE_HEADER, signature
from bot.outbound.worker import adapters_from_settings, deliver_pending
from bot.settings import from_environment
from tests.conftest import PROJECT_ROOT
from tests.sms_loopback import serving


@pytest.fixture
async def integration():
    """The integration's endpoint on a free port: yields (deliveries received, its URL, set its answer)."""
    received: list[dict] = []
    answer = {"status": 200}

    async def receive(request):
        received.append({"body": await request.read(), "headers": dict(request.headers)})
        return web.Response(status=answer["status"])

    app = web.Application()
    app.router.add_post("/kefu-messages", receive)
    async with serving(app) as base_url:
        yield received, f"{base_url}/kefu-messages", answer


async def agent_says(kefu_env, url: str, recipient: str, message: dict):
    """The agent's message queued for the integration at ``url``: (repository, the outbox's adapters)."""
    from bot.db.repository import Repository

    settings = from_environment(dict(kefu_env.env, KEFU_REST_CALLBACK_URL=url, KEFU_REST_CALLBACK_SECRET="s3cret"))
    await OutboxOutput().send_response(recipient, message)
    return Repository(kefu_env.database_url), adapters_from_settings(settings)


async def test_an_agents_message_is_posted_to_the_integration_signed_and_marked_sent(integration, kefu_env):
    received, url, _ = integration
    repository, adapters = await agent_says(kefu_env, url, "crm-4711", {
        "text": "您好，我是客服小王。", "buttons": [{"title": "好的", "payload": "/affirm"}]})

    counts = await deliver_pending(repository, adapters)

    assert counts["sent"] == 1 and len(received) == 1
    body = json.loads(received[0]["body"])
    assert body["recipient_id"] == "crm-4711" and body["text"] == "您好，我是客服小王。"
    assert body["buttons"] == [{"title": "好的", "payload": "/affirm"}]
    assert body["client_ref"].startswith("outbox-")
    assert received[0]["headers"][SIGNATURE_HEADER] == signature("s3cret", received[0]["body"])
    assert not repository.outbound(status="pending", channel="rest")


async def test_an_integration_that_is_down_gets_the_message_later_with_the_same_client_ref(integration, kefu_env):
    received, url, answer = integration
    answer["status"] = 503
    repository, adapters = await agent_says(kefu_env, url, "crm-4712", {"text": "请稍等。"})
    now = dt.datetime.utcnow()

    assert (await deliver_pending(repository, adapters, now=now))["retry"] == 1
    answer["status"] = 200
    assert (await deliver_pending(repository, adapters, now=now))["sent"] == 0 and len(received) == 1  # not yet due
    assert (await deliver_pending(repository, adapters, now=now + dt.timedelta(seconds=31)))["sent"] == 1

    refs = [json.loads(r["body"])["client_ref"] for r in received]
    assert len(refs) == 2 and refs[0] == refs[1]
    assert "attempts" not in json.loads(received[1]["body"])  # the outbox's bookkeeping stays home
    assert not repository.outbound(status="pending", channel="rest")


async def test_an_integration_that_refuses_leaves_the_message_failed_for_a_person(integration, kefu_env):
    received, url, answer = integration
    answer["status"] = 400
    repository, adapters = await agent_says(kefu_env, url, "crm-4712", {"text": "请稍等。"})

    counts = await deliver_pending(repository, adapters)

    assert counts["failed"] == 1 and counts["retry"] == 0 and len(received) == 1
    assert [row["recipient"] for row in repository.outbound(status="failed", channel="rest")] == ["crm-4712"]


def test_kefu_run_refuses_a_callback_url_without_its_secret(tmp_path):
    env = dict(os.environ, KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()), PYTHONPATH=str(PROJECT_ROOT),
               KEFU_REST_CALLBACK_URL="https://crm.example.cn/kefu")
    env.pop("KEFU_REST_CALLBACK_SECRET", None)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "KEFU_REST_CALLBACK_SECRET" in done.stderr
    assert "Kefu is running" not in done.stdout
