"""The contact schedule in the database: add once, claim once, finish once.

Every state change is a conditional UPDATE (``WHERE status = … AND attempt_token = …``), atomic on
SQLite and PostgreSQL alike, so of several workers racing for a contact exactly one wins, and a late
answer from an old attempt cannot overwrite a newer one. Times are naive UTC, like the rest of the
database. Lifecycle::

    scheduled --claim--> working --placed--> calling --answer/no answer--> done | scheduled (retry) | failed
    scheduled --quiet hours / daily limit / no channel--> scheduled (later)      scheduled --opted out--> blocked
    scheduled --not first tried, or no channel reached it, in time (late_limit_hours)--> failed
    scheduled (follow-up, care) --the customer has an open complaint--> held (the complaint's handler's)
    scheduled (callback) --offered to agents--> offered --an agent closed it--> done

A worker that dies leaves ``working`` (nothing was placed yet: back to ``scheduled``) or ``calling``
(the attempt is counted before the call is dialled or the text sent, as the carrier or the gateway
may have it: when its lease ends without an answer a call counts as not answered, a text is sent
again as the same attempt) — never lost, never placed twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.db.repository import Repository, in_chunks
from bot.db.schema import contact_attempts, contact_blocks, contacts

# Where a contact stands; the ledger names a follow-up's by ``followup_<status>`` (content/ui/ledger.zh.json) and
# `kefu validate` names one missing (tests/editor tie this list to the statuses this module writes).
STATUSES = ("scheduled", "working", "calling", "offered", "done", "failed", "blocked", "held")
ACTIVE = ("working", "calling")
BLOCK_REASONS = ("opt_out", "dnd")  # why an address is blocked: the customer opted out, an operator's do-not-disturb
PENDING = ("scheduled", *ACTIVE, "offered")  # a contact still to be made
FIRST_DUE = "first_due"  # in a contact's details: when it first came due (ISO, naive UTC), however often it waited


def first_due(contact: dict) -> dt.datetime:
    """When ``contact`` first came due, as recorded when it was scheduled; for one an older Kefu scheduled, when
    it was scheduled, and for one not scheduled yet (the dry run's), its due time."""
    recorded = (contact.get("details") or {}).get(FIRST_DUE)
    if recorded:
        return dt.datetime.fromisoformat(recorded)
    return contact.get("created_at") or contact["due_at"]


def address_of(channel: str, phone: str, openid: str) -> str:
    """The key a customer is reached at on ``channel`` (attempt limits and opt-outs are per address)."""
    if channel == "wechat":
        return f"wechat:{openid}" if openid else ""
    return f"phone:{phone}" if phone else ""


def _of(status: str | None, purpose: str | None) -> list:
    """The conditions choosing contacts of ``status`` and ``purpose`` (each when given)."""
    return ([contacts.c.status == status] if status else []) + ([contacts.c.purpose == purpose] if purpose else [])


class DailyLimitReached(Exception):
    """The address had its day's attempts meanwhile (:meth:`Schedule.placed`); the message is the address."""


def address_lock_key(address: str) -> int:
    """PostgreSQL's advisory lock key for attempts at ``address``: a signed 64-bit digest of it."""
    return int.from_bytes(hashlib.sha256(f"kefu-contact-address:{address}".encode()).digest()[:8], "big", signed=True)


def _attempts_since(conn, address: str, since: dt.datetime) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(contact_attempts).where(
        contact_attempts.c.address == address, contact_attempts.c.at >= since)).scalar_one()


class Schedule:
    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.engine = repository.engine

    # -- adding ----------------------------------------------------------------------------
    def add(self, *, dedupe_key: str, purpose: str, rule: str, due_at: dt.datetime, channels: list[str],
            customer_id: int | None = None, phone: str = "", openid: str = "", ticket_id: str | None = None,
            details: dict | None = None) -> int | None:
        """Schedule a contact; None when one with the same ``dedupe_key`` exists already."""
        now = dt.datetime.utcnow()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(contacts.insert().values(
                    dedupe_key=dedupe_key, purpose=purpose, rule=rule, due_at=due_at, channels=list(channels),
                    customer_id=customer_id, phone=phone or "", openid=openid or "", ticket_id=ticket_id,
                    status="scheduled", attempts=0, details={**(details or {}), FIRST_DUE: due_at.isoformat()},
                    created_at=now, updated_at=now))
                return result.inserted_primary_key[0]
        except IntegrityError:
            return None

    def known_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` are scheduled already (looked up in chunks: the list may be long)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in in_chunks(keys):
                found |= {r[0] for r in conn.execute(sa.select(contacts.c.dedupe_key)
                                                     .where(contacts.c.dedupe_key.in_(chunk)))}
        return found

    # -- reading ---------------------------------------------------------------------------
    def pending_problems(self, rule: str, customer_ids: set[int]) -> set[tuple[int, str | None]]:
        """(customer, fault) of every contact of ``rule`` not over yet (scheduled, being made, offered):
        a customer is called about one problem once at a time, however often it was reported."""
        found: set[tuple[int, str | None]] = set()
        with self.engine.connect() as conn:
            for chunk in in_chunks(sorted(customer_ids)):
                query = sa.select(contacts.c.customer_id, contacts.c.details).where(
                    contacts.c.rule == rule, contacts.c.customer_id.in_(chunk), contacts.c.status.in_(PENDING))
                found |= {(row.customer_id, (row.details or {}).get("fault")) for row in conn.execute(query)}
        return found

    def made_or_due_since(self, rule: str, customer_ids: set[int], since: dt.datetime,
                          not_made: str = "") -> tuple[set[int], dict[int, int]]:
        """The customers with a contact of ``rule`` due (or made, its due time moved to when) at or after
        ``since``, whatever its key: a reminder postponed into a new month is that month's. A contact
        dropped with result ``not_made`` (an arrears reminder whose customer had paid) is none: how many
        each customer has is returned apart, to key the next one by."""
        found: set[int] = set()
        dropped: dict[int, int] = {}
        with self.engine.connect() as conn:
            for chunk in in_chunks(sorted(customer_ids)):
                for customer_id, status, result in conn.execute(
                        sa.select(contacts.c.customer_id, contacts.c.status, contacts.c.result).where(
                            contacts.c.rule == rule, contacts.c.customer_id.in_(chunk), contacts.c.due_at >= since)):
                    if not_made and (status, result) == ("done", not_made):
                        dropped[customer_id] = dropped.get(customer_id, 0) + 1
                    else:
                        found.add(customer_id)
        return found, dropped

    def get(self, contact_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.id == contact_id)).mappings().first()
        return dict(row) if row else None

    def by_token(self, token: str) -> dict | None:
        if not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.attempt_token == token)).mappings().first()
        return dict(row) if row else None

    def listing(self, *, status: str | None = None, purpose: str | None = None, limit: int = 200) -> list[dict]:
        """Soonest first: the ``limit`` contacts with the latest due times (the schedule keeps every contact
        ever made, and those still to come are the latest), of ``status`` and ``purpose`` if given."""
        latest = (sa.select(contacts).where(*_of(status, purpose))
                  .order_by(contacts.c.due_at.desc(), contacts.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(latest).mappings()][::-1]

    def count(self, *, status: str | None = None, purpose: str | None = None) -> int:
        """How many contacts :meth:`listing` would choose from."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(contacts).where(*_of(status, purpose))).scalar_one()

    def due(self, now: dt.datetime, limit: int = 50) -> list[dict]:
        query = (sa.select(contacts).where(contacts.c.status == "scheduled", contacts.c.due_at <= now)
                 .order_by(contacts.c.due_at, contacts.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def still_to_make(self, phones: set[str], openids: set[str]) -> list[dict]:
        """The contacts of these numbers and WeChat ids a worker will still attempt (scheduled, or claimed
        and not placed yet), by id: `kefu contacts plan` counts them against the daily limit."""
        query = sa.select(contacts).where(contacts.c.status.in_(("scheduled", "working"))).order_by(contacts.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()
                    if (r["phone"] and r["phone"] in phones) or (r["openid"] and r["openid"] in openids)]

    def attempts(self, contact_id: int) -> list[dict]:
        query = sa.select(contact_attempts).where(contact_attempts.c.contact_id == contact_id).order_by(contact_attempts.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def attempts_since(self, address: str, since: dt.datetime) -> int:
        with self.engine.connect() as conn:
            return _attempts_since(conn, address, since)

    def followups_of(self, ticket_ids: list[str]) -> dict[str, dict]:
        """The latest follow-up contact of each ticket (for the ledger page)."""
        found: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for chunk in in_chunks(ticket_ids):
                query = (sa.select(contacts.c.id, contacts.c.ticket_id, contacts.c.status, contacts.c.due_at,
                                   contacts.c.result, contacts.c.attempts)
                         .where(contacts.c.purpose == "followup", contacts.c.ticket_id.in_(chunk))
                         .order_by(contacts.c.id))
                found.update({r["ticket_id"]: dict(r) for r in conn.execute(query).mappings()})
        return found

    def bring_forward(self, ticket_id: str, now: dt.datetime) -> list[int]:
        """An agent's "call now": the ticket's scheduled follow-ups become due at ``now``.

        Only the due time moves: quiet hours, the daily limit and opt-outs still apply when the
        worker picks it up (a contact brought forward at night waits for the morning)."""
        where = (contacts.c.ticket_id == ticket_id, contacts.c.purpose == "followup", contacts.c.status == "scheduled")
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(sa.select(contacts.c.id).where(*where))]
            if ids:
                conn.execute(contacts.update().where(contacts.c.id.in_(ids), *where)
                             .values(due_at=now, updated_at=now))
        return ids

    # -- claiming and finishing ------------------------------------------------------------
    def claim(self, contact_id: int, worker: str, now: dt.datetime, lease: dt.timedelta) -> str | None:
        """Take a due contact for one attempt; returns the attempt's token, or None if another worker has it."""
        token = secrets.token_hex(16)
        with self.engine.begin() as conn:
            claimed = conn.execute(contacts.update().where(
                contacts.c.id == contact_id, contacts.c.status == "scheduled", contacts.c.due_at <= now,
            ).values(status="working", worker=worker, attempt_token=token, lease_until=now + lease, updated_at=now))
        return token if claimed.rowcount == 1 else None

    def readdress(self, contact_id: int, token: str, *, phone: str, openid: str) -> bool:
        """The claimed contact goes to ``phone``/``openid`` from now on (the customer's record changed)."""
        return self._move(contact_id, token, ("working",), phone=phone, openid=openid)

    def _move(self, contact_id: int, token: str, from_statuses: tuple[str, ...], **values) -> bool:
        values.setdefault("updated_at", dt.datetime.utcnow())
        with self.engine.begin() as conn:
            moved = conn.execute(contacts.update().where(
                contacts.c.id == contact_id, contacts.c.attempt_token == token,
                contacts.c.status.in_(from_statuses)).values(**values))
        return moved.rowcount == 1

    def placed(self, contact_id: int, token: str, *, channel: str, address: str, now: dt.datetime,
               lease: dt.timedelta, carrier_call_id: str = "", daily: tuple[int, dt.datetime] | None = None,
               details: dict | None = None) -> bool:
        """The attempt is about to go out (call dialled, text sent): counted against the daily limit. False:
        the claim was lost meanwhile. ``daily``: (the limit, the start of the customer's day) — when the
        address has had that many attempts since, nothing is counted and ``DailyLimitReached`` is raised.

        The gate checked the limit before, but two workers attempting two contacts of one customer at the
        same moment both passed it (found in review): here the count and the new attempt are one
        transaction, serialised per address (SQLite: the write lock the UPDATE takes; PostgreSQL: an
        advisory lock on the address, as READ COMMITTED would not see the other's uncommitted attempt).
        ``details``, when given, replace the contact's: what the text says (an arrears reminder's amount
        read now), for a worker that sends it again after this one died."""
        kept = {} if details is None else {"details": details}
        with self.engine.begin() as conn:
            if daily is not None and conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": address_lock_key(address)})
            moved = conn.execute(contacts.update().where(
                contacts.c.id == contact_id, contacts.c.attempt_token == token, contacts.c.status == "working",
            ).values(status="calling", channel=channel, carrier_call_id=carrier_call_id, lease_until=now + lease,
                     attempts=contacts.c.attempts + 1, updated_at=now, **kept))
            if moved.rowcount != 1:
                return False
            if daily is not None and _attempts_since(conn, address, daily[1]) >= daily[0]:
                raise DailyLimitReached(address)  # rolls the UPDATE back: the claim stays the worker's
            conn.execute(contact_attempts.insert().values(contact_id=contact_id, address=address,
                                                          channel=channel, result="placed", at=now))
        return True

    def not_placed(self, contact_id: int, token: str, *, due_at: dt.datetime, result: str,
                   details: dict | None = None) -> bool:
        """Take back the attempt :meth:`placed` counted (no call or text went out, for a reason on Kefu's
        side or the channel's load) and schedule the contact again at ``due_at``: neither its retries nor
        the customer's daily limit are used up by it. Its attempt record is the contact's latest: a text
        sent again after its worker died is taken back too, long after it was placed. ``details``, when
        given, replace the contact's."""
        kept = {} if details is None else {"details": details}
        with self.engine.begin() as conn:
            moved = conn.execute(contacts.update().where(
                contacts.c.id == contact_id, contacts.c.attempt_token == token, contacts.c.status == "calling",
            ).values(status="scheduled", due_at=due_at, result=result, attempts=contacts.c.attempts - 1,
                     lease_until=None, attempt_token="", carrier_call_id="", updated_at=dt.datetime.utcnow(),
                     **kept))
            if moved.rowcount != 1:
                return False
            latest = sa.select(sa.func.max(contact_attempts.c.id)).where(
                contact_attempts.c.contact_id == contact_id).scalar_subquery()
            conn.execute(contact_attempts.delete().where(contact_attempts.c.id == latest))
        return True

    def carrier_call(self, contact_id: int, token: str, carrier_call_id: str) -> bool:
        """The carrier's id of the call an attempt placed, for its status callbacks."""
        return self._move(contact_id, token, ("calling",), carrier_call_id=carrier_call_id)

    def finish(self, contact_id: int, token: str, *, result: str, status: str = "done", details: dict | None = None) -> bool:
        values = {"status": status, "result": result, "lease_until": None}
        if details is not None:
            values["details"] = details
        return self._move(contact_id, token, ACTIVE, **values)

    def not_delivered(self, contact_id: int, token: str, **values) -> bool:
        """A contact ``done`` by a text its channel took and then reported it could not deliver (WeChat's
        delivery report): ``values`` (``failed``, or ``scheduled`` again), if it is still as the attempt
        ``token`` left it — False when another attempt or a report came first (WeChat sent it twice)."""
        return self._move(contact_id, token, ("done",), **values)

    def handled_by_agent(self, contact_id: int, disposition: str, agent_id: str) -> bool:
        """An offered callback an agent served and closed: ``done``, the disposition as its result and the
        agent in its details, so the schedule shows which callbacks were kept and by whom."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(contacts.c.details).where(
                contacts.c.id == contact_id, contacts.c.status == "offered")).first()
            if row is None:
                return False
            offered = contacts.update().where(contacts.c.id == contact_id, contacts.c.status == "offered")
            return conn.execute(offered.values(
                status="done", result=disposition, details={**(row[0] or {}), "agent_id": agent_id},
                updated_at=dt.datetime.utcnow())).rowcount == 1

    def set_result(self, contact_id: int, token: str, result: str, details: dict) -> bool:
        """Record an answer heard during the attempt, keeping it active (the call goes on)."""
        return self._move(contact_id, token, ACTIVE, result=result, details=details)

    def retry_later(self, contact_id: int, token: str, due_at: dt.datetime, result: str,
                    details: dict | None = None) -> bool:
        """Tried again at ``due_at``; ``details``, when given, replace the contact's."""
        kept = {} if details is None else {"details": details}
        return self._move(contact_id, token, ACTIVE, status="scheduled", due_at=due_at, result=result,
                          lease_until=None, attempt_token="", **kept)

    def release(self, contact_id: int, token: str) -> bool:
        """A claim given back untouched (due time and result kept): the next pass takes the contact again."""
        return self._move(contact_id, token, ("working",), status="scheduled", lease_until=None, attempt_token="")

    def postpone(self, contact_id: int, token: str, due_at: dt.datetime, reason: str) -> bool:
        """Not attempted now (quiet hours, daily limit): back in the schedule unchanged but for the time."""
        return self._move(contact_id, token, ("working",), status="scheduled", due_at=due_at, result=reason,
                          lease_until=None, attempt_token="")

    def mark_carrier_status(self, carrier_call_id: str, status: str, ended_at: dt.datetime) -> dict | None:
        """Remember the carrier's final status of a placed call; its attempt is over at ``ended_at``."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.carrier_call_id == carrier_call_id,
                                                         contacts.c.status == "calling")).mappings().first()
            if row is None:
                return None
            details = {**(row["details"] or {}), "carrier_status": status}
            conn.execute(contacts.update().where(contacts.c.id == row["id"], contacts.c.status == "calling")
                         .values(details=details, lease_until=ended_at))
        return {**dict(row), "details": details}

    def call_in_progress(self, carrier_call_id: str, lease_until: dt.datetime) -> dict | None:
        """The carrier says a placed call is ringing or answered now: its attempt lasts until ``lease_until``
        (never shortened; not once a final status came). A carrier that queues calls above its rate
        (Twilio: one a second per account) rings some minutes after they were placed."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.carrier_call_id == carrier_call_id,
                                                         contacts.c.status == "calling")).mappings().first()
            if row is None or (row["details"] or {}).get("carrier_status"):
                return None
            conn.execute(contacts.update().where(contacts.c.id == row["id"], contacts.c.status == "calling",
                                                 contacts.c.lease_until < lease_until)
                         .values(lease_until=lease_until))
        return dict(row)

    # -- restarts ----------------------------------------------------------------------------
    def recover_unplaced(self, now: dt.datetime) -> int:
        """Claims of workers that died before placing anything go back to the schedule."""
        with self.engine.begin() as conn:
            return conn.execute(contacts.update().where(
                contacts.c.status == "working", contacts.c.lease_until < now,
            ).values(status="scheduled", attempt_token="", lease_until=None, updated_at=now)).rowcount

    def take_over(self, contact_id: int, token: str, now: dt.datetime, lease: dt.timedelta) -> bool:
        """Take a placed attempt whose lease ran out (:meth:`expired_calls`) to finish it, with a new lease;
        False when another worker took it first (every worker's pass finds the same expired attempts)."""
        with self.engine.begin() as conn:
            return conn.execute(contacts.update().where(
                contacts.c.id == contact_id, contacts.c.attempt_token == token, contacts.c.status == "calling",
                contacts.c.lease_until < now,
            ).values(lease_until=now + lease, updated_at=now)).rowcount == 1

    def expired_calls(self, now: dt.datetime) -> list[dict]:
        """Placed attempts whose time is up (rang out, or the call ended without an answer)."""
        query = sa.select(contacts).where(contacts.c.status == "calling", contacts.c.lease_until < now)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- opt-outs and do-not-disturb ---------------------------------------------------------
    def block(self, address: str, reason: str, via: str = "") -> None:
        if not address:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(contact_blocks.insert().values(address=address, reason=reason, via=via,
                                                            at=dt.datetime.utcnow()))
        except IntegrityError:
            pass  # blocked already

    def unblock(self, address: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(contact_blocks.delete().where(contact_blocks.c.address == address))

    def blocked(self, address: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(contact_blocks.c.reason).where(contact_blocks.c.address == address)).scalar()

    def first_blocked(self, addresses: set[str]) -> str | None:
        """Why the first of ``addresses`` (in sorted order) that is blocked is, in one read: the outbox asks it of
        every text it sends (``bot.notify.held_back``)."""
        if not addresses:
            return None
        with self.engine.connect() as conn:
            found = dict(conn.execute(sa.select(contact_blocks.c.address, contact_blocks.c.reason)
                                      .where(contact_blocks.c.address.in_(sorted(addresses)))).all())
        return next((found[address] for address in sorted(addresses) if found.get(address)), None)

    def block_contact(self, contact_id: int, reason: str) -> bool:
        """A scheduled or claimed contact the customer may not receive (opted out, do-not-disturb)."""
        return self._stop(contact_id, "blocked", reason)

    def hold_contact(self, contact_id: int, reason: str) -> bool:
        """A scheduled or claimed contact Kefu does not make, left to a person (``bot/contacts/complaints.py``)."""
        return self._stop(contact_id, "held", reason)

    def drop_contact(self, contact_id: int, reason: str) -> bool:
        """A scheduled or claimed contact no longer wanted (its ticket was followed up meanwhile): ``done``."""
        return self._stop(contact_id, "done", reason)

    def expire_contact(self, contact_id: int, reason: str) -> bool:
        """A scheduled or claimed contact that waited too long (for a channel that reaches the customer): ``failed``."""
        return self._stop(contact_id, "failed", reason)

    def _stop(self, contact_id: int, status: str, reason: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(contacts.update().where(
                contacts.c.id == contact_id, contacts.c.status.in_(("scheduled", "working")),
            ).values(status=status, result=reason, lease_until=None, updated_at=dt.datetime.utcnow())).rowcount == 1
