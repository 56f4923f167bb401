"""Erlang C (M/M/N, callers wait forever) and Erlang A (M/M/N+M, callers give up) formulas.

Rates are per second. Erlang C is the classic staffing formula; it has no answer when the
offered load reaches the number of agents (the queue grows without end), which Erlang A
handles by letting impatient callers leave.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

TRUNCATE_AFTER = 100_000  # hard cap on queue places summed in Erlang A (the sum stops when terms vanish)


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability, by the numerically stable recursion."""
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a caller waits (1.0 when the load is at or above the agents)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1 - b))


@dataclass(frozen=True)
class QueueFigures:
    asa_s: float  # mean wait of answered callers (inf: the queue grows without end)
    service_level: float  # answered within the threshold / offered
    abandonment: float  # share of callers who gave up


def erlang_c_figures(calls_per_s: float, aht_s: float, agents: int, sl_seconds: float) -> QueueFigures:
    traffic = calls_per_s * aht_s
    if calls_per_s <= 0:
        return QueueFigures(0.0, 1.0, 0.0)
    if agents <= traffic:
        return QueueFigures(math.inf, 0.0, 0.0)
    wait = erlang_c(traffic, agents)
    return QueueFigures(asa_s=wait * aht_s / (agents - traffic),
                        service_level=1 - wait * math.exp(-(agents - traffic) * sl_seconds / aht_s),
                        abandonment=0.0)


def agents_needed(calls_per_s: float, aht_s: float, sl_seconds: float, target: float, limit: int = 2000) -> int:
    """Fewest agents whose Erlang C service level reaches ``target``."""
    if calls_per_s <= 0:
        return 0
    agents = max(1, math.floor(calls_per_s * aht_s) + 1)
    while agents < limit and erlang_c_figures(calls_per_s, aht_s, agents, sl_seconds).service_level < target:
        agents += 1
    return agents


def erlang_a_figures(calls_per_s: float, aht_s: float, agents: int, patience_s: float) -> QueueFigures:
    """ASA of answered callers and abandonment of M/M/N+M (service level: see the simulation)."""
    if calls_per_s <= 0:
        return QueueFigures(0.0, 1.0, 0.0)
    mu, theta = 1 / aht_s, 1 / patience_s
    # Unnormalised state probabilities p[n], n callers in the system, in log space.
    logs = [0.0]
    for n in range(1, agents + TRUNCATE_AFTER):
        rate_out = min(n, agents) * mu + max(n - agents, 0) * theta
        logs.append(logs[-1] + math.log(calls_per_s / rate_out))
        if n > agents and logs[-1] < max(logs) - 60:  # the rest weighs less than e^-60
            break
    top = max(logs)
    p = [math.exp(v - top) for v in logs]
    total = sum(p)
    p = [v / total for v in p]
    served = 0.0  # P(an arrival is answered)
    waited = 0.0  # E[wait; answered]
    for n, pn in enumerate(p):
        if n < agents:
            served += pn
            continue
        ahead = n - agents  # callers waiting in front of the new arrival
        survive, mean_wait = 1.0, 0.0
        for j in range(ahead, -1, -1):
            advance = agents * mu + j * theta
            survive *= advance / (advance + theta)
            mean_wait += 1 / (advance + theta)
            if survive < 1e-12:
                break
        served += pn * survive
        waited += pn * survive * mean_wait
    return QueueFigures(asa_s=waited / served if served else math.inf, service_level=math.nan,
                        abandonment=1 - served if agents > 0 else 1.0)
