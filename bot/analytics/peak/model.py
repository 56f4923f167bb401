"""Per hour of a profile: the formulas and the simulation, without and with the assistant."""
from __future__ import annotations

import math
from dataclasses import dataclass

from bot.analytics.peak.erlang import agents_needed, erlang_a_figures, erlang_c_figures
from bot.analytics.peak.profile import HourProfile
from bot.analytics.peak.simulation import HourResult, KefuEffect, simulate


@dataclass(frozen=True)
class Scenario:
    """One hour in one scenario: the formulas' figures and the simulation's."""

    calls_to_agents: float  # live calls per hour reaching the queue
    agents_needed: int  # Erlang C, for the service-level target
    erlang_c_asa_s: float
    erlang_c_sl: float
    erlang_a_asa_s: float
    erlang_a_abandonment: float
    simulated: HourResult


@dataclass(frozen=True)
class HourComparison:
    profile: HourProfile
    without: Scenario
    with_kefu: Scenario


def compare(hours: list[HourProfile], effect: KefuEffect, *, sl_seconds: float, sl_target: float,
            seed: int = 1, repeat: int = 20) -> list[HourComparison]:
    without_sim = simulate(hours, KefuEffect(), sl_seconds=sl_seconds, seed=seed, repeat=repeat)
    with_sim = simulate(hours, effect, sl_seconds=sl_seconds, seed=seed, repeat=repeat)
    live_share = (1 - effect.containment) * (1 - effect.callback_share)
    return [HourComparison(h, _scenario(h, 1.0, sl_seconds, sl_target, without_sim[h.hour]),
                           _scenario(h, live_share, sl_seconds, sl_target, with_sim[h.hour])) for h in hours]


def _scenario(hour: HourProfile, share: float, sl_seconds: float, sl_target: float, simulated: HourResult) -> Scenario:
    rate = hour.calls_per_s * share
    c = erlang_c_figures(rate, hour.aht_s, hour.agents, sl_seconds)
    a = erlang_a_figures(rate, hour.aht_s, hour.agents, hour.patience_s)
    return Scenario(calls_to_agents=hour.calls * share,
                    agents_needed=agents_needed(rate, hour.aht_s, sl_seconds, sl_target),
                    erlang_c_asa_s=c.asa_s, erlang_c_sl=c.service_level,
                    erlang_a_asa_s=a.asa_s, erlang_a_abandonment=a.abandonment, simulated=simulated)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.0f}"


def fmt_share(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0%}"
