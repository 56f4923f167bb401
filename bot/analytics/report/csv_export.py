"""The CSV beside the report: one row per figure (section, group, metric, value)."""
from __future__ import annotations

import csv
import dataclasses
import io

from bot.analytics.kpis import Figures
from bot.analytics.report.data import ReportData


def figure_rows(section: str, group: str, f: Figures) -> list[tuple]:
    rows = []
    for name, value in dataclasses.asdict(f).items():
        if name == "csat_distribution":
            rows += [(section, group, f"csat_{score}", count) for score, count in enumerate(value, 1)]
        elif name == "outcomes":
            rows += [(section, group, f"how_{how}", count) for how, count in value]
        else:
            rows.append((section, group, name, "" if value is None else round(value, 4) if isinstance(value, float) else value))
    return rows


def report_csv(data: ReportData) -> str:
    rows: list[tuple] = [("section", "group", "metric", "value"),
                         ("period", "", "from", data.period.first.isoformat()),
                         ("period", "", "to", data.period.last.isoformat()),
                         ("period", "", "timezone", data.period.timezone),
                         *([("period", "", "hours", data.period.hours_label)] if data.period.hours is not None else []),
                         ("period", "", "service_level_seconds", data.config.sl_seconds)]
    rows += figure_rows("overall", "", data.overall)
    for section, groups in (("channel", data.by_channel), ("skill", data.by_skill), ("intent", data.by_intent),
                            ("hour", data.by_hour), ("day", data.by_day), ("resolved_by", data.by_resolver),
                            ("agent", data.by_agent)):
        for group, f in groups.items():
            rows += figure_rows(section, group, f)
    rows += [("volume", f"{hour}|{channel}", "contacts", n) for (hour, channel), n in sorted(data.volume.items())]
    rows += [("top_intents", intent, "contacts", n) for intent, n in data.top_intents]
    for s in data.selfhelp:
        rows += [("selfhelp", s.entry, name, value) for name, value in
                 (("sent", s.sent), ("resolved", s.resolved), ("failed", s.failed), ("no_answer", s.no_answer),
                  ("success", "" if s.success is None else round(s.success, 4)))]
    for r in data.repeaters:
        rows += [("repeat_customers", r.customer, name, value) for name, value in
                 (("contacts", r.contacts), ("phone", r.phone), ("account_number", r.account))]
    rows += [("tickets", stage, "reached", n) for stage, n in data.tickets.reached.items()]
    rows += [("tickets_" + kind, stage, "reached", n) for kind, reached in data.tickets.by_kind.items()
             for stage, n in reached.items()]
    rows += [("tickets_overdue", ticket_id, "age_hours", age) for ticket_id, _, _, _, age in data.tickets.overdue]
    for month in data.ledger:
        rows += [("ledger", month.month, name, value) for name, value in
                 (("registered", month.registered), ("overdue", month.overdue), ("repeats", month.repeats),
                  ("closed_in_time", month.closed_in_time))]
        rows += [("ledger", f"{month.month}|{kind}", f"at_{step}", n)
                 for kind, steps in month.by_kind_step.items() for step, n in steps.items()]
        rows += [("ledger", month.month, f"median_hours_to_{step}", "" if hours is None else hours)
                 for step, hours in month.median_hours_to.items()]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()
