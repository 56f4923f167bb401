"""The report's labels read under a name built at run time (``how_<outcome>``, ``stage_<stage>``,
``kpi_<figure>``, ``def_<figure>``, ``legend_<line>``, ``channel_<channel>``), with every value the code can
build it from: one missing showed the code word (an outcome, in the outcomes table; a channel, in the channel
table and the volume chart's legend), an empty definition under a figure's card, or ended `kefu report` in a
KeyError traceback after reading the whole period (the satisfaction table, a ticket stage, a figure's card,
the trend's legend).
Kept apart from the HTML and the charts (which import matplotlib) so `kefu validate` reads it quickly."""
from __future__ import annotations

from bot.analytics.contacts import HOW
from bot.analytics.report.tickets import STAGE_OF_STEP, STAGES
from bot.channels.names import contact_channels

# The summary's cards, in order: ``kpi_<figure>`` above its value, ``def_<figure>`` under it.
KPI_CARDS = ("contacts", "containment", "fcr_24h", "fcr_48h", "handoff_rate", "asa", "wait_median", "wait_p90",
             "wait_max", "service_level", "abandonment", "abandon_median", "selfhelp_sent", "aht", "csat",
             "csat_count")
TREND_LINES = ("containment", "fcr_24h")  # the daily trend chart's lines, ``legend_<line>``

BUILT_LABELS: dict[str, tuple[str, ...]] = {
    "how_": HOW,
    "stage_": tuple(dict.fromkeys(STAGES + tuple(STAGE_OF_STEP.values()))),
    "kpi_": KPI_CARDS,
    "def_": KPI_CARDS,
    "legend_": TREND_LINES,
    "channel_": contact_channels(),
}


def built_labels() -> list[str]:
    return [prefix + value for prefix, values in BUILT_LABELS.items() for value in values]
