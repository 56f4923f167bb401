"""The record that a customer's request was carried out: who ran it, when, what kind, how many
records of each store — never who the customer was (that would keep what the erasure removed)."""
from __future__ import annotations

import datetime as dt
import getpass
import os

import sqlalchemy as sa

from bot.db.schema import privacy_requests


def operator_name() -> str:
    """The operating-system account that ran the command (``KEFU_OPERATOR`` names a person behind
    a shared service account)."""
    try:
        return os.environ.get("KEFU_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def write(conn: sa.engine.Connection, request_id: str, kind: str, operator: str, counts: dict) -> None:
    conn.execute(privacy_requests.insert().values(request_id=request_id, kind=kind, operator=operator[:64],
                                                  counts=counts, at=dt.datetime.utcnow()))


def requests(engine: sa.engine.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(privacy_requests).order_by(privacy_requests.c.id)).mappings()]
