"""The example alert rules in deploy/ (SRE tester, finding 8: none shipped although the README says to
alert). promtool is not installed here: the rules are parsed, and every Kefu metric they use must be
one Kefu exposes — a renamed metric would leave an alert that never fires."""
from __future__ import annotations

import re

import yaml
from prometheus_client import REGISTRY, generate_latest

from bot.observability import metrics  # noqa: F401 - defines Kefu's counters in the registry
from bot.observability.state import StateSnapshot, state_registry
from tests.conftest import PROJECT_ROOT

RULES = PROJECT_ROOT / "deploy" / "kefu-alerts.yml"
WANTED = {"kefu_queue_longest_wait_seconds", "kefu_agents_available", "kefu_dependency_up",
          "kefu_data_dir_free_bytes", "kefu_worker_restarts_total", "kefu_kept_requests", "kefu_ticket_events"}


def exposed_names() -> set[str]:
    snapshot = StateSnapshot(queue_length={"tv": 1}, longest_wait_s={"tv": 1.0}, queue_gone={"tv": 0},
                             agents_signed_in={"tv": 1}, agents_available={"tv": 0}, active_calls=0,
                             outbox_backlog=0, data_dir_free_bytes=1, kept_requests={"waiting": 0, "set_aside": 0},
                             ticket_events={"pending": 0, "failed": 0})
    text = (generate_latest(REGISTRY) + generate_latest(state_registry(snapshot))).decode()
    return set(re.findall(r"^# (?:HELP|TYPE) (\S+)", text, re.MULTILINE))


def test_alert_rules_parse_and_use_only_metrics_kefu_exposes():
    rules = [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]
    assert rules and all({"alert", "expr", "annotations"} <= set(rule) for rule in rules), rules
    used = set()
    for rule in rules:
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        used |= set(re.findall(r"\bkefu_[a-z_]+\b", rule["expr"]))
    assert WANTED <= used  # longest wait, no agent available, dependency down, disk low, worker restarts,
    # requests kept while the database was down that could not be filed, ticket events given up
    assert sorted(used - exposed_names()) == []


def test_the_scrape_example_loads_the_rules():
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    assert RULES.name in config["rule_files"]
