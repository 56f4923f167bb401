"""An erasure reaches the customer's exports on every machine, not only the one it ran on.

``kefu customer export`` writes its folder into the data folder of the machine it runs on; the erasure
ran elsewhere deleted only that machine's. So the erasure records the exports' folder prefix and when
(``erased_exports``: a customer's id, or a digest of a caller's number, never who they were), and every
``kefu run``'s tidy pass deletes its own exports with that prefix made before then. An export made after
the erasure (a new customer given the same id) is theirs, and stays.
"""
from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import sqlalchemy as sa

from bot.db.schema import erased_exports
from bot.privacy.export import STAMP, exports_of

logger = logging.getLogger(__name__)


def remember(conn: sa.engine.Connection, prefix: str) -> None:
    """In the erasure's transaction: exports of ``prefix`` made until now are to go, on every machine."""
    conn.execute(erased_exports.delete().where(erased_exports.c.folder_prefix == prefix))
    conn.execute(erased_exports.insert().values(folder_prefix=prefix, erased_at=dt.datetime.utcnow()))


def delete_erased(engine: sa.engine.Engine, data_dir: Path) -> int:
    """Delete this machine's exports made before their customer's erasure; how many."""
    if not (Path(data_dir) / "exports").is_dir():
        return 0
    with engine.connect() as conn:
        erased = dict(conn.execute(sa.select(erased_exports.c.folder_prefix, erased_exports.c.erased_at)).all())
    deleted = 0
    for prefix, erased_at in erased.items():
        for folder in exports_of(data_dir, prefix):
            try:
                made = dt.datetime.strptime(folder.name[len(prefix):], STAMP)
            except ValueError:
                continue  # not a folder the export command named
            if made <= erased_at:
                shutil.rmtree(folder, ignore_errors=True)
                deleted += 1
    if deleted:
        logger.info("privacy.erased_exports.deleted count=%d", deleted)
    return deleted
