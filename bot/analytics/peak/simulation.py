"""Discrete-event simulation (SimPy) of the hotline over the profile's hours.

It models what the formulas cannot: agents changing by the hour with the queue carried over,
VIP callers served first, the assistant answering first (``bot_s`` seconds, a share contained
and a share taking a callback), and callbacks worked when no live caller waits. Handle and
patience times are exponential (the formulas' assumption) so both can be compared.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import simpy

from bot.analytics.peak.profile import HourProfile

VIP, NORMAL, CALLBACK = 0, 1, 2  # queue priorities, lower served first


@dataclass(frozen=True)
class KefuEffect:
    """What the assistant does to each call before a person is needed (all zero = no Kefu)."""

    containment: float = 0.0  # share resolved by the assistant alone
    callback_share: float = 0.0  # share of the rest that book a callback instead of queueing
    bot_s: float = 0.0  # time with the assistant before queueing (not agent time)


@dataclass
class HourResult:
    offered: int = 0  # live callers who queued
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    waits: list = field(default_factory=list)
    vip_waits: list = field(default_factory=list)  # the VIP callers' share of ``waits``
    contained: int = 0
    callbacks: int = 0

    @property
    def asa_s(self) -> float | None:
        return sum(self.waits) / len(self.waits) if self.waits else None

    @property
    def service_level(self) -> float | None:
        done = self.answered + self.abandoned
        return self.answered_in_sl / done if done else None

    @property
    def abandonment(self) -> float | None:
        done = self.answered + self.abandoned
        return self.abandoned / done if done else None


@dataclass(order=True)
class _Caller:
    priority: int
    arrived: float
    hour: int = field(compare=False)
    give_up_at: float = field(compare=False)
    handle_s: float = field(compare=False)


def simulate(hours: list[HourProfile], effect: KefuEffect = KefuEffect(), *, sl_seconds: float = 20,
             seed: int = 1, repeat: int = 1, drain_s: float = 3600) -> dict[int, HourResult]:
    """Results per profile hour (callers counted in the hour they called), over ``repeat`` runs."""
    results = {h.hour: HourResult() for h in hours}
    rng = random.Random(seed)
    for _ in range(repeat):
        _run(hours, effect, sl_seconds, rng, results, drain_s)
    return results


def _run(hours, effect, sl_seconds, rng, results, drain_s) -> None:
    env = simpy.Environment()
    queue = simpy.PriorityStore(env)
    span = 3600 * len(hours)
    staffing = [h.agents for h in hours]

    def on_shift(index: int) -> bool:
        slot = min(int(env.now // 3600), len(hours) - 1)
        return index < staffing[slot]

    def agent(index: int):
        while True:
            if not on_shift(index):
                yield env.timeout(3600 - env.now % 3600)
                if env.now >= span + drain_s:
                    return
                continue
            caller = yield queue.get()
            result = results[caller.hour]
            if caller.priority != CALLBACK:
                if env.now > caller.give_up_at:
                    continue  # hung up before an agent was free; counted when they left
                wait = env.now - caller.arrived
                result.answered += 1
                result.answered_in_sl += wait <= sl_seconds
                result.waits.append(wait)
                if caller.priority == VIP:
                    result.vip_waits.append(wait)
            yield env.timeout(caller.handle_s)

    def hang_up(caller: _Caller):
        yield env.timeout(caller.give_up_at - env.now)
        if caller in queue.items:
            queue.items.remove(caller)
            results[caller.hour].abandoned += 1

    def call(profile: HourProfile):
        result = results[profile.hour]
        if effect.bot_s:
            yield env.timeout(rng.expovariate(1 / effect.bot_s))
        if rng.random() < effect.containment:
            result.contained += 1
            return
        handle = rng.expovariate(1 / profile.aht_s)
        if rng.random() < effect.callback_share:
            result.callbacks += 1
            yield queue.put(_Caller(CALLBACK, env.now, profile.hour, float("inf"), handle))
            return
        priority = VIP if rng.random() < profile.vip_share else NORMAL
        caller = _Caller(priority, env.now, profile.hour, env.now + rng.expovariate(1 / profile.patience_s), handle)
        result.offered += 1
        yield queue.put(caller)
        env.process(hang_up(caller))

    def arrivals():
        for slot, profile in enumerate(hours):
            end = (slot + 1) * 3600
            if profile.calls > 0:
                while True:
                    gap = rng.expovariate(profile.calls_per_s)
                    if env.now + gap >= end:
                        break
                    yield env.timeout(gap)
                    env.process(call(profile))
            yield env.timeout(max(0.0, end - env.now))

    env.process(arrivals())
    for index in range(max(staffing, default=0)):
        env.process(agent(index))
    env.run(until=span + drain_s)
