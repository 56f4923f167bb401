"""What /metrics shows with every level Kefu reads present: the names the deploy/ examples may use."""
from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from bot.observability import metrics  # noqa: F401 - defines Kefu's counters in the registry
from bot.observability.state import StateSnapshot, state_registry


def exposition() -> str:
    snapshot = StateSnapshot(queue_length={"tv": 1}, longest_wait_s={"tv": 1.0}, queue_gone={"tv": 0},
                             agents_signed_in={"tv": 1}, agents_available={"tv": 0}, active_calls=0,
                             outbox_backlog=0, outbox_failed=0, outbox_oldest_pending_s=0.0,
                             data_dir_free_bytes=1, kept_requests={"waiting": 0, "set_aside": 0},
                             ticket_events={"pending": 0, "failed": 0}, outcome_events_waiting=0)
    return (generate_latest(REGISTRY) + generate_latest(state_registry(snapshot))).decode()
