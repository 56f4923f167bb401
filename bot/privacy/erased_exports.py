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

from bot.db.clock import now_sql
from bot.db.repository import in_chunks
from bot.db.schema import erased_exports
from bot.privacy.export import STAMP, exports_of

STAMP_CHARS = len(dt.datetime(2026, 1, 1).strftime(STAMP))  # 16: the stamp is fixed-width

logger = logging.getLogger(__name__)


def remember(conn: sa.engine.Connection, prefix: str) -> None:
    """In the erasure's transaction: exports of ``prefix`` made until now are to go, on every machine. Now by
    the database's clock, as exports are stamped (a machine's own clock may run ahead of the erasing one's)."""
    conn.execute(erased_exports.delete().where(erased_exports.c.folder_prefix == prefix))
    conn.execute(erased_exports.insert().values(folder_prefix=prefix, erased_at=now_sql(conn.engine)))


def delete_erased(engine: sa.engine.Engine, data_dir: Path) -> int:
    """Delete this machine's exports made before their customer's erasure; how many. Only the prefixes of
    the exports here are looked up: the table keeps every erasure, and the pass need not read them all."""
    folders: dict[str, list[tuple[Path, dt.datetime]]] = {}
    for folder in exports_of(data_dir, ""):
        try:  # <prefix><stamp>: the stamp is the name's fixed-width end
            made = dt.datetime.strptime(folder.name[-STAMP_CHARS:], STAMP)
        except ValueError:
            continue  # not a folder the export command named
        folders.setdefault(folder.name[:-STAMP_CHARS], []).append((folder, made))
    if not folders:
        return 0
    c = erased_exports.c
    with engine.connect() as conn:
        erased = {prefix: at for chunk in in_chunks(sorted(folders)) for prefix, at in conn.execute(
            sa.select(c.folder_prefix, c.erased_at).where(c.folder_prefix.in_(chunk)))}
    deleted = 0
    for prefix, erased_at in erased.items():
        for folder, made in folders[prefix]:
            if made > erased_at:
                continue  # made since: a later customer's with the same id
            try:
                shutil.rmtree(folder)
                deleted += 1
            except OSError as exc:  # written by another user, say: said, and tried again at the next pass
                logger.warning("privacy.erased_exports.not_deleted folder=%s error=%s", folder.name, exc)
    if deleted:
        logger.info("privacy.erased_exports.deleted count=%d", deleted)
    return deleted
