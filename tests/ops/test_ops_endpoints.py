"""`/health` and `/metrics` on the running stack, as a load balancer and Prometheus see them."""
from __future__ import annotations

import types
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bot.channels.ops import OpsInput

pytestmark = pytest.mark.slow


def scrape(stack) -> dict:
    answer = requests.get(f"{stack.settings.rasa_url}/metrics", timeout=10)
    assert answer.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_health_checks_redis_database_and_action_server(running_kefu):
    answer = requests.get(f"{running_kefu.settings.rasa_url}/health", timeout=10)
    assert answer.status_code == 200
    assert {name for name, check in answer.json()["checks"].items() if check["ok"]} == {
        "redis", "database", "action_server", "warm_up", "disk"}


def test_metrics_count_a_rest_turn_from_every_process(running_kefu):
    before = scrape(running_kefu).get(("kefu_turn_seconds_count", (("channel", "rest"),)), 0)
    reply = requests.post(f"{running_kefu.settings.rasa_url}/webhooks/rest/webhook", timeout=60,
                          json={"sender": "metrics-" + uuid.uuid4().hex[:8], "message": "我家电视没信号了"})
    assert reply.ok and reply.json()
    found = scrape(running_kefu)
    assert found[("kefu_turn_seconds_count", (("channel", "rest"),))] == before + 1
    assert found[("kefu_nlu_confidence_count", (("channel", "rest"),))] >= 1
    # the action server (another process) recorded the outcome; the Rasa server's /metrics adds it up
    assert any(name == "kefu_outcomes_total" and dict(labels).get("channel") == "rest"
               for name, labels in found)
    assert found[("kefu_dependency_up", (("dependency", "redis"),))] == 1
    assert ("kefu_active_calls", ()) in found and ("kefu_outbox_backlog", ()) in found


@pytest.mark.parametrize("token, ip, header, allowed", [
    ("", "127.0.0.1", "", True),
    ("", "10.0.0.8", "", False),
    ("s3cret", "10.0.0.8", "Bearer s3cret", True),
    ("s3cret", "127.0.0.1", "Bearer wrong", False),
])
def test_metrics_need_the_token_or_loopback(kefu_env, token, ip, header, allowed):
    import dataclasses

    channel = OpsInput(dataclasses.replace(kefu_env, metrics_token=token))
    request = types.SimpleNamespace(ip=ip, headers={"authorization": header} if header else {})
    assert channel.allowed(request) is allowed


def test_a_voice_message_for_a_person_is_a_handoff_in_metrics_as_in_the_report(running_kefu):
    """Found by a tester: the report counted voice messages (channel ivr) as handoffs, /metrics had
    no ivr series at all (`kefu voicemail` runs in its own process, outside the stack's scrape)."""
    import subprocess
    import sys

    from bot.analytics.contacts import split_contacts
    from bot.db.repository import Repository
    from tests.conftest import PROJECT_ROOT, SHARED_SPEECH

    clip = SHARED_SPEECH / "aishell1_BAC009S0764W0121.wav"
    if not clip.is_file():
        pytest.skip(f"clip {clip.name} missing from {SHARED_SPEECH}")
    series = ("kefu_handoffs_total", (("channel", "ivr"),))
    before = scrape(running_kefu).get(series, 0)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "voicemail", str(clip), "--from", "13900000127"],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
                          env={**running_kefu.settings.env, "VOSK_MODEL_PATH": ""})  # as on `make run`: no model
    assert done.returncode == 0 and "outcome: needs_human (asr_unavailable)" in done.stdout, done.stderr
    [message] = Repository(running_kefu.settings.database_url).voice_messages(limit=1)
    [contact] = split_contacts(Repository(running_kefu.settings.database_url).events_for(f"voicemail-{message['id']}"))
    assert contact.handoff_requested, "the report counts it as a handoff"
    assert scrape(running_kefu)[series] == before + 1
