"""The example Grafana dashboard only asks for metrics Kefu really exposes."""
from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY, generate_latest

from bot.observability import metrics
from bot.observability.state import StateSnapshot, state_registry
from tests.conftest import PROJECT_ROOT


def exposed_names() -> set[str]:
    metrics.TURN_SECONDS.labels("rest").observe(0.1)
    metrics.NLU_CONFIDENCE.labels("rest").observe(0.9)
    metrics.MESSAGES.labels("rest").inc(0)
    metrics.FALLBACKS.labels("rest").inc(0)
    metrics.count_outcome("handoff_queued", "rest")
    metrics.ASR_REAL_TIME_FACTOR.labels("ivr").observe(0.2)
    metrics.TTS_REQUESTS.labels("hit").inc(0)
    metrics.APOLOGIES.labels("redis").inc(0)
    metrics.UNHANDLED_ERRORS.labels("turn").inc(0)
    snapshot = StateSnapshot({"tv": 1}, {"tv": 5.0}, active_calls=0, outbox_backlog=0)
    text = (generate_latest(REGISTRY) + generate_latest(state_registry(snapshot))).decode()
    return set(re.findall(r"^(kefu_\w+?)(?:\{| )", text, flags=re.M))


def test_every_dashboard_query_uses_an_exposed_metric():
    dashboard = json.loads((PROJECT_ROOT / "deploy" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    wanted = {name for panel in dashboard["panels"] for target in panel["targets"]
              for name in re.findall(r"kefu_\w+", target["expr"])}
    assert wanted, "the dashboard queries nothing"
    assert wanted - exposed_names() == set()
