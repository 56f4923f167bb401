"""The contact-centre figures, computed from contacts over any period and any grouping.

Every rate is ``None`` when its denominator is zero (an empty period shows "—", never a
division by zero). Definitions are in the README ("How each KPI is defined").
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from bot.analytics.contacts import NO_REQUEST, SELFHELP_SENT, Contact, link_customers, person_of
from bot.handoff.masking import mask_text

FCR_WINDOWS_H = (24, 48)
# Resolved at first contact: the assistant served the request, or an agent closed it as resolved. A ticket,
# callback or message registered (work still to do), a chat passed on, abandoned or unserved is not.
RESOLVED = frozenset({"assistant", "agent"})


@dataclass(frozen=True)
class Figures:
    contacts: int
    contained: int
    containment: float | None
    fcr_24h: float | None
    fcr_48h: float | None
    handoffs: int
    handoff_rate: float | None
    selfhelp_sent: int  # asked for a person and took the self-help guide instead of waiting (not abandoned)
    answered: int
    abandoned: int
    asa_s: float | None
    wait_median_s: float | None  # answered waits, from asking for a person (bot/analytics/waits.py)
    wait_p90_s: float | None
    wait_max_s: float | None
    abandon_median_s: float | None  # how long those who gave up waited before leaving
    service_level: float | None
    abandonment: float | None
    aht_s: float | None
    csat_average: float | None
    csat_count: int
    csat_distribution: tuple  # counts of scores 1..5
    outcomes: tuple  # (how, count) pairs


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def quantile(values: list[float], share: float) -> float | None:
    """The value below which ``share`` of ``values`` lie (linear between points, as a spreadsheet's
    PERCENTILE.INC); None when there are none. A mean alone hid waits of 55 to 123 s (found by a tester)."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]  # share in (0, 1)


def repeat_flags(contacts: list[Contact], later: Iterable[Contact] = ()) -> dict[int, dict[int, bool]]:
    """For each contact (by position), whether the same customer came back within each FCR window.

    ``later`` are contacts after the period, looked at only as repeats.
    """
    everyone = list(contacts) + list(later)
    people = link_customers(everyone)
    starts: dict[str, list[dt.datetime]] = {}
    for contact in everyone:
        person = person_of(contact, people)
        if person and contact.how not in NO_REQUEST:
            starts.setdefault(person, []).append(contact.started_at)
    flags = {}
    for index, contact in enumerate(contacts):
        person = person_of(contact, people)
        after = [s for s in starts.get(person, []) if s > contact.started_at] if person else []
        flags[index] = {h: any(s - contact.started_at <= dt.timedelta(hours=h) for s in after) for h in FCR_WINDOWS_H}
    return flags


def figures(contacts: list[Contact], *, sl_seconds: float, repeats: dict[int, dict[int, bool]] | None = None) -> Figures:
    """The figures of one group of contacts; ``repeats`` as from :func:`repeat_flags` (same order)."""
    repeats = repeats if repeats is not None else repeat_flags(contacts)
    served = [(c, repeats[i]) for i, c in enumerate(contacts) if c.how not in NO_REQUEST]
    contained = sum(1 for c, _ in served if c.how == "assistant")
    fcr = {h: ratio(sum(1 for c, r in served if c.how in RESOLVED and not r[h]), len(served)) for h in FCR_WINDOWS_H}
    waits = [c.answered_wait_s for c in contacts if c.answered]
    gave_up = [c.abandoned_wait_s for c in contacts if c.abandoned_in_queue]
    abandoned = len(gave_up)
    offered = len(waits) + abandoned
    scores = [c.csat for c in contacts if c.csat is not None]
    handoffs = sum(1 for c, _ in served if c.handoff_requested)
    return Figures(
        contacts=len(contacts), contained=contained, containment=ratio(contained, len(served)),
        fcr_24h=fcr[24], fcr_48h=fcr[48], handoffs=handoffs, handoff_rate=ratio(handoffs, len(served)),
        selfhelp_sent=sum(1 for c in contacts if c.how == SELFHELP_SENT),
        answered=len(waits), abandoned=abandoned, asa_s=mean(waits), wait_median_s=quantile(waits, 0.5),
        wait_p90_s=quantile(waits, 0.9), wait_max_s=max(waits) if waits else None,
        abandon_median_s=quantile(gave_up, 0.5),
        service_level=ratio(sum(1 for w in waits if w <= sl_seconds), offered),
        abandonment=ratio(abandoned, offered),
        aht_s=mean([c.handle_s for c in contacts if c.handle_s is not None]),
        csat_average=mean(scores), csat_count=len(scores),
        csat_distribution=tuple(scores.count(s) for s in range(1, 6)),
        outcomes=tuple(Counter(c.how for c in contacts).most_common()),
    )


def grouped(contacts: list[Contact], key: Callable[[Contact], str], *, sl_seconds: float,
            later: Iterable[Contact] = ()) -> dict[str, Figures]:
    """Figures per group (channel, intent, skill, hour...), repeats judged across all channels."""
    repeats = repeat_flags(contacts, later)
    groups: dict[str, list[int]] = {}
    for index, contact in enumerate(contacts):
        groups.setdefault(key(contact), []).append(index)
    return {name: figures([contacts[i] for i in indexes], sl_seconds=sl_seconds,
                          repeats={n: repeats[i] for n, i in enumerate(indexes)})
            for name, indexes in sorted(groups.items())}


def per_agent(contacts: list[Contact]) -> list[Contact]:
    """Each contact once for every agent who closed it at the desk (a transfer too), as ``agent``, with that
    agent's own handle time; its satisfaction score goes to the agent who closed it last. Found in review: a
    transferred conversation counted for its last agent only, with both agents' handle times added up."""
    rows = []
    for contact in contacts:
        handled: dict[str, float | None] = {}
        for event in contact.events:
            data = event.get("data") or {}
            if event["kind"] != "handoff_closed" or not data.get("agent_id"):
                continue
            seconds = handled.get(data["agent_id"])
            if data.get("handle_s") is not None:
                seconds = (seconds or 0.0) + max(0.0, float(data["handle_s"]))
            handled[data["agent_id"]] = seconds
        rows += [dataclasses.replace(contact, agent=agent, handle_s=seconds,
                                     csat=contact.csat if agent == contact.agent else None)
                 for agent, seconds in handled.items()]
    return rows


def local_hour(zone: str) -> Callable[[Contact], str]:
    tz = ZoneInfo(zone)
    return lambda c: f"{c.started_at.replace(tzinfo=dt.timezone.utc).astimezone(tz).hour:02d}"


def local_day(zone: str) -> Callable[[Contact], str]:
    tz = ZoneInfo(zone)
    return lambda c: c.started_at.replace(tzinfo=dt.timezone.utc).astimezone(tz).date().isoformat()


@dataclass(frozen=True)
class SelfHelpFigures:
    entry: str
    sent: int
    resolved: int
    failed: int
    no_answer: int

    @property
    def success(self) -> float | None:
        """Share of answered sends that fixed the fault."""
        return ratio(self.resolved, self.resolved + self.failed)


def selfhelp_success(contacts: list[Contact]) -> list[SelfHelpFigures]:
    """Per catalogue entry, how often it fixed things, best first; never-answered sends counted apart."""
    counts: dict[str, Counter] = {}
    for contact in contacts:
        for entry, result in contact.selfhelp:
            counts.setdefault(entry, Counter())[result] += 1
    rows = [SelfHelpFigures(entry, sum(c.values()), c["resolved"], c["failed"], c["no_answer"])
            for entry, c in counts.items()]
    return sorted(rows, key=lambda r: (-(r.success or 0), -r.sent, r.entry))


@dataclass(frozen=True)
class RepeatCustomer:
    customer: str  # the linked customer's key, numbers masked to their last four digits
    keys: tuple  # every key linked to them (customer id, phone, account, openid), unmasked: not for display
    contacts: int
    channels: str  # comma-separated


def shown_key(person: str) -> str:
    """A customer's key as the report shows it: numbers to their last four digits, and a WeChat openid
    (an account's id for ever, sent in every message of theirs) to its last four characters too."""
    kind, _, value = person.partition(":")
    if kind == "openid" and len(value) > 4:
        return f"openid:{'*' * (len(value) - 4)}{value[-4:]}"
    return mask_text(person)


def repeat_customers(contacts: list[Contact], later: Iterable[Contact] = (), hours: int = 48) -> list[RepeatCustomer]:
    """Customers with more than one contact within ``hours``, most contacts first."""
    everyone = list(contacts) + list(later)
    people = link_customers(everyone)
    flags = repeat_flags(contacts, later)
    seen: dict[str, list[Contact]] = {}
    for index, contact in enumerate(contacts):
        person = person_of(contact, people)
        if person and flags[index][hours]:
            seen.setdefault(person, [])
    for contact in everyone:
        person = person_of(contact, people)
        if person in seen and contact.how not in NO_REQUEST:
            seen[person].append(contact)
    rows = [RepeatCustomer(shown_key(person), tuple(sorted(k for k, p in people.items() if p == person)), len(cs),
                           ",".join(sorted({c.channel for c in cs}))) for person, cs in seen.items()]
    return sorted(rows, key=lambda r: (-r.contacts, r.customer))
