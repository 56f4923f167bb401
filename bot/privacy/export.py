"""``kefu customer export``: a copy of everything Kefu holds about one customer (PIPL art. 45).

A folder, readable by Kefu's user only: ``customer.json`` (database rows by table, the Redis records
of their conversations, their requests kept in Redis while the database was down and not filed yet,
their web chat messages set aside unanswered, the list of recordings) and ``recordings/`` with the
audio files themselves.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import redis
import sqlalchemy as sa

from bot.privacy.conversations import read_conversation, read_tracker
from bot.privacy.kept_requests import exported as kept_requests
from bot.privacy.recordings import recordings, voice_message_rows
from bot.privacy.records import others_conversations, read_rows
from bot.ticket_notes import history_line
from bot.privacy.subject import Subject
from bot.privacy.webchat_set_aside import exported as webchat_set_aside
from bot.security.private_files import private_dir, write_private_file

NOT_REACHED = [
    "backups of the database and of Redis",
    "the web chat's copy of recent turns in the customer's own browser (localStorage)",
    "SMS, WeChat and carrier gateways' own logs",
    "reports already written under <data_dir>/reports",
    "the speech cache, which is keyed by what was said, not by who",
]


def collect(engine: sa.engine.Engine, client: redis.Redis, data_dir: Path, subject: Subject, *,
            database_url: str) -> tuple[dict, list]:
    # Redis is read before the database's transaction begins, not between its statements: the set-aside
    # messages are found by a SCAN of the whole keyspace, and PostgreSQL ends a transaction left idle
    # (bot/db/repository.py, STRANDED_TRANSACTION_S).
    trackers = {c: read_tracker(client, c) for c in sorted(subject.conversation_ids)}
    set_aside = webchat_set_aside(client, subject)
    with engine.connect() as conn:
        rows = read_rows(conn, subject)
        found = recordings(conn, data_dir, subject, trackers)
        rows["voice_messages"] = voice_message_rows(conn, subject)
        for row in rows["ticket_history"]:  # each note also as it reads (a stored note is a kind and its values)
            row["note_text"] = history_line(row["note"])
        # Found by their number in its text only: not when it is another identified customer's chat.
        others = others_conversations(conn, subject, {m["conversation_id"] for m in set_aside
                                                      if m["conversation_id"] not in subject.conversation_ids})
    redis_records = {c: read_conversation(client, c) for c in sorted(subject.conversation_ids)}
    document = {
        "exported_at": dt.datetime.utcnow().isoformat(timespec="seconds") + "Z",
        "customer_id": subject.customer_id,
        "phones": sorted(subject.phones), "accounts": sorted(subject.accounts), "openids": sorted(subject.openids),
        "conversation_ids": sorted(subject.conversation_ids),
        "database": rows,
        "redis": {c: held for c, held in redis_records.items() if held},
        "kept_requests": kept_requests(client, database_url, subject),
        "webchat_set_aside": [m for m in set_aside if m["conversation_id"] not in others],
        "recordings": [{"file": f"recordings/{r.name}" if r.audio is not None else None, "kind": r.kind, "name": r.name}
                       for r in found],
        "not_included": NOT_REACHED,
    }
    return document, found


def write(folder: Path, document: dict, found: list) -> dict[str, int]:
    """The export's files in ``folder`` (a private one, :mod:`bot.privacy.staged_folder`); how many records of
    each store it holds."""
    audio = private_dir(folder / "recordings") if any(r.audio is not None for r in found) else None
    for recording in found:
        if recording.audio is not None and audio is not None:
            write_private_file(audio / recording.name, recording.audio)
    write_private_file(folder / "customer.json", json.dumps(
        document, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    counts = {table: len(rows) for table, rows in document["database"].items()}
    counts["redis_conversations"] = len(document["redis"])
    counts["redis_kept_requests"] = len(document["kept_requests"])
    counts["redis_webchat_set_aside"] = len(document["webchat_set_aside"])
    counts["recordings"] = sum(1 for r in found if r.audio is not None)
    return counts


STAMP = "%Y%m%dT%H%M%SZ"  # when an export was made, ending its folder's name (UTC)


def default_folder(data_dir: Path, subject: Subject, made_at: dt.datetime) -> Path:
    """Stamped ``made_at``, by the database's clock (bot/db/clock.py): an erasure run on a machine whose clock
    runs behind this one's is stamped by the same clock, so it reaches an export made before it."""
    stamp = made_at.strftime(STAMP)
    return exports_folder(data_dir) / f"{subject.folder_prefix}{stamp}"


def exports_folder(data_dir: Path) -> Path:
    """Where this machine's exports go (and their unfinished ``.partial-…`` folders, bot/privacy/staged_folder.py)."""
    return Path(data_dir) / "exports"


def earlier_exports(data_dir: Path, subject: Subject) -> list[Path]:
    """The subject's exports still in the data folder (:func:`default_folder`): an erasure deletes them.
    One written elsewhere with ``--out`` is the operator's to delete."""
    return exports_of(data_dir, subject.folder_prefix)


def exports_of(data_dir: Path, prefix: str) -> list[Path]:
    """The export folders in this machine's data folder whose names start with ``prefix``."""
    folder = exports_folder(data_dir)
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix)) if folder.is_dir() else []
