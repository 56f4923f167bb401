"""Ledger items built from the tickets and their status history, and the one way to close a step.

A ticket's ledger steps are read from its lifecycle (``Repository.move_ticket`` history), not kept
twice: ``assigned`` or ``resolved`` means acted on, ``customer_told`` means the customer heard the
result, ``follow_up_done`` closes it. A reopened ticket must be acted on again. Each next step is due
a number of hours after registration (``content/ledger.yml``); past it the item is overdue. A fault
reported again by the same customer within the repeat window (any channel) is a repeat problem; while
its repair is still open, a new report joins that repair instead (``actions/repairs.py``). Only fault
reports count: a visit, callback or complaint about the fault is not the fault reported again.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import median
from zoneinfo import ZoneInfo

from bot.db.repository import TICKET_TRANSITIONS, Repository, TicketPlan, TicketTransitionError
from bot.ledger.rules import STEPS, LedgerRules
from bot.ticket_notes import history_note

# The statuses that show a step was reached, and the moves that close a step from each status.
REACHED_BY = {"assigned": "acted_on", "resolved": "acted_on", "customer_told": "customer_told",
              "follow_up_done": "follow_up_done"}
CLOSING_MOVES = {
    "acted_on": {"open": ["assigned"]},
    "customer_told": {"open": ["resolved", "customer_told"], "assigned": ["resolved", "customer_told"],
                      "resolved": ["customer_told"]},
    "follow_up_done": {"customer_told": ["follow_up_done"], "resolved": ["follow_up_done"]},
}

# The lifecycle in order: a status at or past another has reached it (reopening starts again at open).
LIFECYCLE = ("open", "assigned", "resolved", "customer_told", "follow_up_done")


def moves_to(current: str, target: str) -> tuple[str, ...] | None:
    """The moves that take a ticket from ``current`` to ``target`` and no further: the shortest way
    along the lifecycle (``TICKET_TRANSITIONS``), never through a reopening; ``open`` is reached only by
    reopening directly. () when it is there already, None when no way leads there. Unlike
    ``CLOSING_MOVES`` (an agent closing the step 已告知客户), ``resolved`` never implies ``customer_told``."""
    if current == target:
        return ()
    if target == "open":
        return (target,) if target in TICKET_TRANSITIONS[current] else None
    paths = [(current,)]
    while paths:
        path = paths.pop(0)
        for step in sorted(TICKET_TRANSITIONS[path[-1]] - {"open"} - set(path), key=LIFECYCLE.index):
            if step == target:
                return path[1:] + (step,)
            paths.append(path + (step,))
    return None


def reached(current: str, target: str) -> bool:
    """Has a ticket at ``current`` reached ``target`` (or gone past it)? A reopened ticket is back at open."""
    return current == target or (target != "open" and LIFECYCLE.index(current) >= LIFECYCLE.index(target))


# The tickets that report a fault. A visit, a callback or a complaint names the fault it is about
# (``fault_type`` in its details) but is not a new report of it: found by a tester, the visit booked
# to fix a repair was flagged as a repeat of that repair, and one outage counted five repeats.
FAULT_REPORTS = ("fault",)


@dataclass(frozen=True)
class StepDone:
    step: str
    at: dt.datetime
    note: str


@dataclass(frozen=True)
class Noted:
    """A history row with a note (a chase, a visit moved, a step closed...): when, and the note as stored
    (``bot.ticket_notes.history_line`` reads it)."""
    at: dt.datetime
    note: str


@dataclass(frozen=True)
class LedgerItem:
    ticket_id: str
    kind: str
    customer_id: int | None
    channel: str
    summary: str
    fault: str | None
    owner: str | None
    registered_at: dt.datetime
    steps: tuple[StepDone, ...]   # every step reached, in order, from the ticket's history
    next_step: str | None         # None once the follow-up is done
    due_at: dt.datetime | None    # when next_step is due
    overdue: bool
    repeat_of: tuple[str, ...]    # earlier tickets of the same customer and fault within the window
    skill: str | None = None      # the skill group the ticket names (a handoff's), None: by its type and fault
    visit_time: str | None = None  # a visit's promised time (details.visit_time), as told to the customer
    external_ref: str | None = None  # the dispatch system's job number (details.external_ref, bot/dispatch/)
    history: tuple[Noted, ...] = ()  # every note written on the ticket, in order

    @property
    def step(self) -> str:
        return self.steps[-1].step if self.steps else "registered"


def fault_of(ticket: dict) -> str | None:
    details = ticket.get("details") or {}
    return details.get("fault_type") or None


def named_skill(ticket: dict) -> str | None:
    """The skill group a ticket from a handoff names (its own, or its packet's); other tickets name none."""
    details = ticket.get("details") or {}
    return details.get("skill") or (details.get("handoff") or {}).get("skill") or None


def steps_from(history: list[dict]) -> list[StepDone]:
    """The ledger steps a status history reached; a reopening starts the steps after registration again."""
    steps: list[StepDone] = []
    for row in history:
        to_status = row["to_status"]
        if to_status == "open":  # registered, or reopened: what was done after registration must be done again
            steps = steps[:1] if row["from_status"] else [StepDone("registered", row["at"], row.get("note") or "")]
            continue
        step = REACHED_BY.get(to_status)
        if step and (not steps or STEPS.index(step) > STEPS.index(steps[-1].step)):
            steps.append(StepDone(step, row["at"], row.get("note") or ""))
    return steps


def build_items(tickets: list[dict], histories: dict[str, list[dict]], rules: LedgerRules,
                now: dt.datetime, earlier_reports: list[dict] = ()) -> list[LedgerItem]:
    """``tickets`` as ledger items, oldest first. A repeat is looked for among ``tickets`` and
    ``earlier_reports`` (other tickets, not made items: the fault reports a repeat may be of)."""
    items: list[LedgerItem] = []
    earlier: dict[tuple[int, str], list[dict]] = {}
    wanted = {t["ticket_id"] for t in tickets}
    context = [t for t in earlier_reports if t["ticket_id"] not in wanted]
    for ticket in sorted([*tickets, *context], key=lambda t: (t["created_at"], t["id"])):
        fault = fault_of(ticket)
        repeat_of: tuple[str, ...] = ()
        if fault and ticket["kind"] in FAULT_REPORTS and ticket.get("customer_id") is not None:
            key = (ticket["customer_id"], fault)
            window_start = ticket["created_at"] - rules.repeat_window
            repeat_of = tuple(t["ticket_id"] for t in earlier.get(key, []) if t["created_at"] >= window_start)
            earlier.setdefault(key, []).append(ticket)
        if ticket["ticket_id"] not in wanted:
            continue
        history = histories.get(ticket["ticket_id"], [])
        steps = steps_from(history)
        reached = steps[-1].step if steps else "registered"
        next_step = STEPS[STEPS.index(reached) + 1] if reached != STEPS[-1] else None
        due_at = rules.due(ticket["kind"], next_step, ticket["created_at"]) if next_step else None
        items.append(LedgerItem(
            ticket_id=ticket["ticket_id"], kind=ticket["kind"], customer_id=ticket.get("customer_id"),
            channel=ticket.get("channel") or "", summary=ticket.get("summary") or "", fault=fault,
            owner=ticket.get("owner"), registered_at=ticket["created_at"], steps=tuple(steps), next_step=next_step,
            due_at=due_at, overdue=due_at is not None and now > due_at, repeat_of=repeat_of,
            skill=named_skill(ticket), visit_time=(ticket.get("details") or {}).get("visit_time") or None,
            external_ref=(ticket.get("details") or {}).get("external_ref") or None,
            history=tuple(Noted(row["at"], row["note"]) for row in history if row.get("note"))))
    return items


# Finished items (follow-up done) the desk's ledger page shows with 包含近7天已回访 ticked, and `kefu ledger
# list --all`: those registered in the last 7 days. Every unfinished item shows, however old; an older month's
# items are `kefu ledger list --all --month` and `kefu ledger summary --month`, read for that month only.
FINISHED_SHOWN = dt.timedelta(days=7)


class Ledger:
    """Reads only the tickets asked for (and, for the repeat flag, their customers' fault reports within
    the repeat window before them): the cost of a page load is the unfinished items', of ``item`` one
    ticket's, whatever the number of tickets ever filed."""

    def __init__(self, repository: Repository, rules: LedgerRules) -> None:
        self.repository = repository
        self.rules = rules

    def items(self, *, now: dt.datetime | None = None, since: dt.datetime | None = None,
              until: dt.datetime | None = None) -> list[LedgerItem]:
        """The tickets registered in [``since``, ``until``) (open ends: no bound) as ledger items."""
        return self._items(self.repository.tickets_since(since, until=until), now)

    def current_items(self, *, now: dt.datetime | None = None, finished: bool = False) -> list[LedgerItem]:
        """What the ledger page and `kefu ledger list` show: every unfinished item and, with ``finished``,
        the finished ones registered within ``FINISHED_SHOWN``."""
        now = now or dt.datetime.utcnow()
        shown_since = now - FINISHED_SHOWN if finished else None
        return [i for i in self._items(self.repository.ledger_tickets(unfinished_or_since=shown_since), now)
                if i.next_step is not None or (finished and i.registered_at >= shown_since)]

    def customer_items(self, customer_id: int, *, now: dt.datetime | None = None) -> list[LedgerItem]:
        """One customer's tickets as ledger items (repeats are within one customer, so none is missed)."""
        tickets = self.repository.tickets_since(customer_id=customer_id)
        return build_items(tickets, self.repository.ticket_histories([t["ticket_id"] for t in tickets]),
                           self.rules, now or dt.datetime.utcnow())

    def item(self, ticket_id: str, now: dt.datetime | None = None) -> LedgerItem:
        found = self._items(self.repository.ledger_tickets(ticket_id=ticket_id.upper()), now)
        if not found:
            raise TicketTransitionError(f"no ticket {ticket_id}")
        return found[0]

    def _items(self, tickets: list[dict], now: dt.datetime | None) -> list[LedgerItem]:
        """``tickets`` as items: their histories, and the fault reports their repeat flags look back on."""
        spans: dict[int, tuple[dt.datetime, dt.datetime]] = {}
        for ticket in tickets:
            if fault_of(ticket) and ticket["kind"] in FAULT_REPORTS and ticket.get("customer_id") is not None:
                start, end = spans.get(ticket["customer_id"], (ticket["created_at"], ticket["created_at"]))
                spans[ticket["customer_id"]] = (min(start, ticket["created_at"]), max(end, ticket["created_at"]))
        window = self.rules.repeat_window
        earlier = self.repository.reports_in_spans(
            FAULT_REPORTS, {customer: (start - window, end) for customer, (start, end) in spans.items()})
        return build_items(tickets, self.repository.ticket_histories([t["ticket_id"] for t in tickets]),
                           self.rules, now or dt.datetime.utcnow(), earlier)

    def close_step(self, ticket_id: str, who: str, note: str = "") -> LedgerItem:
        """Close the item's next step (moving the ticket along its lifecycle); the closer owns an unowned item.

        The moves are chosen from the status read with the ticket's row locked, and made in that one
        transaction (``Repository.move_ticket_by``): a move committing meanwhile (the dispatch system's
        "resolved") is started from, not met half-way with an error."""
        item = self.item(ticket_id)
        if item.next_step is None:
            raise TicketTransitionError(f"{item.ticket_id}: the follow-up is done already")

        def closing(status: str, _details: dict) -> TicketPlan:
            moves = CLOSING_MOVES[item.next_step].get(status)
            if moves is None:
                raise TicketTransitionError(f"{item.ticket_id}: cannot close '{item.next_step}' from status {status}")
            return TicketPlan(moves=tuple(moves), note=history_note("step_closed", agent=who, note=note))

        closing(self.repository.get_ticket(item.ticket_id)["status"], {})  # refused before anyone is made owner
        self.repository.set_ticket_owner(item.ticket_id, who, if_unowned=True)
        self.repository.move_ticket_by(item.ticket_id, closing)
        return self.item(item.ticket_id)

    def assign(self, ticket_id: str, owner: str) -> None:
        self.repository.set_ticket_owner(ticket_id.upper(), owner)


@dataclass(frozen=True)
class MonthlySummary:
    """The month's ledger as reviewed at the monthly meeting, for `kefu ledger summary` and reports."""
    month: str
    registered: int
    by_step: dict[str, int]        # how many items of the month stand at each step now
    overdue: int
    repeats: int
    closed_in_time: int            # follow-up done before it was due
    by_kind: dict[str, int]
    by_kind_step: dict[str, dict[str, int]]   # ticket type -> step it stands at -> items
    median_hours_to: dict[str, float | None]  # step -> median hours from registration, of items that reached it


def month_span(month: str, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """A month (``YYYY-MM``) of the centre's calendar as naive UTC, [start, end): a ticket registered at
    01:00 on the 1st in Beijing is that month's, though it is the last day of the month before in UTC.
    ``ValueError`` for a text that is no month."""
    first = dt.datetime.strptime(month, "%Y-%m")
    following = (first + dt.timedelta(days=32)).replace(day=1)
    start, end = (local.replace(tzinfo=zone).astimezone(dt.timezone.utc).replace(tzinfo=None)
                  for local in (first, following))
    return start, end


def monthly_summary(items: list[LedgerItem], rules: LedgerRules, month: str, zone: ZoneInfo) -> MonthlySummary:
    """The items registered in ``month`` of the centre's calendar (``zone``, content/kpi.yml)."""
    start, end = month_span(month, zone)
    mine = [i for i in items if start <= i.registered_at < end]
    by_step = {step: sum(i.step == step for i in mine) for step in STEPS}
    by_kind: dict[str, int] = {}
    for item in mine:
        by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
    in_time = sum(1 for i in mine if i.next_step is None
                  and i.steps[-1].at <= rules.due(i.kind, "follow_up_done", i.registered_at))
    by_kind_step = {kind: {step: sum(i.step == step for i in mine if i.kind == kind) for step in STEPS}
                    for kind in sorted(by_kind)}
    return MonthlySummary(month=month, registered=len(mine), by_step=by_step, overdue=sum(i.overdue for i in mine),
                          repeats=sum(bool(i.repeat_of) for i in mine), closed_in_time=in_time, by_kind=by_kind,
                          by_kind_step=by_kind_step, median_hours_to={step: _median_hours(mine, step) for step in STEPS[1:]})


def _median_hours(items: list[LedgerItem], step: str) -> float | None:
    hours = [(done.at - item.registered_at).total_seconds() / 3600
             for item in items for done in item.steps if done.step == step]
    return round(median(hours), 1) if hours else None
