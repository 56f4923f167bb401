"""An import's records checked together, and against the database, before anything is written.

Keys: a plan by ``code``, a customer by ``external_id`` (the operator's key), a bill or a usage row by
its customer's ``external_id`` and ``period``. A customer already in Kefu keeps its ``id``: found by
``external_id``, or, for a customer loaded before Kefu had that key (demo data, an earlier raw-SQL
load), by ``account_number`` — it is then given the key. Phone numbers and account numbers stay
unique across the whole database, not only the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import sqlalchemy as sa

from bot.customers.records import Problem, Record, Where
from bot.customers.tombstones import erased
from bot.db.schema import customers, plans


@dataclass
class Extract:
    plans: dict[str, Record] = field(default_factory=dict)
    customers: dict[str, Record] = field(default_factory=dict)  # by external_id
    bills: dict[tuple[str, str], Record] = field(default_factory=dict)  # by (external_id, period)
    usage: dict[tuple[str, str], Record] = field(default_factory=dict)
    erased: list[Record] = field(default_factory=list)  # records of erased customers, not loaded


@dataclass(frozen=True)
class Existing:
    """The database's customers as the import needs them: ids by each unique key."""

    plan_codes: frozenset[str]
    by_external_id: dict[str, int]
    by_phone: dict[str, int]
    by_account: dict[str, int]
    unkeyed: frozenset[int]  # customers without an external_id yet

    @classmethod
    def read(cls, conn: sa.engine.Connection) -> "Existing":
        by_external_id, by_phone, by_account, unkeyed = {}, {}, {}, set()
        query = sa.select(customers.c.id, customers.c.external_id, customers.c.phone, customers.c.account_number)
        for row in conn.execute(query):
            by_phone[row.phone] = by_account[row.account_number] = row.id
            if row.external_id is None:
                unkeyed.add(row.id)
            else:
                by_external_id[row.external_id] = row.id
        codes = frozenset(conn.execute(sa.select(plans.c.code)).scalars())
        return cls(codes, by_external_id, by_phone, by_account, frozenset(unkeyed))


def collect(records: Iterable[Record]) -> tuple[Extract, list[Problem]]:
    """The records by key; a key, phone or account number given twice is a problem at its second line."""
    extract, problems = Extract(), []
    first_phone: dict[str, Where] = {}
    first_account: dict[str, Where] = {}
    tables = {"plan": extract.plans, "customer": extract.customers, "bill": extract.bills, "usage": extract.usage}
    for record in records:
        values = record.values
        key = {"plan": lambda: values["code"], "customer": lambda: values["external_id"]}.get(
            record.type, lambda: (values["customer"], values["period"]))()
        table = tables[record.type]
        if key in table:
            shown = key if isinstance(key, str) else f"{key[0]} {key[1]}"
            problems.append(Problem(record.where, f"{record.type} {shown} is also on {table[key].where}"))
            continue
        if record.type == "customer":
            phone, account = values["phone"], values["account_number"]
            if phone in first_phone:
                problems.append(Problem(record.where, f"phone {phone} is also on {first_phone[phone]} "
                                                      "(numbers are compared as 11 bare digits)"))
                continue
            if account in first_account:
                problems.append(Problem(record.where, f"account_number {account} is also on {first_account[account]}"))
                continue
            first_phone[phone], first_account[account] = record.where, record.where
        table[key] = record
    return extract, problems


def check(conn: sa.engine.Connection, extract: Extract, existing: Existing) -> tuple[dict[str, int | None], list[Problem]]:
    """Which Kefu customer each of the file's customers is (None: a new one), and what cannot be loaded.

    Records of customers erased at their request are moved to ``extract.erased``: skipped, not refused."""
    problems: list[Problem] = []
    named = set(extract.customers) | {e for e, _ in extract.bills} | {e for e, _ in extract.usage}
    gone = erased(conn, [e for e in named if e not in existing.by_external_id])
    for table in (extract.customers, extract.bills, extract.usage):
        for key in [k for k in table if (k if isinstance(k, str) else k[0]) in gone]:
            extract.erased.append(table.pop(key))
    targets = {external_id: _target(record, existing) for external_id, record in extract.customers.items()}
    new_phone = {targets[e]: r.values["phone"] for e, r in extract.customers.items() if targets[e] is not None}
    new_account = {targets[e]: r.values["account_number"] for e, r in extract.customers.items() if targets[e] is not None}
    for external_id, record in extract.customers.items():
        values, target = record.values, targets[external_id]
        for name, holders, changes in (("phone", existing.by_phone, new_phone),
                                       ("account_number", existing.by_account, new_account)):
            holder = holders.get(values[name])
            if holder is not None and holder != target and changes.get(holder, values[name]) == values[name]:
                problems.append(Problem(record.where, f"{name} {values[name]} belongs to another customer in Kefu "
                                                      f"(id {holder}) that this import does not change"))
        plan = values["plan_code"]
        if plan is not None and plan not in extract.plans and plan not in existing.plan_codes:
            problems.append(Problem(record.where, f"plan_code {plan} is no plan in this import or in Kefu"))
    for kind, table in (("bill", extract.bills), ("usage", extract.usage)):
        for (external_id, _), record in table.items():
            if external_id not in extract.customers and external_id not in existing.by_external_id:
                problems.append(Problem(record.where, f"{kind} of customer {external_id}, who is in neither "
                                                      "this import nor Kefu"))
    return targets, problems


def _target(record: Record, existing: Existing) -> int | None:
    """The Kefu customer a record updates: by the operator's key, else an unkeyed one with its account."""
    known = existing.by_external_id.get(record.values["external_id"])
    if known is not None:
        return known
    holder = existing.by_account.get(record.values["account_number"])
    return holder if holder in existing.unkeyed else None
