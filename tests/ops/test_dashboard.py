"""The example Grafana dashboard only asks for metrics Kefu really exposes."""
from __future__ import annotations

import json
import re

from bot.observability import metrics
from tests.conftest import PROJECT_ROOT
from tests.ops.exposition import exposition


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
    metrics.WORKER_RESTARTS.labels("signal").inc(0)
    metrics.show_every_refusal_reason()
    return set(re.findall(r"^(kefu_\w+?)(?:\{| )", exposition(), flags=re.M))


def dashboard() -> dict:
    return json.loads((PROJECT_ROOT / "deploy" / "grafana-dashboard.json").read_text(encoding="utf-8"))


def test_every_dashboard_query_uses_an_exposed_metric():
    wanted = {name for panel in dashboard()["panels"] for target in panel["targets"]
              for name in re.findall(r"kefu_\w+", target["expr"])}
    assert wanted, "the dashboard queries nothing"
    assert wanted - exposed_names() == set()


def test_every_metric_kefu_exposes_has_a_panel():
    """On-call: agents available, requests kept while the database was down, free disk and worker restarts
    each had an alert and no panel, so nobody saw them coming. Counters' ``_created`` companions excepted."""
    families = {name for name in re.findall(r"^# TYPE (kefu_\w+) ", exposition(), flags=re.M)
                if not name.endswith("_created")}
    queried = {name for panel in dashboard()["panels"] for target in panel["targets"]
               for name in re.findall(r"kefu_\w+", target["expr"])}
    unshown = {family for family in families if not any(q == family or q.startswith(family + "_") for q in queried)}
    assert unshown == set()


def test_ticket_events_have_their_own_panel_by_state_apart_from_the_sms_backlog():
    """On-call: the ticket events for the dispatch system had no panel, and were counted in the SMS/WeChat
    backlog's. Shared gauges are read by every machine: max(), never sum()."""
    panels = dashboard()["panels"]
    exprs = {panel["title"]: [target["expr"] for target in panel["targets"]] for panel in panels}
    shown = [title for title, queries in exprs.items() if any("kefu_ticket_events" in q for q in queries)]
    assert len(shown) == 1, shown
    [query] = exprs[shown[0]]
    assert re.fullmatch(r"max by \(state\) \(kefu_ticket_events\)", query), query
    [backlog] = [title for title, queries in exprs.items() if any("kefu_outbox_backlog" in q for q in queries)]
    assert backlog != shown[0]


def test_panels_do_not_overlap():
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, (panel["title"], taken[(x, y)])
                taken[(x, y)] = panel["title"]
