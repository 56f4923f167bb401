"""The repository the actions use: customers, bills, plans, tickets, outcome events.

Calls are synchronous (SQLAlchemy Core); async callers run them in an executor.
Every failure surfaces as ``DatabaseError`` so callers can apologise uniformly.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from bot.db.schema import (
    bills,
    conversation_events,
    customers,
    outbox,
    plans,
    ticket_history,
    ticket_owners,
    tickets,
    usage,
    voice_messages,
    write_receipts,
)
from bot.dispatch.events import TicketEventType, queue_ticket_event
from bot.security.private_files import create_private_file

TICKET_TRANSITIONS = {
    "open": {"assigned", "resolved"},
    "assigned": {"open", "resolved"},
    "resolved": {"customer_told", "follow_up_done", "open"},
    "customer_told": {"follow_up_done", "open"},
    "follow_up_done": set(),
}


class DatabaseError(Exception):
    """The customer database could not answer."""


class TicketTransitionError(ValueError):
    """A ticket was asked to move along a lifecycle edge that does not exist."""


@dataclass(frozen=True)
class TicketPlan:
    """What ``Repository.move_ticket_by`` does to a ticket: these moves in turn, each recorded with
    ``note``, and its details replaced by ``details`` (None: kept). ``answer`` is the caller's own."""
    moves: tuple[str, ...] = ()
    details: dict | None = None
    note: str = ""
    answer: Any = None


def _locked_ticket(conn, ticket_id: str):
    """The ticket's status, priority and details, its row locked for the rest of the caller's transaction.

    The row is touched first: the row lock on PostgreSQL, the write lock on SQLite (whose driver begins a
    transaction only at the first write, so a plain read would not hold off another worker)."""
    conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(updated_at=tickets.c.updated_at))
    current = conn.execute(
        sa.select(tickets.c.status, tickets.c.priority, tickets.c.details)
        .where(tickets.c.ticket_id == ticket_id).with_for_update()
    ).first()
    if current is None:
        raise TicketTransitionError(f"no ticket {ticket_id}")
    return current


def _move(conn, ticket_id: str, current: str, to_status: str, note: str) -> None:
    """One lifecycle move inside the caller's transaction: the status, its history row, its ticket event."""
    if to_status not in TICKET_TRANSITIONS[current]:
        raise TicketTransitionError(f"{ticket_id}: {current} -> {to_status} is not allowed")
    conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id)
                 .values(status=to_status, updated_at=dt.datetime.utcnow()))
    conn.execute(ticket_history.insert().values(ticket_id=ticket_id, from_status=current, to_status=to_status, note=note))
    queue_ticket_event(conn, ticket_id, "ticket_status_changed", current)


def _insert_ticket(conn, *, kind: str, customer_id: int | None, summary: str, details: dict | None = None,
                   priority: int = 0, needs_human: bool = False, channel: str = "", conversation_id: str = "") -> str:
    """A new ``open`` ticket inside the caller's transaction (``Repository.create_ticket``); its public id."""
    result = conn.execute(
        tickets.insert().values(
            kind=kind,
            customer_id=customer_id,
            status="open",
            priority=priority,
            needs_human=int(needs_human),
            summary=summary,
            details=details or {},
            channel=channel,
            conversation_id=conversation_id,
        )
    )
    row_id = result.inserted_primary_key[0]
    ticket_id = f"TK{row_id:06d}"
    conn.execute(tickets.update().where(tickets.c.id == row_id).values(ticket_id=ticket_id))
    conn.execute(ticket_history.insert().values(ticket_id=ticket_id, from_status=None, to_status="open"))
    queue_ticket_event(conn, ticket_id, "ticket_created")
    return ticket_id


def _taken_over(current, work_item: dict) -> dict:
    """A ticket's new values as the work item ``work_item`` (``create_ticket``'s arguments) it becomes: a person's,
    its kind, summary and details (kept where the new ones do not say), never less urgent than it was."""
    return {"kind": work_item["kind"], "summary": work_item["summary"], "needs_human": 1,
            "priority": max(current.priority, work_item.get("priority", 0)),
            "details": {**(current.details or {}), **(work_item.get("details") or {})}}


@dataclass(frozen=True)
class Customer:
    id: int
    phone: str
    account_number: str
    name: str
    vip_tier: int
    address: str
    plan_code: str | None
    balance_cents: int
    external_id: str | None = None  # the operator's key (``kefu customer import``); None for demo data
    plan_end_date: str | None = None  # YYYY-MM-DD, the plan's last paid day; None: it renews monthly


OPEN_TICKET_STATUSES = ("open", "assigned")  # what the desk and the customer call open
# The most urgent priority a ticket is raised to (the desk works higher priorities first, bot/handoff/tickets.py).
MOST_URGENT = 2


def more_urgent(priority: int, most_urgent: int = MOST_URGENT) -> int:
    """``priority`` one step more urgent, up to ``most_urgent`` (never less urgent than it was): a chased ticket,
    or a repair for a fault the customer says keeps coming back (actions/tickets.py)."""
    return max(priority, min(priority + 1, most_urgent))


IN_LIST_SIZE = 500  # values per SQL ``IN (...)``: well under SQLite's and the drivers' parameter limits


def in_chunks(values: list, size: int = IN_LIST_SIZE) -> Iterator[list]:
    """``values`` in slices short enough for one ``IN (...)`` list (a lookup of a long list)."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


# A database server that stops answering (a machine gone, a network cut: no refusal comes back) must be an
# error within seconds, as a stopped one is: libpq waits for ever for a server that accepted the connection
# and says nothing, and a pooled connection to a vanished host waits for TCP's two-hour keepalive. Five
# seconds to connect; a silent peer is dropped after about a minute (30 s idle, then 3 probes 10 s apart).
POSTGRES_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                         "keepalives_count": 3}


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """One engine per database URL per process; an SQLite file is created readable by its owner only."""
    kwargs = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        database = sa.engine.make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            create_private_file(Path(database))
    elif url.startswith("postgresql"):
        given = sa.engine.make_url(url).query  # the URL's own ?connect_timeout=… wins
        kwargs["connect_args"] = {k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in given}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        sa.event.listen(engine, "connect", _enforce_foreign_keys)
    elif engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _postgres_session)
    return engine


# A transaction whose COMMIT never reached the server (its connection cut on the way, the server's side left
# open) holds its row locks until the server's TCP keepalive gives up, two hours by default: every write to
# those rows (a note, a chase, a move of that ticket) waited that long. Kefu never leaves a transaction idle
# between its statements for more than milliseconds, so the server ends one idle this long; the few that may
# (an import checking its extract, a report turning millions of rows into Python) say so with idle_allowed,
# and slow work of another kind (Redis, files) is done before a transaction begins or after it ends.
STRANDED_TRANSACTION_S = 30


def idle_allowed(conn) -> None:
    """Lets the caller's transaction on ``conn`` stay idle between statements (an operator's command that
    reads a large extract, then works through it in Python before its next statement)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")


def _postgres_session(dbapi_connection, _record) -> None:
    """Every time in the database is naive UTC (``utcnow()`` in Python, ``now()`` as a column's
    default): PostgreSQL writes ``now()`` into a column without time zone in the session's zone,
    which is the server's (a server in China: Asia/Shanghai), so each session is set to UTC. And a
    stranded transaction of this session is ended after STRANDED_TRANSACTION_S."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.execute(f"SET idle_in_transaction_session_timeout = '{int(STRANDED_TRANSACTION_S * 1000)}ms'")
    cursor.close()
    dbapi_connection.autocommit = autocommit


def _enforce_foreign_keys(dbapi_connection, _record) -> None:
    """SQLite checks foreign keys only when asked, per connection: asked, so the trial install refuses
    what PostgreSQL refuses (a bill of no customer, a customer on no plan) instead of teaching the
    operator otherwise."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _guard(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise DatabaseError(str(exc)) from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


# A database locked or restarting for a few seconds must not lose an outcome, a ticket or a message:
# writes are retried with backoff for this long before DatabaseError reaches the caller.
WRITE_RETRY_S = 8.0


class _WrittenAlready(Exception):
    """This call's receipt is in the database: an earlier attempt of the call committed."""


class _ReceiptHeld(Exception):
    """An earlier attempt's transaction still holds this call's receipt, uncommitted, after RECEIPT_WAIT_S."""


# How long a retry waits for an earlier attempt's transaction that holds its receipt (PostgreSQL). A COMMIT
# that reached the server ends it in milliseconds; one still open after this never got its COMMIT: its
# connection was cut on the way (a NAT or firewall resetting Kefu's side of it on a network blip), and the
# server keeps it open until its own TCP keepalive gives up, two hours by default. Waited for, it held the
# write (a customer's complaint, a text) that long (found in review).
RECEIPT_WAIT_S = 3
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's lock_timeout


def _write_receipt(conn, receipt: str) -> None:
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(RECEIPT_WAIT_S)}s'")
    try:
        conn.execute(write_receipts.insert().values(id=receipt))
    except IntegrityError:
        raise _WrittenAlready from None
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise _ReceiptHeld from None
        raise
    if postgres:
        conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")  # the write's own locks wait as they did


class _QueuedAlready(Exception):
    """A message under this ``once`` key is in the outbox already (``Repository.add_outbound``), or a note on its
    ticket (``Repository.note_ticket``)."""


# What a once-key's receipt starts with: a call's own receipt is uuid4 hex (0-9a-f), so the tidy pass tells the two
# apart by it and keeps a once-key's as long as its write can be tried again (bot/outbound/retention.py).
ONCE_RECEIPT_PREFIX = "once"


def once_receipt(once: str) -> str:
    """The write receipt standing for the message queued under ``once``: made from the key itself, so every attempt
    and every process queueing that message meets the same row (a random receipt stands for one call only)."""
    return ONCE_RECEIPT_PREFIX + hashlib.sha256(once.encode("utf-8")).hexdigest()[:28]


def _queued_once(conn, once: str) -> None:
    """Claim ``once`` in the message's own transaction: committed with the message or not at all. A second claim
    fails on the unique row (on PostgreSQL it waits for a first one still committing)."""
    try:
        conn.execute(write_receipts.insert().values(id=once_receipt(once)))
    except IntegrityError:
        raise _QueuedAlready from None


def _retry_transient(fn):
    """A write in a transaction of its own, retried on OperationalError (locked, connection refused or
    reset) until WRITE_RETRY_S, with the effect of exactly one write. The method is given the transaction's
    connection after ``self`` (its callers do not pass one).

    A COMMIT the database carried out can still fail in the caller: the connection drops before its answer
    arrives (PostgreSQL restarting, a network blip), and a plain retry wrote it again (a complaint filed
    twice, a text sent twice, a ticket chased two steps; a voice message refused by its own row). So each
    call makes one key before its first attempt, and every attempt writes it first in its transaction, into
    ``write_receipts`` (unique). An attempt that cannot (the key is there: an earlier attempt committed; on
    PostgreSQL it waits for one still committing) writes nothing and returns what that attempt returned.
    An earlier attempt whose transaction still holds the key after ``RECEIPT_WAIT_S`` never got its COMMIT
    and never will (its connection was cut on the way): the call goes on under a new key.
    Only one attempt can commit the key, and it is the latest to have reached its COMMIT (any later one would
    have found the key), so that attempt's result is the one returned. A table rather than a unique key on
    each row written: one mechanism for every write, those that add rows (a ticket, a text, a recording)
    and those that change one (a chase, a note, a move), whose second coming could not be told from a
    second request. Receipts matter only while their call retries; the tidy pass deletes them after an hour
    (bot/outbound/retention.py), and a once-key's (``once_receipt``) only once its write can no longer be tried
    again."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        receipt = uuid.uuid4().hex
        committing: list = []  # the result of the latest attempt that reached its COMMIT
        deadline = time.monotonic() + WRITE_RETRY_S
        pause = 0.1
        while True:
            try:
                with self.engine.begin() as conn:
                    _write_receipt(conn, receipt)
                    result = fn(self, conn, *args, **kwargs)
                    committing[:] = [result]
                return result
            except _WrittenAlready:
                return committing[0]
            except _ReceiptHeld:  # that attempt will never commit: this call goes on under a key of its own
                receipt = uuid.uuid4().hex
            except OperationalError:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)  # callers run repository calls in a worker thread
                pause = min(pause * 2, 1.0)

    return wrapper


class Repository:
    """Customer-data access for one database URL."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = engine_for(url)
        except (SQLAlchemyError, ImportError) as exc:  # not a URL SQLAlchemy can use (a misspelt scheme, a driver
            # not installed: SQLAlchemy's name for it, or the DBAPI module's ImportError for a dialect it knows)
            said = str(exc).replace(url, "(the URL)")  # it may carry a password
            # from None: a command shows this line, not the cause's, which names the URL (bot.db.errors)
            raise DatabaseError(f"KEFU_DATABASE_URL is not usable: {said}") from None

    @_guard
    def create_schema(self):
        """Bring the database to this Kefu's schema by its migrations (bot/db/migrate.py): creates every
        table on a new database, adds what a newer version needs to an existing one, and raises
        ``SchemaError`` for a database a newer Kefu has upgraded. Returns what was done (``Upgrade``)."""
        from bot.db.migrate import upgrade

        return upgrade(self.engine)

    @_guard
    def is_empty(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one() == 0

    # -- customers -----------------------------------------------------
    @_guard
    def find_customer(self, *, phone: str | None = None, account_number: str | None = None) -> Customer | None:
        if not phone and not account_number:
            return None
        column, value = (customers.c.phone, phone) if phone else (customers.c.account_number, account_number)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(customers).where(column == value)).mappings().first()
        return Customer(**row) if row else None

    @_guard
    def get_customer(self, customer_id: int) -> Customer | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(customers).where(customers.c.id == customer_id)).mappings().first()
        return Customer(**row) if row else None

    @_guard
    def bills_for(self, customer_id: int, limit: int = 3) -> list[dict]:
        query = (
            sa.select(bills)
            .where(bills.c.customer_id == customer_id)
            .order_by(bills.c.period.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    @_guard
    def usage_for(self, customer_id: int) -> dict | None:
        """The latest month's usage (data, and minutes where the plan has them), if recorded."""
        query = sa.select(usage).where(usage.c.customer_id == customer_id).order_by(usage.c.period.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    @_guard
    def plan(self, code: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(plans).where(plans.c.code == code)).mappings().first()
        return dict(row) if row else None

    @_guard
    def all_plans(self) -> list[dict]:
        """The plans on sale, cheapest first (a customer's own plan, sold or not, is ``plan``)."""
        query = sa.select(plans).where(plans.c.sellable == sa.true()).order_by(plans.c.monthly_fee_cents)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- tickets -------------------------------------------------------
    @_guard
    @_retry_transient
    def create_ticket(
        self,
        conn,
        *,
        kind: str,
        customer_id: int | None,
        summary: str,
        details: dict | None = None,
        priority: int = 0,
        needs_human: bool = False,
        channel: str = "",
        conversation_id: str = "",
    ) -> str:
        """Insert a ticket in state ``open`` and return its public id (TK000123)."""
        return _insert_ticket(conn, kind=kind, customer_id=customer_id, summary=summary, details=details,
                              priority=priority, needs_human=needs_human, channel=channel,
                              conversation_id=conversation_id)

    @_guard
    def get_ticket(self, ticket_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tickets).where(tickets.c.ticket_id == ticket_id.upper())).mappings().first()
        return dict(row) if row else None

    @_guard
    def tickets_for(self, customer_id: int | None, *, open_only: bool = False, conversation_id: str = "") -> list[dict]:
        """A customer's tickets and, with ``conversation_id``, those filed in that conversation, newest first.

        A conversation's own tickets are its customer's whether or not they proved who they are:
        the desk shows a complaint filed minutes earlier in the same chat (found by a tester).
        """
        whose = [tickets.c.customer_id == customer_id] if customer_id is not None else []
        if conversation_id:
            whose.append(tickets.c.conversation_id == conversation_id)
        if not whose:
            return []
        query = sa.select(tickets).where(sa.or_(*whose))
        if open_only:
            query = query.where(tickets.c.status.in_(OPEN_TICKET_STATUSES))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(tickets.c.id.desc())).mappings()]

    @_guard
    def move_ticket(self, ticket_id: str, to_status: str, note: str = "") -> None:
        """Advance a ticket along its lifecycle, recording the step. The row is locked before its status
        is read (``_locked_ticket``): two moves at once (a follow-up call's answer, an agent closing a
        step, the dispatch system) each start from where the other left it, never from a stale status
        that would take the ticket back past a step already done."""
        with self.engine.begin() as conn:
            current = _locked_ticket(conn, ticket_id).status
            _move(conn, ticket_id, current, to_status, note)

    @_guard
    @_retry_transient
    def move_ticket_by(self, conn, ticket_id: str, plan: Callable[[str, dict], TicketPlan | None]) -> TicketPlan | None:
        """Apply ``plan``'s moves and details to a ticket in one transaction, the row locked while it is
        read and written, so a request retried at the same moment on another worker sees the first one's
        result, never a half of it. ``plan`` gets the current status and details and returns what to do
        (None: nothing at all); each move is checked against the lifecycle and recorded as ``move_ticket``
        records it. Returns the plan applied."""
        current = _locked_ticket(conn, ticket_id)
        chosen = plan(current.status, dict(current.details or {}))
        if chosen is None:
            return None
        if chosen.details is not None:
            conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id)
                         .values(details=chosen.details, updated_at=dt.datetime.utcnow()))
            if not chosen.moves and chosen.note:  # a details change alone is noted, as update_ticket_details does
                conn.execute(ticket_history.insert().values(
                    ticket_id=ticket_id, from_status=current.status, to_status=current.status, note=chosen.note))
        status = current.status
        for to_status in chosen.moves:
            _move(conn, ticket_id, status, to_status, chosen.note)
            status = to_status
        return chosen

    @_guard
    @_retry_transient
    def chase_ticket(self, conn, ticket_id: str, note: str, most_urgent: int = MOST_URGENT,
                     kept_request: str | None = None) -> bool:
        """The customer asked again about an open ticket: one step more urgent (up to ``most_urgent``).

        Recorded as a history row that keeps the status, so whoever reads the ticket sees each chase.
        ``kept_request``: the id of a request kept while the database was down (actions/kept_requests.py),
        written to ``details.kept_requests`` with the chase; a chase with an id already there changes
        nothing and returns False (its drainer died before taking the request off its list).
        """
        def chased(current) -> dict | None:
            details = dict(current.details or {})
            joined = list(details.get("kept_requests") or [])
            change = {"priority": more_urgent(current.priority, most_urgent)}
            if kept_request is None:
                return change
            if kept_request in joined:
                return None
            return {**change, "details": {**details, "kept_requests": [*joined, kept_request]}}

        return self._note_ticket(conn, ticket_id, note, chased)

    @_guard
    def note_ticket(self, ticket_id: str, note: str, *, once: str | None = None) -> bool:
        """A note on a ticket that changes nothing else (an agent's follow-up of the same problem). ``once``: the
        note's own key (a note owed in Redis, bot.handoff.notes_owed), claimed in the note's transaction, so a try
        again after the first was written but not crossed off adds nothing; False when it was written already."""
        try:
            self._note_ticket_once(ticket_id, note, once=once)
        except _QueuedAlready:
            return False
        return True

    @_retry_transient
    def _note_ticket_once(self, conn, ticket_id: str, note: str, *, once: str | None) -> None:
        if once is not None:
            _queued_once(conn, once)
        self._note_ticket(conn, ticket_id, note, lambda current: {})

    @_guard
    @_retry_transient
    def update_ticket_details(self, conn, ticket_id: str, fields: dict, note: str) -> None:
        """Set ``fields`` in a ticket's details (a visit's new time), with a history note that keeps the
        status, so whoever reads the ticket sees what changed and when. The dispatch system hears of it
        (``ticket_updated``): a visit's new time is the engineer's new appointment."""
        self._note_ticket(conn, ticket_id, note, lambda current: {"details": {**(current.details or {}), **fields}},
                          event="ticket_updated")

    def _note_ticket(self, conn, ticket_id: str, note: str, change: Callable[[Any], dict | None],
                     event: TicketEventType | None = None) -> bool:
        """A history row that keeps the status, so whoever reads the ticket sees each note; ``change``
        gives the ticket's new values from its current row (status, priority, details), or None for no
        note at all (returns False then). The row is locked while read and written (``_locked_ticket``),
        so two notes never lose one another's details."""
        current = _locked_ticket(conn, ticket_id)
        values = change(current)
        if values is None:
            return False
        conn.execute(
            tickets.update()
            .where(tickets.c.ticket_id == ticket_id)
            .values(**values, updated_at=dt.datetime.utcnow())
        )
        conn.execute(
            ticket_history.insert().values(
                ticket_id=ticket_id, from_status=current.status, to_status=current.status, note=note
            )
        )
        if event is not None:
            queue_ticket_event(conn, ticket_id, event, current.status)
        return True

    @_guard
    def ticket_history(self, ticket_id: str) -> list[dict]:
        query = sa.select(ticket_history).where(ticket_history.c.ticket_id == ticket_id).order_by(ticket_history.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    @_guard
    def tickets_since(self, since: dt.datetime | None = None, *, customer_id: int | None = None,
                      until: dt.datetime | None = None) -> list[dict]:
        """Every ticket (created at or after ``since``, before ``until``; of one customer), oldest first, with
        its ledger owner."""
        where = []
        if since is not None:
            where.append(tickets.c.created_at >= since)
        if until is not None:
            where.append(tickets.c.created_at < until)
        if customer_id is not None:
            where.append(tickets.c.customer_id == customer_id)
        return self._ledger_tickets(sa.and_(sa.true(), *where))

    @_guard
    def ledger_tickets(self, *, ticket_id: str | None = None,
                       unfinished_or_since: dt.datetime | None = None) -> list[dict]:
        """Tickets with their ledger owner, oldest first: one (``ticket_id``), or those whose lifecycle is not
        over (a status with a move left, ``TICKET_TRANSITIONS``) plus any registered at or after
        ``unfinished_or_since``. Both read through indexes (``ix_tickets_status``, ``ix_tickets_created_at``)."""
        if ticket_id is not None:
            return self._ledger_tickets(tickets.c.ticket_id == ticket_id)
        unfinished = sorted(status for status, moves in TICKET_TRANSITIONS.items() if moves)
        found = self._ledger_tickets(tickets.c.status.in_(unfinished))
        if unfinished_or_since is not None:  # a query of its own: SQLite reads an OR in order of id through
            found += self._ledger_tickets(tickets.c.created_at >= unfinished_or_since)
        return sorted({t["id"]: t for t in found}.values(), key=lambda t: t["id"])

    @_guard
    def reports_in_spans(self, kinds: tuple[str, ...], spans: dict[int, tuple[dt.datetime, dt.datetime]]) -> list[dict]:
        """Tickets of ``kinds`` of each customer registered within that customer's [start, end] (the ledger's
        repeat flag looks back this far), oldest first, without owners; by ``ix_tickets_customer_created``."""
        found: list[dict] = []
        columns = [tickets.c.id, tickets.c.ticket_id, tickets.c.customer_id, tickets.c.kind, tickets.c.details,
                   tickets.c.created_at]
        with self.engine.connect() as conn:
            for chunk in in_chunks(sorted(spans), IN_LIST_SIZE // 3):  # three parameters a customer
                query = sa.select(*columns).where(tickets.c.kind.in_(kinds), sa.or_(*[
                    sa.and_(tickets.c.customer_id == customer_id, tickets.c.created_at >= spans[customer_id][0],
                            tickets.c.created_at <= spans[customer_id][1]) for customer_id in chunk]))
                found += [dict(r) for r in conn.execute(query).mappings()]
        return sorted(found, key=lambda t: t["id"])

    def _ledger_tickets(self, where) -> list[dict]:
        """Sorted here, not by ORDER BY: SQLite would read the whole table in order of id for that."""
        query = sa.select(tickets, ticket_owners.c.owner).select_from(
            tickets.outerjoin(ticket_owners, ticket_owners.c.ticket_id == tickets.c.ticket_id)).where(where)
        with self.engine.connect() as conn:
            return sorted((dict(r) for r in conn.execute(query).mappings()), key=lambda t: t["id"])

    @_guard
    def ticket_histories(self, ticket_ids: list[str]) -> dict[str, list[dict]]:
        """The status history of many tickets at once, each in order."""
        found: dict[str, list[dict]] = {ticket_id: [] for ticket_id in ticket_ids}
        if not ticket_ids:
            return found
        with self.engine.connect() as conn:
            for chunk in in_chunks(list(found)):  # the ledger page asks for every unfinished ticket's: maybe thousands
                query = sa.select(ticket_history).where(ticket_history.c.ticket_id.in_(chunk)).order_by(ticket_history.c.id)
                for row in conn.execute(query).mappings():
                    found[row["ticket_id"]].append(dict(row))
        return found

    @_guard
    def set_ticket_owner(self, ticket_id: str, owner: str, *, if_unowned: bool = False) -> None:
        """Make ``owner`` the ticket's ledger owner; ``if_unowned``: only when nobody owns it yet
        (the first agent to act on a ticket owns it, a later one does not take it over). The ticket's row is
        locked before the owner is read (``_locked_ticket``): two agents acting at once, the second sees the
        first's claim instead of overwriting it (SQLite) or colliding with it (PostgreSQL)."""
        with self.engine.begin() as conn:
            _locked_ticket(conn, ticket_id)  # TicketTransitionError for no such ticket
            if if_unowned and conn.execute(sa.select(ticket_owners.c.owner)
                                           .where(ticket_owners.c.ticket_id == ticket_id)).first() is not None:
                return
            changed = conn.execute(ticket_owners.update().where(ticket_owners.c.ticket_id == ticket_id)
                                   .values(owner=owner, assigned_at=dt.datetime.utcnow())).rowcount
            if not changed:
                conn.execute(ticket_owners.insert().values(ticket_id=ticket_id, owner=owner))

    @_guard
    def events_for(self, conversation_id: str) -> list[dict]:
        query = (
            sa.select(conversation_events)
            .where(conversation_events.c.conversation_id == conversation_id)
            .order_by(conversation_events.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- voice messages ------------------------------------------------
    @_guard
    @_retry_transient
    def add_voice_message(self, conn, *, message_id: str, audio: bytes, conversation_id: str, duration_s: float,
                          caller_phone: str = "", customer_id: int | None = None, channel: str = "") -> None:
        """Record a voice message (outcome ``received``) before it is recognised and routed, with its
        recording (a WAV, kept until deleted) in the same transaction: never one without the other."""
        from bot.db.recordings import VOICE_MESSAGE, insert  # that module builds on this one

        conn.execute(voice_messages.insert().values(
            id=message_id, audio_path="", duration_s=duration_s, caller_phone=caller_phone,
            customer_id=customer_id, channel=channel, entities=[], outcome="received", needs_human=0,
        ))
        insert(conn, recording_id=message_id, kind=VOICE_MESSAGE, conversation_id=conversation_id, audio=audio)

    @_guard
    def update_voice_message(self, message_id: str, **fields) -> None:
        """Set recognition and routing results (transcript, intent, ticket_id, outcome, ...)."""
        unknown = set(fields) - set(voice_messages.c.keys())
        if unknown or "id" in fields:
            raise ValueError(f"not voice_messages columns: {sorted(unknown | ({'id'} & set(fields)))}")
        if "needs_human" in fields:
            fields["needs_human"] = int(fields["needs_human"])
        with self.engine.begin() as conn:
            conn.execute(voice_messages.update().where(voice_messages.c.id == message_id).values(**fields))

    @_guard
    @_retry_transient
    def hand_voice_message_on(self, conn, message_id: str, *, was: str, outcome: str, note: Callable[[str], str],
                              **work_item) -> str | None:
        """Voice message ``message_id``, routed ``was`` (self-help), goes to a person: one transaction, so a failure
        anywhere in it leaves everything as it was and its retry files no second work item (found in review: the
        work item was committed, the message's change failed, and the retry filed another). Its ticket, while
        open, becomes the work item (``work_item``: :meth:`create_ticket`'s arguments), so one ticket stands for
        the message (found in review: the self-help ticket stayed open beside the work item and nobody closed
        it); else a work item is filed and the old ticket noted. Either gets ``note(work item)``. The message
        takes ``outcome`` and that ticket; its recording is kept until an agent finishes the work item. None,
        with nothing written, when the message is no longer ``was`` (routed meanwhile)."""
        from bot.db.recordings import VOICE_MESSAGE  # that module builds on this one
        from bot.db.schema import recordings

        moved = conn.execute(voice_messages.update().where(
            voice_messages.c.id == message_id, voice_messages.c.outcome == was).values(
            outcome=outcome, needs_human=1)).rowcount  # also holds off another hand-on of it until this commits
        if moved != 1:
            return None
        had = conn.execute(sa.select(voice_messages.c.ticket_id).where(voice_messages.c.id == message_id)).scalar()
        if had and _locked_ticket(conn, had).status in OPEN_TICKET_STATUSES:
            self._note_ticket(conn, had, note(had), lambda current: _taken_over(current, work_item),
                              event="ticket_updated")
            work = had
        else:
            work = _insert_ticket(conn, **work_item)
            if had:
                self._note_ticket(conn, had, note(work), lambda current: {})
        conn.execute(voice_messages.update().where(voice_messages.c.id == message_id).values(ticket_id=work))
        conn.execute(recordings.update().where(recordings.c.id == message_id, recordings.c.kind == VOICE_MESSAGE)
                     .values(expires_at=None))
        return work

    @_guard
    def get_voice_message(self, message_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(voice_messages).where(voice_messages.c.id == message_id)).mappings().first()
        return dict(row) if row else None

    @_guard
    def voice_messages(self, *, outcome: str | None = None, limit: int = 50) -> list[dict]:
        """Newest first; ``outcome="received"`` lists messages stored but never routed."""
        query = sa.select(voice_messages)
        if outcome:
            query = query.where(voice_messages.c.outcome == outcome)
        query = query.order_by(voice_messages.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- outbox (messages for the channel workers to deliver) ----------
    @_guard
    def add_outbound(self, *, channel: str, recipient: str, kind: str, payload: dict,
                     once: str | None = None) -> int | None:
        """Queue a message in state ``pending``; returns its outbox id. ``queued_at`` (naive UTC, this
        process's clock: the workers' retry times use it too) starts its hour to be delivered.
        ``once``: the step's own key for the message (a lost call's close's SMS): queued once under it, whoever
        queues it and however often (a retry after a cut-off, two processes at once); None when it was already."""
        try:
            return self._add_outbound(channel=channel, recipient=recipient, kind=kind, payload=payload, once=once)
        except _QueuedAlready:
            return None

    @_retry_transient
    def _add_outbound(self, conn, *, channel: str, recipient: str, kind: str, payload: dict,
                      once: str | None) -> int:
        if once is not None:
            _queued_once(conn, once)
        payload = {**payload, "queued_at": payload.get("queued_at") or dt.datetime.utcnow().isoformat()}
        result = conn.execute(outbox.insert().values(
            channel=channel, recipient=recipient, kind=kind, payload=payload, status="pending"))
        return result.inserted_primary_key[0]

    @_guard
    def outbound(self, *, status: str = "pending", channel: str | None = None, limit: int = 100) -> list[dict]:
        """Oldest first (the workers read the table themselves: bot/outbound/outbox_rows.py)."""
        query = sa.select(outbox).where(outbox.c.status == status)
        if channel:
            query = query.where(outbox.c.channel == channel)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(outbox.c.id).limit(limit)).mappings()]
