"""Putting tickets into a test database at chosen ages."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import contacts, customers, ticket_history, tickets


def backdate(repo: Repository, ticket_id: str, by: dt.timedelta) -> dt.datetime:
    """Make a ticket registered ``by`` earlier than it was; returns its new registration time."""
    with repo.engine.begin() as conn:
        created = conn.execute(sa.select(tickets.c.created_at).where(tickets.c.ticket_id == ticket_id)).scalar_one()
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(created_at=created - by))
    return created - by


FAULTS = ("fault_broadband", "fault_tv", "fault_mobile")
FINISHING = ("assigned", "resolved", "customer_told", "follow_up_done")


def add_customers(repo: Repository, count: int) -> list[int]:
    """``count`` more customers (the demo's plans), as many as an operator's ledger spans; their ids."""
    with repo.engine.begin() as conn:
        first = (conn.execute(sa.select(sa.func.max(customers.c.id))).scalar() or 0) + 1
        plan = conn.execute(sa.select(customers.c.plan_code).where(customers.c.plan_code.is_not(None))).scalar()
        conn.execute(customers.insert(), [
            {"id": first + n, "phone": f"139{first + n:08d}", "account_number": f"S{first + n:09d}",
             "name": f"客户{first + n}", "vip_tier": 0, "address": "", "plan_code": plan, "balance_cents": 0}
            for n in range(count)])
    return list(range(first, first + count))


def old_finished_tickets(repo: Repository, count: int, customer_ids: list[int], registered_at: dt.datetime,
                         *, every: dt.timedelta = dt.timedelta(hours=1), batch: int = 5000) -> None:
    """``count`` tickets whose follow-up was done long ago, as months of a centre's work leave them: fault
    reports, visits and complaints of ``customer_ids`` in turn, registered ``every`` apart going back from
    ``registered_at``, each with its whole history (registered, acted on, told, followed up) and a fault
    report's follow-up contact, done. Written in bulk: tens of thousands in seconds, with ticket ids as
    ``create_ticket`` numbers them."""
    kinds = ("fault", "fault", "visit", "complaint")
    with repo.engine.begin() as conn:
        first = (conn.execute(sa.select(sa.func.max(tickets.c.id))).scalar() or 0) + 1
    for start in range(0, count, batch):
        rows, history, followups = [], [], []
        for n in range(start, min(count, start + batch)):
            row_id, at = first + n, registered_at - n * every
            ticket_id, kind = f"TK{row_id:06d}", kinds[n % len(kinds)]
            rows.append({"id": row_id, "ticket_id": ticket_id, "customer_id": customer_ids[n % len(customer_ids)],
                         "kind": kind, "status": "follow_up_done", "priority": 0, "needs_human": 0,
                         "summary": f"{kind} {n}", "details": {"fault_type": FAULTS[n % len(FAULTS)]},
                         "channel": "webchat", "conversation_id": f"old-{n}", "created_at": at, "updated_at": at})
            history.append({"ticket_id": ticket_id, "from_status": None, "to_status": "open", "note": "", "at": at})
            if kind == "fault":
                followups.append({"dedupe_key": f"followup:{ticket_id}", "purpose": "followup",
                                  "rule": "repair_followup",
                                  "customer_id": rows[-1]["customer_id"], "ticket_id": ticket_id, "channels": ["phone"],
                                  "status": "done", "due_at": at + dt.timedelta(hours=3), "result": "fixed",
                                  "created_at": at, "updated_at": at})
            for hours, (before, after) in enumerate(zip(("open", *FINISHING), FINISHING), start=1):
                history.append({"ticket_id": ticket_id, "from_status": before, "to_status": after,
                                "note": "" if after != "follow_up_done" else "回访完成",
                                "at": at + dt.timedelta(hours=hours)})
        with repo.engine.begin() as conn:
            conn.execute(tickets.insert(), rows)
            conn.execute(ticket_history.insert(), history)
            conn.execute(contacts.insert(), followups)
