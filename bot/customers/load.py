"""Writing a checked import: every record updates its row in place or adds one, in one transaction.

Rows are updated, never deleted and inserted again, so a customer keeps Kefu's ``id`` — and with it
their conversations, WeChat binding, service password and tickets. Nothing absent from the import is
deleted: a customer who left stays until ``kefu customer erase`` (their tickets stay, anonymised).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.customers.extract import Existing, Extract
from bot.db.repository import in_chunks
from bot.db.schema import bills, customers, plans, usage


@dataclass
class Loaded:
    added: Counter = field(default_factory=Counter)  # by table
    updated: Counter = field(default_factory=Counter)
    not_in_import: int = 0  # Kefu's customers this import did not mention (left as they are)


def load(conn: sa.engine.Connection, extract: Extract, existing: Existing, targets: dict[str, int | None]) -> Loaded:
    loaded = Loaded()
    _plans(conn, extract, existing, loaded)
    ids = _customers(conn, extract, targets, loaded)
    ids.update(existing.by_external_id)
    for table, records in ((bills, extract.bills), (usage, extract.usage)):
        _monthly(conn, table, records, ids, loaded)
    mentioned = {t for t in targets.values() if t is not None}
    loaded.not_in_import = len(set(existing.by_phone.values()) - mentioned)
    return loaded


def _plans(conn, extract: Extract, existing: Existing, loaded: Loaded) -> None:
    for code, record in extract.plans.items():
        if code in existing.plan_codes:
            conn.execute(plans.update().where(plans.c.code == code).values(**record.values))
            loaded.updated["plans"] += 1
        else:
            conn.execute(plans.insert().values(**record.values))
            loaded.added["plans"] += 1


def _customers(conn, extract: Extract, targets: dict[str, int | None], loaded: Loaded) -> dict[str, int]:
    """Kefu's id of every customer of the import. A phone or account number moving from one customer to
    another within the import is first parked on a placeholder, so no unique index sees it twice."""
    current = {}
    kept = [t for t in targets.values() if t is not None]
    for chunk in in_chunks(kept):
        query = sa.select(customers.c.id, customers.c.phone, customers.c.account_number).where(customers.c.id.in_(chunk))
        current.update({row.id: row for row in conn.execute(query)})
    for external_id, record in extract.customers.items():
        target, values = targets[external_id], record.values
        if target is not None and (current[target].phone, current[target].account_number) != (
                values["phone"], values["account_number"]):
            conn.execute(customers.update().where(customers.c.id == target).values(
                phone=f"~{target}", account_number=f"~{target}"))
    ids = {}
    for external_id, record in extract.customers.items():
        target = targets[external_id]
        if target is None:
            continue
        conn.execute(customers.update().where(customers.c.id == target).values(**record.values))
        loaded.updated["customers"] += 1
        ids[external_id] = target
    for external_id, record in extract.customers.items():
        if targets[external_id] is None:
            ids[external_id] = conn.execute(customers.insert().values(**record.values)).inserted_primary_key[0]
            loaded.added["customers"] += 1
    return ids


def _monthly(conn, table: sa.Table, records: dict, ids: dict[str, int], loaded: Loaded) -> None:
    """Bills or usage: one row per customer and month, updated when it is there."""
    wanted = sorted({ids[external_id] for external_id, _ in records})
    there = {}
    for chunk in in_chunks(wanted):
        query = sa.select(table.c.id, table.c.customer_id, table.c.period).where(table.c.customer_id.in_(chunk))
        there.update({(row.customer_id, row.period): row.id for row in conn.execute(query)})
    for (external_id, period), record in records.items():
        customer_id = ids[external_id]
        values = {k: v for k, v in record.values.items() if k != "customer"}
        row_id = there.get((customer_id, period))
        if row_id is None:
            conn.execute(table.insert().values(customer_id=customer_id, **values))
            loaded.added[table.name] += 1
        else:
            conn.execute(table.update().where(table.c.id == row_id).values(**values))
            loaded.updated[table.name] += 1
