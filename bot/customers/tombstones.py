"""Erased customers the import must not load again.

``kefu customer erase`` deletes the customer's row; the next night's extract from the CRM would
bring them back under a new id. So the erasure leaves a one-way digest of the operator's key (not the
key, nor anything else about the person) and the import skips records whose key it matches.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import sqlalchemy as sa

from bot.db.repository import in_chunks
from bot.db.schema import erased_customers


def digest(external_id: str) -> str:
    return hashlib.sha256(f"kefu-erased-customer:{external_id}".encode()).hexdigest()


def remember(conn: sa.engine.Connection, external_id: str | None) -> int:
    """Record an erased customer's key (in the erasure's transaction); 0 for a customer without one."""
    if not external_id:
        return 0
    key = digest(external_id)
    if conn.execute(sa.select(erased_customers.c.external_id_digest)
                    .where(erased_customers.c.external_id_digest == key)).first() is None:
        conn.execute(erased_customers.insert().values(external_id_digest=key))
    return 1


def erased(conn: sa.engine.Connection, external_ids: Iterable[str]) -> set[str]:
    """Those of ``external_ids`` that belonged to erased customers."""
    by_digest = {digest(e): e for e in external_ids}
    found: set[str] = set()
    for chunk in in_chunks(list(by_digest)):
        found |= {by_digest[d] for d in conn.execute(sa.select(erased_customers.c.external_id_digest)
                                                     .where(erased_customers.c.external_id_digest.in_(chunk))).scalars()}
    return found
