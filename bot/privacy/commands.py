"""``kefu customer export|erase``: answer a customer's request to see or delete their data.

The commands reach Redis where the conversations live: ``REDIS_URL``, else the embedded Redis of a
running ``kefu run`` (recorded in the data directory), else the embedded Redis's files, opened for
the command alone unless another redis-server has them (bot/embedded_redis.py, ``server.lock``).
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import redis

from bot.privacy.staged_folder import staged_folder
from bot.redis_reconnect import timeouts
from bot.settings import get_settings


@contextmanager
def redis_for_command(settings) -> Iterator[redis.Redis]:
    from bot.serving import recorded_redis_url

    url = settings.redis.url or recorded_redis_url(settings)
    if url:
        client = redis.Redis.from_url(url, **timeouts(settings.redis.timeout_s))
        try:
            client.ping()
        except redis.RedisError:
            client.close()
            if settings.redis.url:
                raise
        else:
            try:
                yield client
            finally:
                client.close()
            return
    if _kefu_answers(settings):  # a kefu run of an older version, which did not record its Redis
        raise RedisUnreachable("kefu run is running and its embedded Redis is not recorded in "
                               f"{settings.data_dir / 'serving.json'}; restart kefu run, or stop it, and run this again")
    from bot.embedded_redis import EmbeddedRedis, EmbeddedRedisError

    # Nobody serves these files now: open them for this command alone. Two servers must never share them:
    # one that has them (a kefu run still starting, not recorded yet; another command) is refused.
    try:
        embedded = EmbeddedRedis(settings.redis.embedded_dir, log_max_bytes=settings.log_max_bytes,
                                 log_backups=settings.log_backups).start()
    except EmbeddedRedisError as exc:  # DataFolderInUse, or a redis-server that did not start
        raise RedisUnreachable(f"embedded Redis: {exc}") from exc
    client = redis.Redis.from_url(embedded.url, **timeouts(settings.redis.timeout_s))
    try:
        yield client
    finally:
        client.close()
        embedded.stop()


class RedisUnreachable(RuntimeError):
    """The conversations' Redis cannot be reached safely."""


def _kefu_answers(settings) -> bool:
    import urllib.error
    import urllib.request

    from bot.serving import recorded_url

    url = recorded_url(settings)
    if not url:
        return False
    try:
        with urllib.request.urlopen(f"{url}/version", timeout=3):
            return True
    except (OSError, ValueError):
        return False


def _open(args: argparse.Namespace):
    from bot.db.repository import Repository
    from bot.privacy.subject import KINDS, AmbiguousCustomer, UnknownCustomer, find_subject

    settings = get_settings()
    repository = Repository(settings.database_url)
    repository.create_schema()  # an existing database gains the requests' table
    try:
        return settings, repository.engine, find_subject(repository.engine, args.customer)
    except UnknownCustomer:
        print(f"kefu: no customer has the id, phone number or account number {args.customer!r}, and Kefu "
              "keeps nothing under it as a caller's number; nothing was exported or erased.", file=sys.stderr)
    except AmbiguousCustomer as exc:
        named = ", ".join(f"customer {cid}'s {KINDS[kind]}" for kind, cid in exc.matches.items())
        which = " or ".join(f"{kind}:{exc.given}" for kind in exc.matches)
        print(f"kefu: {exc.given!r} is {named}; nothing was exported or erased: give {which}.", file=sys.stderr)
    return settings, repository.engine, None


def cmd_export(args: argparse.Namespace) -> int:
    """All or nothing (:mod:`bot.privacy.staged_folder`): a Ctrl-C, a full disk or a database error partway
    leaves none of the customer's data behind. The audit record (``privacy_requests``) is of an export handed
    over: it is written in the transaction that puts the folder in place, so there is never a folder without
    its record, nor a record of an export that is not there."""
    from bot.ctrl_c import INTERRUPTED
    from bot.db.clock import now as database_now
    from bot.privacy.export import collect, default_folder

    settings, engine, subject = _open(args)
    if subject is None:
        return 1
    folder = Path(args.out) if args.out else default_folder(settings.data_dir, subject, database_now(engine))
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        print(f"kefu: {folder} is not an empty folder; choose another --out.", file=sys.stderr)
        return 2
    staged = None
    try:
        with redis_for_command(settings) as client:
            document, found = collect(engine, client, settings.data_dir, subject, database_url=settings.database_url)
        with staged_folder(folder) as staged:
            counts, stopped = _put_in_place_recorded(engine, staged, document, found)
    except (RedisUnreachable, redis.RedisError) as exc:
        print(f"kefu: cannot reach the conversations' Redis: {exc}; nothing was exported.", file=sys.stderr)
        return 2
    except OSError as exc:  # --out under a file, a read-only or full disk
        print(f"kefu: cannot write the export to {folder}: {exc.strerror or exc}; nothing was exported: choose "
              "another --out.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kefu: stopped by Ctrl-C; nothing was exported.", file=sys.stderr)
        return INTERRUPTED
    finally:
        if staged is not None and staged.left_behind is not None:
            print(f"kefu: the unfinished export {staged.left_behind} could not be removed: delete it.",
                  file=sys.stderr)
    print(f"Exported {subject.label} to {folder} (readable by this account only):")
    for store, count in counts.items():
        print(f"  {store:<26} {count}")
    return INTERRUPTED if stopped else 0


def _put_in_place_recorded(engine, staged, document: dict, found: list) -> tuple[dict[str, int], bool]:
    """Writes the export, then records it and puts it in place in one transaction. A Ctrl-C until the record is
    written stops the export; one after it is noted (True) and the export finishes: cut between the folder's
    rename and the record's commit, the export would be handed over unrecorded, or recorded and not there."""
    import uuid

    from bot.ctrl_c import ctrl_c_between_rows
    from bot.privacy import audit
    from bot.privacy.export import write

    counts = write(staged.staging, document, found)
    with ctrl_c_between_rows() as pressed:
        with engine.begin() as conn:
            audit.write(conn, uuid.uuid4().hex, "export", audit.operator_name(), counts)
            if pressed.is_set():
                raise KeyboardInterrupt  # the transaction rolls back: not recorded, and removed
            staged.put_in_place()
    return counts, pressed.is_set()


def cmd_erase(args: argparse.Namespace) -> int:
    settings, engine, subject = _open(args)
    if subject is None:
        return 1
    from bot.privacy.kept_requests import KeptRequestsBusy

    try:
        return _erase(args, settings, engine, subject)
    except KeptRequestsBusy as exc:
        print(f"kefu: requests kept while the database was down are being filed ({exc}); nothing was "
              "erased: run the command again.", file=sys.stderr)
        return 2
    except (RedisUnreachable, redis.RedisError) as exc:
        print(f"kefu: cannot reach the conversations' Redis: {exc}; the customer's database rows are "
              "unchanged: run the command again to finish.", file=sys.stderr)
        return 2


def confirmation(prompt: str) -> str | None:
    """What the operator typed; "" at Ctrl-D (end of input), None at Ctrl-C: either cancels, without a traceback,
    and the embedded Redis this command started is stopped on the way out."""
    try:
        return input(prompt).strip()
    except EOFError:
        print()  # the prompt's line ends
        return ""
    except KeyboardInterrupt:
        print()
        return None


def _erase(args, settings, engine, subject) -> int:
    from bot.ctrl_c import INTERRUPTED
    from bot.privacy import audit
    from bot.privacy.erase import erase, plan

    from bot.outcomes.pending import pending_key

    with redis_for_command(settings) as client:
        # Events parked while the database was down are written later, with the keys they had:
        # erasing before them would leave the customer's keys in the analytics table again.
        waiting = client.llen(pending_key(settings.database_url))
        if waiting:
            print(f"kefu: {waiting} analytics event(s) are still waiting to be written to the database "
                  "(it was unreachable); run this again once Kefu has written them. Nothing was erased.",
                  file=sys.stderr)
            return 2
        counts = plan(engine, client, settings.data_dir, subject, database_url=settings.database_url)
        print(f"{subject.label[0].upper()}{subject.label[1:]}: {len(subject.conversation_ids)} conversation(s); would erase:")
        for store, count in counts.items():
            print(f"  {store:<26} {count}")
        print("Tickets and analytics events are kept with the customer's details blanked and their keys "
              "replaced (so reports still add up); opt-out records are kept.")
        if not args.yes:
            if not sys.stdin.isatty():
                print("kefu: not erased; pass --yes to erase without asking.", file=sys.stderr)
                return 1
            answer = confirmation("Erase? Type 'erase' to confirm: ")
            if answer != "erase":
                print("Not erased.")
                return INTERRUPTED if answer is None else 1
        from bot.ivr.config import HotlineConfigError, load_hotline_config
        from voice.tts import Pyttsx3Engine

        try:
            hotline = load_hotline_config(settings.ivr_config_path)  # how the phone read their replies
        except HotlineConfigError as exc:
            print(f"kefu: warning: {exc}; cached speech of replies read with their keys is not reached",
                  file=sys.stderr)
            hotline = None
        done = erase(engine, client, settings.data_dir, subject, database_url=settings.database_url,
                     operator=audit.operator_name(), speech_cache=Pyttsx3Engine.from_settings(settings),
                     hotline=hotline)
    print(f"Erased {subject.label} (request {done.request_id}).")
    for title, counts in (("deleted", done.deleted), ("anonymised", done.anonymised), ("kept", done.kept)):
        print(f"  {title}: " + ", ".join(f"{store} {count}" for store, count in counts.items()))
    print("Not reached: backups, the customer's browser (web chat history), gateways' logs, "
          "reports already written under " + str(settings.data_dir / "reports") + ".")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    from bot.customers.commands import register as register_import

    customer = commands.add_parser("customer", aliases=["customers"],
                                   help="load customers (import); a customer's requests about their data (export, erase)")
    actions = customer.add_subparsers(dest="customer_command", required=True)
    register_import(actions)
    export = actions.add_parser("export", help="everything Kefu holds about one customer, as a folder")
    export.add_argument("customer", help="customer id, phone number or account number (id:, phone: or account: to say which)")
    export.add_argument("--out", help="folder to write (default: <data dir>/exports/customer-<id>-<time>)")
    export.set_defaults(handler=cmd_export)
    erase = actions.add_parser("erase", help="delete (or, where it must stay for reports, anonymise) a customer's data")
    erase.add_argument("customer", help="customer id, phone number or account number (id:, phone: or account: to say which)")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(handler=cmd_erase)
