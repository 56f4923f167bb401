"""Where a customer is reached now: the number and WeChat a contact goes to, and every address their
opt-out covers — read together, in one statement.

The contact worker read them apart (the number to use, then, for the opt-out check, the customer's
numbers and WeChat accounts again): two reads of one attempt, which an import, an agent's correction or
a follower leaving between them could make disagree (found in review). One SELECT (a UNION ALL of the
three tables) is one snapshot on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bot.contacts.schedule import address_of
from bot.db.repository import Repository, in_chunks
from bot.db.schema import channel_bindings, customer_contacts, customers


@dataclass(frozen=True)
class Reach:
    """``phone``: the number to call or text (an agent's corrected callback number, else the registered
    one); ``openid``: their WeChat (the latest bound); ``addresses``: every address they are reached at
    (``phone:…``/``wechat:…``, as the block list keeps them), registered and corrected numbers and
    every bound WeChat account."""

    phone: str
    openid: str
    addresses: frozenset[str]


def reach_of(repository: Repository, customer_ids: set[int]) -> dict[int, Reach]:
    """customer id -> how they are reached now; a customer not in the database is not in it."""
    found: dict[int, dict] = {}
    with repository.engine.connect() as conn:
        for chunk in in_chunks(sorted(customer_ids)):
            rows = conn.execute(_query(chunk)).all()
            for customer_id, kind, value, _at in sorted(rows, key=lambda r: (r[0], r[1], r[3] is not None, r[3], r[2])):
                reach = found.setdefault(customer_id, {"registered": "", "callback": "", "openid": "", "all": set()})
                if not value:
                    continue
                if kind == "1registered":
                    reach["registered"] = value
                elif kind == "2callback":
                    reach["callback"] = value
                else:
                    reach["openid"] = value  # ordered by when bound: the latest
                reach["all"].add(address_of("wechat", "", value) if kind == "3wechat"
                                 else address_of("phone", value, ""))
    return {customer_id: Reach(r["callback"] or r["registered"], r["openid"], frozenset(r["all"]))
            for customer_id, r in found.items()}


def _query(customer_ids: list[int]):
    at = sa.cast(sa.null(), sa.DateTime)
    return sa.union_all(
        sa.select(customers.c.id, sa.literal("1registered"), customers.c.phone, at)
        .where(customers.c.id.in_(customer_ids)),
        sa.select(customer_contacts.c.customer_id, sa.literal("2callback"), customer_contacts.c.value,
                  customer_contacts.c.updated_at)
        .where(customer_contacts.c.field == "callback_phone", customer_contacts.c.customer_id.in_(customer_ids)),
        sa.select(channel_bindings.c.customer_id, sa.literal("3wechat"), channel_bindings.c.external_id,
                  channel_bindings.c.bound_at)
        .where(channel_bindings.c.channel == "wechat", channel_bindings.c.customer_id.in_(customer_ids)))
