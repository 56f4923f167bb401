"""Everything the report shows, computed once from the record and the tickets."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.analytics.config import KpiConfig
from bot.analytics.contacts import STARTS, Contact, split_contacts, waits_over_before
from bot.analytics.kpis import (FCR_WINDOWS_H, Figures, RepeatCustomer, SelfHelpFigures, figures, grouped, local_day,
                                local_hour, per_agent, repeat_customers, repeat_flags, selfhelp_success)
from bot.analytics.report.period import Period
from bot.analytics.report.tickets import TicketLoop, ledger_months, ticket_loop
from bot.db.repository import Repository
from bot.handoff.masking import mask_number
from bot.ledger.ledger import Ledger, MonthlySummary, month_span
from bot.ledger.rules import LedgerRules
from bot.outcomes.store import read_whole_contacts


RESOLVERS = ("assistant", "agent")  # contact outcomes that count as resolved, by whom


@dataclass(frozen=True)
class Repeater:
    """A repeat customer as a supervisor can find them: phone and account number masked as the desk
    shows them ("" when unknown), never the database's internal id."""
    customer: str  # the customer key, numbers masked (the CSV's group)
    phone: str
    account: str
    contacts: int
    channels: str


@dataclass(frozen=True)
class ReportData:
    period: Period
    config: KpiConfig
    overall: Figures
    by_channel: dict[str, Figures]
    by_skill: dict[str, Figures]
    by_intent: dict[str, Figures]
    by_hour: dict[str, Figures]
    by_day: dict[str, Figures]
    by_resolver: dict[str, Figures]  # "assistant" / "agent": contacts each resolved (CSAT compared)
    by_agent: dict[str, Figures]  # agent login -> the contacts they closed at the desk, a transfer too (who handled what)
    volume: dict[tuple[str, str], int]  # (hour, channel) -> contacts
    top_intents: list[tuple[str, int]]  # contacts per topic intent, most first (15)
    selfhelp: list[SelfHelpFigures]
    repeaters: list[Repeater]
    tickets: TicketLoop
    ledger: list[MonthlySummary]  # the ledger's monthly summary of each month the period touches


def ledger_window(period: Period) -> dict[str, dt.datetime]:
    """The tickets a report reads: those of its period and of the months it touches (the ledger's months
    are the centre's). Only those: a report of last spring read every ticket filed since."""
    zone = ZoneInfo(period.timezone)
    return {"since": min(period.start_utc, month_span(f"{period.first:%Y-%m}", zone)[0]),
            "until": max(period.end_utc, month_span(f"{period.last:%Y-%m}", zone)[1])}


def build_report(repository: Repository, period: Period, config: KpiConfig, ledger_rules: LedgerRules,
                 now: dt.datetime | None = None) -> ReportData:
    start, end = period.start_utc, period.end_utc
    now = now or dt.datetime.utcnow()
    engine = repository.engine
    lookahead = dt.timedelta(hours=max(FCR_WINDOWS_H))
    contacts = split_contacts(read_whole_contacts(engine, start, end + lookahead, STARTS),
                              waits_over_before(now, config.max_wait_s))
    inside, later = period.split(contacts)  # its days, and its hours when given (--hours)
    sl = config.sl_seconds
    hour = local_hour(config.timezone)
    zone = ZoneInfo(config.timezone)
    items = Ledger(repository, ledger_rules).items(now=now, **ledger_window(period))

    def by(key) -> dict[str, Figures]:
        return grouped(inside, key, sl_seconds=sl, later=later)

    return ReportData(
        period=period, config=config,
        overall=figures(inside, sl_seconds=sl, repeats=repeat_flags(inside, later)),
        by_channel=by(lambda c: c.channel or "-"), by_skill=by(lambda c: c.skill or "-"),
        by_intent=by(lambda c: c.intent or "-"), by_hour=by(hour), by_day=by(local_day(config.timezone)),
        by_resolver=grouped([c for c in inside if c.how in RESOLVERS], lambda c: c.how, sl_seconds=sl, later=later),
        by_agent=grouped(per_agent(inside), lambda c: c.agent, sl_seconds=sl, later=later),
        volume=dict(Counter((hour(c), c.channel or "-") for c in inside)),
        top_intents=_topics(inside), selfhelp=selfhelp_success(inside),
        repeaters=[_repeater(repository, r) for r in repeat_customers(inside, later)],
        tickets=ticket_loop(items, start, end, now, within=period.includes), ledger=ledger_months(items, ledger_rules, period.first, period.last, zone),
    )


def _topics(contacts: list[Contact]) -> list[tuple[str, int]]:
    """Contacts per problem (their topic intent), most first. Counting every intent message made
    the answers to "解决了吗？" and typed phone numbers (deny, inform) the "top intents" (found by a
    tester in the head of operations' role)."""
    return Counter(c.intent for c in contacts if c.intent).most_common(15)


def _repeater(repository: Repository, row: RepeatCustomer) -> Repeater:
    """The customer's record where the database knows them, else the numbers their contacts carried."""
    known = dict(key.split(":", 1) for key in row.keys)  # kind of key (customer, phone, account, openid) -> value
    customer = repository.get_customer(int(known["customer"])) if known.get("customer", "").isdigit() else None
    phone = customer.phone if customer else known.get("phone", "")
    account = customer.account_number if customer else known.get("account", "")
    return Repeater(row.customer, mask_number(phone) if phone else "", mask_number(account) if account else "",
                    row.contacts, row.channels)
