"""The example alert rules in deploy/ (SRE tester, finding 8: none shipped although the README says to
alert). promtool is not installed here: the rules are parsed, and every Kefu metric they use must be
one Kefu exposes — a renamed metric would leave an alert that never fires."""
from __future__ import annotations

import re

import yaml
from tests.conftest import PROJECT_ROOT
from tests.ops.exposition import exposition

RULES = PROJECT_ROOT / "deploy" / "kefu-alerts.yml"
WANTED = {"kefu_queue_longest_wait_seconds", "kefu_agents_available", "kefu_dependency_up",
          "kefu_data_dir_free_bytes", "kefu_worker_restarts_total", "kefu_kept_requests", "kefu_ticket_events",
          "kefu_outbox_oldest_pending_seconds", "kefu_outbox_failed", "kefu_outcome_events_waiting"}


def exposed_names() -> set[str]:
    return set(re.findall(r"^# (?:HELP|TYPE) (\S+)", exposition(), re.MULTILINE))


def test_alert_rules_parse_and_use_only_metrics_kefu_exposes():
    rules = [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]
    assert rules and all({"alert", "expr", "annotations"} <= set(rule) for rule in rules), rules
    used = set()
    for rule in rules:
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        used |= set(re.findall(r"\bkefu_[a-z_]+\b", rule["expr"]))
    assert WANTED <= used  # longest wait, no agent available, dependency down, disk low, worker restarts,
    # requests kept while the database was down that could not be filed, ticket events given up, messages to
    # customers stuck in the outbox or given up
    assert sorted(used - exposed_names()) == []


def test_the_scrape_example_loads_the_rules():
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    assert RULES.name in config["rule_files"]
