"""``kefu customer import FILE...``: load the operator's plans, customers, bills and usage.

All or nothing: every file is read and checked first, every problem is printed with its file and line,
and only an import without problems is written, in one transaction. Running the same import again
changes nothing (README "Loading your customers").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.settings import get_settings


def cmd_import(args: argparse.Namespace) -> int:
    from bot.cli import upgrade_database
    from bot.customers.extract import Existing, check, collect
    from bot.customers.load import load
    from bot.customers.records import Problem, read
    from bot.db.repository import Repository, idle_allowed

    settings = get_settings()
    if not upgrade_database(settings):
        return 2
    problems, records = [], []
    for name in args.files:
        for item in read(Path(name), name):
            (problems if isinstance(item, Problem) else records).append(item)
    extract, duplicates = collect(records)
    problems += duplicates
    engine = Repository(settings.database_url).engine
    with engine.connect() as conn:
        transaction = conn.begin()
        idle_allowed(conn)  # checking a large extract takes longer than a stranded transaction is given
        existing = Existing.read(conn)
        targets, conflicts = check(conn, extract, existing)
        problems += conflicts
        if problems:
            transaction.rollback()
            order = {name: i for i, name in enumerate(args.files)}
            for problem in sorted(problems, key=lambda p: (order.get(p.where.source, 0), p.where.line)):
                print(problem, file=sys.stderr)
            print(f"kefu: {len(problems)} problem(s); nothing was imported.", file=sys.stderr)
            return 1
        loaded = load(conn, extract, existing, targets)
        (transaction.rollback if args.dry_run else transaction.commit)()  # a dry run checked the writes too
    for record in extract.erased:
        print(f"{record.where}: skipped: the {record.type} of a customer erased at their request "
              "(kefu customer erase); remove them from the extract")
    if args.dry_run:
        print("dry run, nothing was written; the import would do:")
    for table in ("plans", "customers", "bills", "usage"):
        print(f"{table:<10} {loaded.added[table]:>7} added {loaded.updated[table]:>7} updated "
              f"{loaded.unchanged[table]:>7} unchanged")
    print(f"{loaded.not_in_import} customer(s) in Kefu not in this import: left as they are")
    return 0


def register(actions: argparse._SubParsersAction) -> None:
    """Adds ``import`` to the ``kefu customer`` commands."""
    command = actions.add_parser("import", help="load or update plans, customers, bills and usage from JSON Lines "
                                 "files (README: Loading your customers)")
    command.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines file(s), one record per line")
    command.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    command.set_defaults(handler=cmd_import)
