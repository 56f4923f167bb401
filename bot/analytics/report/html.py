"""The report as one self-contained HTML page: charts are embedded PNGs, no external files."""
from __future__ import annotations

import base64
import datetime as dt
from html import escape
from zoneinfo import ZoneInfo

from bot.analytics.config import local_time
from bot.analytics.kpis import Figures
from bot.analytics.report import charts
from bot.analytics.report.data import RESOLVERS, ReportData
from bot.analytics.report.label_names import KPI_CARDS
from bot.analytics.report.tickets import STAGE_OF_STEP
from bot.ledger.ledger import MonthlySummary
from bot.ledger.rules import STEPS

STYLE = """body{font-family:"WenQuanYi Micro Hei",sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%;display:block;margin:.5em 0 1.5em}
.kpis{display:flex;flex-wrap:wrap;gap:.8em}.kpi{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:9em}
.kpi b{display:block;font-size:1.4em}.kpi{max-width:16em}.kpi small{display:block;color:#555;margin-top:.3em}"""


def render_html(data: ReportData, labels: dict, generated_at: dt.datetime, names: dict | None = None) -> str:
    """``names``: what people call a skill group, a self-help entry, a ticket kind and a topic
    (``skill``, ``selfhelp``, ``ticket_kind``, ``intent``: code -> name); a supervisor read "billing" and "remote_no_response" where the desk says 账单与业务 (found by
    a tester). The CSV keeps the codes."""
    L = labels
    names = names or {}
    generated = local_time(generated_at, ZoneInfo(data.period.timezone))  # the period's zone, as the header says
    parts = [f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(L['title'])}</title>",
             f"<style>{STYLE}</style></head><body><h1>{escape(L['title'])}</h1>",
             f"<p>{escape(L['period'].format(start=data.period.first, end=data.period.last, timezone=data.period.timezone))}"
             + (f"<br>{escape(L['period_hours'].format(hours=data.period.hours_label, timezone=data.period.timezone))}"
                if data.period.hours is not None else "")
             + f"<br>{escape(L['period_zone_note'].format(timezone=data.period.timezone))}"
             f"<br>{escape(L['generated'].format(at=generated, timezone=data.period.timezone))}</p>",
             f"<h2>{escape(L['summary_title'])}</h2>", _kpi_cards(data.overall, L, data.config.sl_seconds)]
    if data.overall.contacts == 0:
        future = data.period.start_utc > generated_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
        empty = L["period_future"].format(timezone=data.period.timezone) if future else L["empty"]
        parts.append(f"<p class='empty'>{escape(empty)}</p>")
    else:
        parts += [_image(charts.volume_chart(data, L), L["volume_title"]),
                  _image(charts.trend_chart(data, L), L["trend_title"]),
                  _image(charts.asa_chart(data, L), L["asa_title"])]
        if data.top_intents:
            parts.append(_image(charts.intents_chart(data, L, names.get("intent")), L["intents_title"]))
        parts.append(f"<h2>{escape(L['outcomes_title'])}</h2>" + _table(
            [L["column_group"], L["column_count"]], [(L.get(f"how_{h}", h), n) for h, n in data.overall.outcomes]))
        parts += [_group_table(L["by_channel_title"], data.by_channel, L, channel=True),
                  _group_table(L["by_skill_title"], data.by_skill, L, named=names.get("skill")),
                  _group_table(L["by_intent_title"], data.by_intent, L,
                               named={**(names.get("intent") or {}), "-": L["no_topic"]}),
                  _csat_by_resolver(data, L)]
        if data.by_agent:
            parts.append(_group_table(L["by_agent_title"], data.by_agent, L))
        if data.selfhelp:
            titles = names.get("selfhelp") or {}
            parts.append(f"<h2>{escape(L['selfhelp_title'])}</h2>"
                         + _image(charts.selfhelp_chart(data, L, titles), L["selfhelp_title"])
                         + _table([L["column_entry"], L["column_sent"], L["column_resolved"], L["column_failed"],
                                   L["column_no_answer"], L["column_success"]],
                                  [(titles.get(s.entry, s.entry), s.sent, s.resolved, s.failed, s.no_answer,
                                    _share(s.success, L))
                                   for s in data.selfhelp]))
        parts.append(f"<h2>{escape(L['repeat_title'])}</h2>" + _table(
            [L["column_phone"], L["column_account"], L["column_contacts"], L["column_channels"]],
            [(r.phone or L["no_value"], r.account or L["no_value"], r.contacts,
              "、".join(charts.channel_name(L, c) for c in r.channels.split(","))) for r in data.repeaters]))
    kinds = names.get("ticket_kind") or {}
    loop = data.tickets
    parts.append(f"<h2>{escape(L['tickets_title'])}</h2>" + _table(
        [L["column_kind"]] + [L[f"stage_{s}"] for s in loop.reached],
        [(kinds.get(k, k), *reached.values()) for k, reached in loop.by_kind.items()]
        + [(L["row_total"], *loop.reached.values())]))
    parts.append(f"<h2>{escape(L['overdue_title'])}</h2>" + _table(
        [L["column_ticket"], L["column_kind"], L["column_created"], L["column_stage"], L["column_age_hours"]],
        [(t, kinds.get(k, k), c.strftime("%Y-%m-%d %H:%M"), L[f"stage_{s}"], a) for t, k, c, s, a in loop.overdue]))
    parts += [_ledger_month(summary, L) for summary in data.ledger]
    parts.append("</body></html>")
    return "\n".join(parts)


def _csat_by_resolver(data: ReportData, L: dict) -> str:
    """Satisfaction of contacts the assistant resolved beside those an agent resolved."""
    rows = []
    for how in RESOLVERS:
        f = data.by_resolver.get(how)
        count, average = (f.csat_count, f.csat_average) if f else (0, None)
        rows.append((L[f"how_{how}"], f.contacts if f else 0, count,
                     L["no_value"] if average is None else f"{average:.2f}",
                     *(f.csat_distribution if f else (0,) * 5)))
    head = [L["column_group"], L["kpi_contacts"], L["kpi_csat_count"], L["kpi_csat"],
            *(L["column_score"].format(score=s) for s in range(1, 6))]
    return f"<h2>{escape(L['csat_by_resolver_title'])}</h2>" + _table(head, rows)


def _ledger_month(summary: MonthlySummary, L: dict) -> str:
    """The ledger's monthly review: counts and flags, items per type and step, median hours to each step."""
    stages = [L[f"stage_{STAGE_OF_STEP[step]}"] for step in STEPS]
    facts = _table([L["column_group"], L["column_count"]],
                   [(L["ledger_registered"], summary.registered), (L["ledger_overdue"], summary.overdue),
                    (L["ledger_repeats"], summary.repeats), (L["ledger_closed_in_time"], summary.closed_in_time)])
    by_kind = _table([L["column_kind"], *stages, L["column_count"]],
                     [(kind, *steps.values(), sum(steps.values())) for kind, steps in summary.by_kind_step.items()])
    medians = _table([L["column_stage"], L["column_median_hours"]],
                     [(L[f"stage_{STAGE_OF_STEP[step]}"], L["no_value"] if hours is None else f"{hours:g}")
                      for step, hours in summary.median_hours_to.items()])
    return f"<h2>{escape(L['ledger_title'].format(month=summary.month))}</h2>" + facts + by_kind + medians


def _share(value: float | None, L: dict) -> str:
    return L["no_value"] if value is None else f"{value:.0%}"


def _seconds(value: float | None, L: dict) -> str:
    return L["no_value"] if value is None else f"{value:.1f}"


def _kpi_cards(f: Figures, L: dict, sl_seconds: float) -> str:
    """One card per figure, each with its definition under it (``def_<figure>`` in the labels): found by a
    tester, a manager could not tell what 接入量 or 机器人独立解决率 counted."""
    seconds = f"{sl_seconds:g}"
    csat = L["no_value"] if f.csat_average is None else f"{f.csat_average:.2f}"
    shown = {"contacts": str(f.contacts), "containment": _share(f.containment, L),
             "fcr_24h": _share(f.fcr_24h, L), "fcr_48h": _share(f.fcr_48h, L),
             "handoff_rate": _share(f.handoff_rate, L), "asa": _seconds(f.asa_s, L),
             "wait_median": _seconds(f.wait_median_s, L), "wait_p90": _seconds(f.wait_p90_s, L),
             "wait_max": _seconds(f.wait_max_s, L), "service_level": _share(f.service_level, L),
             "abandonment": _share(f.abandonment, L), "abandon_median": _seconds(f.abandon_median_s, L),
             "selfhelp_sent": str(f.selfhelp_sent),
             "aht": _seconds(f.aht_s, L), "csat": csat, "csat_count": str(f.csat_count)}
    cards = [(key, shown[key]) for key in KPI_CARDS]  # the cards kefu validate knows the labels of
    return "<div class='kpis'>" + "".join(
        f"<div class='kpi'>{escape(L['kpi_' + key].format(seconds=seconds))}<b>{escape(value)}</b>"
        f"<small>{escape(L.get('def_' + key, '').format(seconds=seconds))}</small></div>"
        for key, value in cards) + "</div>"


def _group_table(title: str, groups: dict[str, Figures], L: dict, channel: bool = False,
                 named: dict | None = None) -> str:
    head = [L["column_group"], L["kpi_contacts"], L["kpi_containment"], L["kpi_fcr_24h"], L["kpi_asa"],
            L["kpi_abandonment"], L["kpi_aht"], L["kpi_csat"]]
    rows = [(charts.channel_name(L, g) if channel else (named or {}).get(g, g), f.contacts, _share(f.containment, L), _share(f.fcr_24h, L),
             _seconds(f.asa_s, L), _share(f.abandonment, L), _seconds(f.aht_s, L),
             L["no_value"] if f.csat_average is None else f"{f.csat_average:.2f}") for g, f in groups.items()]
    return f"<h2>{escape(title)}</h2>" + _table(head, rows)


def _table(head: list, rows: list) -> str:
    cells = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _image(data: bytes, alt: str) -> str:
    return f"<img class='chart' alt='{escape(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
