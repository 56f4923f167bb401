"""``kefu peak --profile FILE``: the hourly table with and without Kefu, and its chart."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from bot.analytics.peak.model import HourComparison, compare, fmt_seconds, fmt_share
from bot.analytics.peak.profile import ProfileError, load_profile
from bot.analytics.peak.simulation import KefuEffect
from bot.cli_types import positive_seconds, share
from bot.security.private_files import write_private_file

FALLBACK_CONTAINMENT, FALLBACK_CALLBACK_SHARE = 0.30, 0.10
RECORD_DAYS = 30
# Below this many contacts with a request the measured containment is too uncertain to model a peak on:
# say so (a tester fed 21 contacts of one five-minute burst in, with no warning). About ±10 points at 100.
SMALL_SAMPLE = 100


def register(commands) -> None:
    peak = commands.add_parser("peak", help="peak-hour model: waits and agents needed with and without Kefu")
    peak.add_argument("--profile", required=True, type=Path, help="hourly CSV: hour,calls,agents,aht_s,patience_s[,vip_share]")
    peak.add_argument("--containment", default="record",
                      help="share of contacts with a request the assistant serves alone (0-1; the report's "
                           "containment), or 'record' for the last 30 days' measure")
    peak.add_argument("--callback-share", default="record", help="share of the rest taking a callback (0-1) or 'record'")
    peak.add_argument("--bot-seconds", type=float, default=60.0, help="mean time with the assistant before queueing")
    peak.add_argument("--sl-seconds", type=positive_seconds, default=None,
                      help="service-level threshold (default content/kpi.yml)")
    peak.add_argument("--sl-target", type=share, default=None, help="service-level target, 0-1 (default content/kpi.yml)")
    peak.add_argument("--chart", type=Path, default=None, help="where to draw the chart (default var/reports/peak.png)")
    peak.add_argument("--seed", type=int, default=1)
    peak.set_defaults(handler=cmd_peak)


def cmd_peak(args: argparse.Namespace) -> int:
    from bot.analytics.config import load_kpi_config, load_labels
    from bot.settings import get_settings

    settings = get_settings()
    config = load_kpi_config(settings.content_dir)
    try:
        hours = load_profile(args.profile)
        effect = _effect(args, settings.database_url, config.max_wait_s)
        labels = load_labels(settings.content_dir)
    except (ProfileError, ValueError) as exc:
        print(f"kefu peak: {exc}", file=sys.stderr)
        return 2
    sl_seconds = args.sl_seconds or config.sl_seconds
    sl_target = args.sl_target or config.sl_target
    rows = compare(hours, effect, sl_seconds=sl_seconds, sl_target=sl_target, seed=args.seed)
    print(f"Kefu effect: containment {effect.containment:.0%}, callbacks {effect.callback_share:.0%} of the rest, "
          f"{effect.bot_s:.0f} s with the assistant first; service level = answered within {sl_seconds:g} s, "
          f"target {sl_target:.0%}\n")
    print(table(rows))
    print("\nThe +K columns are a simulation of this profile, not a measurement: `kefu report` gives what was measured.")
    chart = args.chart or settings.data_dir / "reports" / "peak.png"
    from bot.analytics.peak.chart import peak_chart

    try:
        write_private_file(chart, peak_chart(rows, labels))  # reports are owner-only
    except OSError as exc:  # --chart a folder, under a file, on a read-only or full disk
        print(f"kefu peak: cannot write the chart to {chart}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"\nchart: {chart}")
    return 0


def _effect(args: argparse.Namespace, database_url: str, max_wait_s: float) -> KefuEffect:
    measured = None
    if "record" in (args.containment, args.callback_share):
        measured = measured_effect(database_url, max_wait_s)
        if measured is None:
            print(f"note: no contacts in the record for the last {RECORD_DAYS} days; using containment "
                  f"{FALLBACK_CONTAINMENT:.0%} and callbacks {FALLBACK_CALLBACK_SHARE:.0%} (give --containment to change)")
            measured = (FALLBACK_CONTAINMENT, FALLBACK_CALLBACK_SHARE)
        else:
            containment, callbacks, sample = measured
            print(f"measured in the record (last {RECORD_DAYS} days, {sample} contacts with a request): containment "
                  f"{containment:.0%} (the report's definition), callbacks {callbacks:.0%} of the contacts not contained")
            if sample < SMALL_SAMPLE:
                print(f"warning: only {sample} contacts with a request in the record: the measured containment is "
                      f"uncertain (give --containment to model another value)")
            measured = (containment, callbacks)
    containment = measured[0] if args.containment == "record" else float(args.containment)
    callbacks = measured[1] if args.callback_share == "record" else float(args.callback_share)
    for name, value in (("containment", containment), ("callback share", callbacks)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value:g}")
    if args.bot_seconds < 0:
        raise ValueError("--bot-seconds must not be negative")
    return KefuEffect(containment=containment, callback_share=callbacks, bot_s=args.bot_seconds)


def measured_effect(database_url: str, max_wait_s: float) -> tuple[float, float, int] | None:
    """(containment, callback share of the uncontained, contacts with a request) over the last days, or
    None without contacts; containment is the report's (``bot.analytics.kpis.figures``), on contacts read as the
    report reads them: one still queued since longer than the queue's ``max_wait_s`` (content/handoff.yml) and
    the margin ended, how unknown (``waits_over_before``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.analytics.contacts import split_contacts, waits_over_before
    from bot.analytics.kpis import figures
    from bot.db.repository import engine_for
    from bot.outcomes.store import read_events

    now = dt.datetime.utcnow()
    try:
        events = read_events(engine_for(database_url), now - dt.timedelta(days=RECORD_DAYS))
    except SQLAlchemyError:
        return None
    contacts = split_contacts(events, waits_over_before(now, max_wait_s))
    result = figures(contacts, sl_seconds=20)
    if result.containment is None:
        return None
    rest = [c for c in contacts if c.how not in ("assistant", "no_answer", "no_request")]
    callbacks = sum(1 for c in rest if c.how == "callback") / len(rest) if rest else 0.0
    return result.containment, callbacks, len(rest) + result.contained


def table(rows: list[HourComparison]) -> str:
    head = ("hour", "calls", "agents", "need", "need+K", "ASA s", "ASA+K", "SL", "SL+K", "aband", "aband+K", "|",
            "ErlC ASA", "ErlA ASA", "ErlA ab", "ErlA ASA+K", "ErlA ab+K")
    lines = [" ".join(f"{h:>9}" if h != "|" else h for h in head)]
    for row in rows:
        w, k = row.without, row.with_kefu
        cells = (f"{row.profile.hour:02d}:00", f"{row.profile.calls:g}", row.profile.agents, w.agents_needed,
                 k.agents_needed, fmt_seconds(w.simulated.asa_s), fmt_seconds(k.simulated.asa_s),
                 fmt_share(w.simulated.service_level), fmt_share(k.simulated.service_level),
                 fmt_share(w.simulated.abandonment), fmt_share(k.simulated.abandonment), "|",
                 fmt_seconds(w.erlang_c_asa_s), fmt_seconds(w.erlang_a_asa_s),
                 fmt_share(w.erlang_a_abandonment), fmt_seconds(k.erlang_a_asa_s), fmt_share(k.erlang_a_abandonment))
        lines.append(" ".join(f"{c!s:>9}" if c != "|" else c for c in cells))
    lines.append("\nASA/SL/aband: SimPy simulation (VIP first, callbacks worked when nobody waits, patience); "
                 "+K = with Kefu.\nneed: fewest agents for the SL target by Erlang C; ErlC/ErlA: the formulas "
                 "(Erlang C ASA is inf when calls exceed the agents' capacity).")
    return "\n".join(lines)
