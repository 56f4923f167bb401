"""Writing a checked import: every record updates its row in place or adds one, in one transaction.

Rows are updated, never deleted and inserted again, so a customer keeps Kefu's ``id`` — and with it
their conversations, WeChat binding, service password and tickets. Nothing absent from the import is
deleted: a customer who left stays until ``kefu customer erase`` (their tickets stay, anonymised).

A row the import gives exactly as it is stored is left alone, and the rest are written a batch of
statements at a time (``executemany``): a nightly refresh of a mostly unchanged extract writes little,
and on SQLite, whose one write lock every ticket and message of the running service waits for, the
lock is held for seconds rather than minutes (found in review: 135 s for 50,000 customers; measured
in ``bench/customer_import.py``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from bot.customers.extract import Existing, Extract
from bot.db.repository import in_chunks
from bot.db.schema import bills, customers, plans, usage

ROW_ID = "_row_id"  # the bound parameter naming the row an update writes


@dataclass
class Loaded:
    added: Counter = field(default_factory=Counter)  # by table
    updated: Counter = field(default_factory=Counter)  # rows the import changed
    unchanged: Counter = field(default_factory=Counter)  # rows it gave exactly as stored
    not_in_import: int = 0  # Kefu's customers this import did not mention (left as they are)


def load(conn: sa.engine.Connection, extract: Extract, existing: Existing, targets: dict[str, int | None]) -> Loaded:
    """Everything is read and compared first, then written: SQLite's write lock is taken at the first
    write, so the reads are not part of the time the service waits."""
    loaded = Loaded()
    ids = {**existing.by_external_id, **{e: t for e, t in targets.items() if t is not None}}
    writes = [_plans(conn, extract, existing, loaded), _customers(conn, extract, targets, loaded)]
    writes += [_monthly(conn, table, records, ids, loaded) for table, records in
               ((bills, extract.bills), (usage, extract.usage))]
    for write in writes:
        write(ids)
    mentioned = {t for t in targets.values() if t is not None}
    loaded.not_in_import = len(set(existing.by_phone.values()) - mentioned)
    return loaded


Write = Callable[[dict[str, int]], None]  # given every import customer's id (new ones once inserted)


def _stored(conn, table: sa.Table, key: sa.Column, wanted: list, columns: list[str]) -> dict:
    """The stored values of ``columns`` of the rows whose ``key`` (their primary key) is in ``wanted``."""
    found = {}
    for chunk in in_chunks(wanted):
        selected = dict.fromkeys([key, *(table.c[name] for name in columns)])  # each column once
        query = sa.select(*selected).where(key.in_(chunk))
        found.update({row._mapping[key.name]: dict(row._mapping) for row in conn.execute(query)})
    return found


def _update_rows(conn, table: sa.Table, rows: list[tuple[object, dict]]) -> None:
    """Each (primary key, values) written, one statement per batch of rows with the same columns."""
    (key,) = table.primary_key.columns
    by_columns: dict[tuple[str, ...], list[dict]] = {}
    for row_id, values in rows:
        by_columns.setdefault(tuple(sorted(values)), []).append({ROW_ID: row_id, **values})
    for columns, params in by_columns.items():
        statement = table.update().where(key == sa.bindparam(ROW_ID)).values(
            {name: sa.bindparam(name) for name in columns})
        for chunk in in_chunks(params):
            conn.execute(statement, chunk)


def _insert_rows(conn, table: sa.Table, rows: list[dict]) -> None:
    for chunk in in_chunks(rows):
        conn.execute(table.insert(), chunk)


def _changed(values: dict, stored: dict) -> bool:
    return any(stored[name] != value for name, value in values.items())


def _plans(conn, extract: Extract, existing: Existing, loaded: Loaded) -> Write:
    columns = sorted({name for record in extract.plans.values() for name in record.values})
    stored = _stored(conn, plans, plans.c.code, sorted(c for c in extract.plans if c in existing.plan_codes), columns)
    changes, new = [], []
    for code, record in extract.plans.items():
        if code not in existing.plan_codes:
            new.append(record.values)
        elif _changed(record.values, stored[code]):
            changes.append((code, record.values))
        else:
            loaded.unchanged["plans"] += 1
    loaded.updated["plans"] += len(changes)
    loaded.added["plans"] += len(new)

    def write(_ids: dict[str, int]) -> None:
        _update_rows(conn, plans, changes)
        _insert_rows(conn, plans, new)
    return write


def _customers(conn, extract: Extract, targets: dict[str, int | None], loaded: Loaded) -> Write:
    """Writes every customer of the import and adds the new ones' ids. A phone or account number moving
    from one customer to another within the import is first parked on a placeholder, so no unique index
    sees it twice."""
    columns = sorted({name for record in extract.customers.values() for name in record.values})
    current = _stored(conn, customers, customers.c.id, sorted(t for t in targets.values() if t is not None), columns)
    changes, parked, new = [], [], []
    for external_id, record in extract.customers.items():
        target, values = targets[external_id], record.values
        if target is None:
            new.append(values)
        elif not _changed(values, current[target]):
            loaded.unchanged["customers"] += 1
        else:
            changes.append((target, values))
            if (current[target]["phone"], current[target]["account_number"]) != (values["phone"], values["account_number"]):
                parked.append((target, {"phone": f"~{target}", "account_number": f"~{target}"}))
    loaded.updated["customers"] += len(changes)
    loaded.added["customers"] += len(new)

    def write(ids: dict[str, int]) -> None:
        _update_rows(conn, customers, parked)
        _update_rows(conn, customers, changes)
        _insert_rows(conn, customers, new)
        for chunk in in_chunks([values["external_id"] for values in new]):
            ids.update(conn.execute(sa.select(customers.c.external_id, customers.c.id)
                                    .where(customers.c.external_id.in_(chunk))).all())
    return write


def _monthly(conn, table: sa.Table, records: dict, ids: dict[str, int], loaded: Loaded) -> Write:
    """Bills or usage: one row per customer and month, updated when it is there (a customer new to
    Kefu has none yet)."""
    columns = sorted({name for record in records.values() for name in record.values if name != "customer"})
    there: dict[tuple[int, str], dict] = {}
    for chunk in in_chunks(sorted({ids[external_id] for external_id, _ in records if external_id in ids})):
        query = sa.select(table.c.id, table.c.customer_id, *(table.c[name] for name in columns)).where(
            table.c.customer_id.in_(chunk))
        there.update({(row.customer_id, row.period): dict(row._mapping) for row in conn.execute(query)})
    changes, new = [], []
    for (external_id, period), record in records.items():
        values = {k: v for k, v in record.values.items() if k != "customer"}
        row = there.get((ids[external_id], period)) if external_id in ids else None
        if row is None:
            new.append((external_id, values))
        elif _changed(values, row):
            changes.append((row["id"], values))
        else:
            loaded.unchanged[table.name] += 1
    loaded.updated[table.name] += len(changes)
    loaded.added[table.name] += len(new)

    def write(ids: dict[str, int]) -> None:
        _update_rows(conn, table, changes)
        _insert_rows(conn, table, [{"customer_id": ids[external_id], **values} for external_id, values in new])
    return write
