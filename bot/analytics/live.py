"""Live figures for supervisors at the desk: the queues now, and today's KPIs so far.

Queue figures come from Redis (the handoff queue's own keys), today's KPIs from the outcome
record for the local day (``content/kpi.yml`` timezone), computed off the event loop.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from bot.analytics.config import centre_zone, load_kpi_config
from bot.analytics.contacts import STARTS, split_contacts, waits_over_before
from bot.analytics.kpis import figures
from bot.analytics.report.period import period
from bot.db.repository import engine_for
from bot.handoff.presence import gone_among
from bot.handoff.queue import HandoffQueue
from bot.outcomes.store import read_whole_contacts


async def queue_figures(queue: HandoffQueue) -> list[dict]:
    """Per skill group: customers waiting and the longest wait so far (seconds). A web-chat customer who
    closed the page keeps their place for the grace period but waits for nobody: counted apart (``gone``)."""
    now = queue.clock()
    result = []
    for skill in queue.rules.skills:
        waiting = await queue.waiting(skill)
        entries = await queue.entries(waiting)
        gone = await gone_among(queue.redis, entries, now)
        # Since each last joined the queue (``waiting_since``): a transfer keeps ``enqueued_at`` for the place in line.
        since = [e["waiting_since"] for e in entries if e.get("waiting_since") and e["conversation_id"] not in gone]
        label = queue.rules.skills.get(skill, skill) if isinstance(queue.rules.skills, dict) else skill
        result.append({"skill": skill, "label": label, "waiting": len(waiting) - len(gone), "gone": len(gone),
                       "longest_wait_s": round(max(0.0, now - min(since)), 1) if since else 0.0})
    return result


def today_figures(database_url: str, content_dir: Path, now: dt.datetime | None = None) -> dict:
    config = load_kpi_config(content_dir)
    day = period("today", "today", config.timezone, now)
    # Contacts under way at midnight are read whole, as the report reads them, and only those that started
    # today kept: the part after midnight of a contact begun yesterday was counted as a contact of its own
    # (found by a tester: the new day's wallboard opened with three contacts the report gives to the day before).
    events = read_whole_contacts(engine_for(database_url), day.start_utc, day.end_utc, STARTS)
    waits_over = waits_over_before(now or dt.datetime.now(dt.timezone.utc), config.max_wait_s)
    contacts = [c for c in split_contacts(events, waits_over) if c.started_at >= day.start_utc]
    f = figures(contacts, sl_seconds=config.sl_seconds)
    return {"day": day.first.isoformat(), "contacts": f.contacts, "asa_s": f.asa_s, "service_level": f.service_level,
            "sl_seconds": config.sl_seconds, "sl_target": config.sl_target, "abandonment": f.abandonment,
            "containment": f.containment, "answered": f.answered, "abandoned": f.abandoned,
            "selfhelp_sent": f.selfhelp_sent,
            "wait_median_s": f.wait_median_s, "wait_p90_s": f.wait_p90_s, "wait_max_s": f.wait_max_s,
            "abandon_median_s": f.abandon_median_s}


async def live_figures(queue: HandoffQueue, database_url: str, content_dir: Path) -> dict:
    today = await asyncio.to_thread(today_figures, database_url, content_dir)
    return {"queues": await queue_figures(queue), "today": today, "timezone": centre_zone(content_dir).key}
