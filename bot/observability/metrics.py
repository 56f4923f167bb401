"""Kefu's Prometheus metrics, defined once for every process.

Counters and histograms are process-local; with ``PROMETHEUS_MULTIPROC_DIR`` set (the launcher sets
it for the Rasa server, its workers and the action server) prometheus-client writes them to files in
that folder and ``/metrics`` adds up every process, dead or alive. Levels that are facts about shared
state (queue length, live calls, outbox backlog) are not kept here: :mod:`bot.observability.state`
reads them from Redis and the database when Prometheus scrapes.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import mmap_dict, multiprocess, values

logger = logging.getLogger(__name__)


def multiprocess_folder_problem(folder: str) -> str | None:
    """Why prometheus-client cannot keep its files in ``folder``, or None when it can: not writable
    (it raised at import and the Rasa server never started), or too full (its ``mmap``'d files, made
    with ``truncate`` and no space reserved, kill the process with SIGBUS on first use)."""
    from bot.observability.disk_space import START_MIN_FREE_BYTES, describe, free_bytes

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    free = free_bytes(Path(folder))
    if free is not None and free < START_MIN_FREE_BYTES:
        return describe(Path(folder), free)
    return None


def serve_without_broken_metrics_folder() -> None:
    """Metrics must never stop Kefu serving customers. When the shared folder cannot be used, this
    process counts in memory instead (its own ``/metrics`` shows only its own counts) and says so once."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # prometheus-client's own variable
    if not folder:
        return
    problem = multiprocess_folder_problem(folder)
    if problem is None:
        return
    logger.error("metrics.folder_unusable folder=%s error=%s; this process keeps its metrics in memory, "
                 "so /metrics shows only its own counts until the folder is fixed and Kefu restarted",
                 folder, problem)
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    values.ValueClass = values.get_value_class()  # chosen at import of prometheus_client: choose again


class OwnerOnlyMmapedDict(mmap_dict.MmapedDict):
    """prometheus-client's metric file, readable by its owner only like Kefu's other files (they were
    0644, SRE tester finding 10). The library opens them itself and offers no mode."""

    def __init__(self, filename, read_mode=False):
        super().__init__(filename, read_mode)
        if not read_mode:
            os.chmod(filename, 0o600)


serve_without_broken_metrics_folder()  # before the metrics below make their files
values.MmapedDict = OwnerOnlyMmapedDict  # what MultiProcessValue makes its files with

TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20)

TURN_SECONDS = Histogram("kefu_turn_seconds", "Customer message to the bot's answer being stored, per channel",
                         ["channel"], buckets=TURN_BUCKETS)
NLU_CONFIDENCE = Histogram("kefu_nlu_confidence",
                           "Confidence of the top intent of each customer message the NLU read (not of one with no "
                           "text, nor of an intent payload such as a menu click)",
                           ["channel"], buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0))
NLU_SECOND_READINGS = Counter("kefu_nlu_second_readings",
                              "Customer messages the intent blend doubted, read again by E5 (bot/nlu/second_reading.py)")
MESSAGES = Counter("kefu_messages", "Customer messages handled by the assistant", ["channel"])
FALLBACKS = Counter("kefu_fallbacks", "Turns the assistant did not understand (nlu_fallback / default fallback)",
                    ["channel"])
HANDOFFS = Counter("kefu_handoffs", "Conversations offered to or queued for a human", ["channel"])
OUTCOMES = Counter("kefu_outcomes", "Outcome events recorded, per kind and channel",
                   ["kind", "channel"])
ASR_REAL_TIME_FACTOR = Histogram("kefu_asr_real_time_factor", "Decoding time / audio duration per utterance",
                                 ["source"], buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 4))
TTS_REQUESTS = Counter("kefu_tts_requests", "Text-to-speech requests by cache result", ["cache"])
APOLOGIES = Counter("kefu_service_apologies", "Customers told a part of Kefu is unavailable", ["dependency"])
WORKER_RESTARTS = Counter("kefu_worker_restarts", "Server worker processes that died and were started again "
                          "(bot/sanic_workers.py), by how they ended", ["exit"])
UNHANDLED_ERRORS = Counter("kefu_unhandled_errors", "Unexpected exceptions that reached the last handler",
                           ["where"])
# Why a phone stream was turned away (bot/channels/ivr.py, bot/ivr/places.py); see README "Phone (IVR)".
CALL_REFUSAL_REASONS = ("not_started_full", "busy", "unvouched_full", "unvouched_rate", "unvouched_address",
                        "unvouched_ended", "duplicate_stream", "no_redis")
CALLS_REFUSED = Counter("kefu_calls_refused", "Phone streams refused, or unvouched calls ended to make room for the "
                        "carrier's, by reason", ["reason"])


def multiprocess_dir() -> str | None:
    """The folder shared by every Kefu process, when the launcher set one (prometheus-client reads it)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None  # prometheus-client's own variable


def exposition(extra: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The text Prometheus scrapes: every process's counters, plus ``extra`` (scrape-time levels)."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if extra is not None:
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


# A handoff: a conversation queued for an agent, or a message left for one (a voice message's work
# item) — the contacts the report counts as handoffs (bot/analytics/contacts.py HANDOFF_KINDS).
HANDOFF_OUTCOMES = {"handoff_queued", "handoff_work_item"}


def count_outcome(kind: str, channel: str, data: dict | None = None) -> None:
    """Called for every outcome event stored. selfhelp_resolved against the handoffs is not containment
    (that needs whole contacts: bot/analytics/kpis.py); the dashboard names it for what it is. A conversation
    an agent transferred or gave back is queued again (``transferred``), and a caller back at the place they left
    (``back_in_line``): the same handoff, not another."""
    channel = channel or "unknown"
    OUTCOMES.labels(kind, channel).inc()
    again = any((data or {}).get(flag) for flag in ("transferred", "back_in_line"))
    if kind in HANDOFF_OUTCOMES and not again:
        HANDOFFS.labels(channel).inc()


def join_multiprocess(folder: Path | None) -> bool:
    """A one-shot command (``kefu voicemail``) counts into the stack's folder, so ``/metrics`` shows
    what it did after it exits; only when a stack made the folder and before any labelled metric is used."""
    if multiprocess_dir() or folder is None or not Path(folder).is_dir():
        return False
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)  # read by prometheus-client's multiprocess files
    values.ValueClass = values.MultiProcessValue()  # chosen at import; labelled children look it up when made
    return True


def observe_real_time_factor(source: str, decode_seconds: float, audio_seconds: float) -> None:
    """Decoding time over audio length: above 1 the recogniser falls behind live speech."""
    if audio_seconds > 0:
        ASR_REAL_TIME_FACTOR.labels(source).observe(decode_seconds / audio_seconds)


def count_refused_call(reason: str) -> None:
    """One phone stream turned away (or an unvouched call ended for a vouched one), for ``reason``."""
    CALLS_REFUSED.labels(reason).inc()


def show_every_refusal_reason() -> None:
    """Each reason's series from the start, at 0: a rate over a series that appears at its first count
    misses that count."""
    for reason in CALL_REFUSAL_REASONS:
        CALLS_REFUSED.labels(reason)
