"""Time passing for the write receipts (``write_receipts``), then the tidy pass ``kefu run`` makes every 10 minutes.

The pass reads the database's clock against each receipt's ``at`` (bot/outbound/retention.py), so hours passing are
the receipts written that much earlier: each row's ``at`` moved back, on SQLite and PostgreSQL alike."""
from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa


def receipts_aged(engine, seconds: float) -> None:
    """Every write receipt now dated ``seconds`` earlier than it was written."""
    from bot.db.schema import write_receipts

    with engine.begin() as conn:
        for receipt, at in conn.execute(sa.select(write_receipts.c.id, write_receipts.c.at)).all():
            conn.execute(write_receipts.update().where(write_receipts.c.id == receipt)
                         .values(at=at - dt.timedelta(seconds=seconds)))


def tidy_pass(settings) -> None:
    """One pass of ``kefu run``'s tidying thread, as it runs (bot/db/recordings.py ``tidy_forever``)."""
    from bot.db.recordings import tidy_forever

    stop = threading.Event()
    stop.set()  # one pass, then it returns
    tidy_forever(settings, stop)


def hours_later(settings, engine, seconds: float) -> None:
    """``seconds`` pass for the receipts, and the tidy pass runs."""
    receipts_aged(engine, seconds)
    tidy_pass(settings)
