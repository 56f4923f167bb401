"""`kefu ledger`: list the user-experience ledger (filter by flag, owner, type, month; with the dispatch
system's job number, as on the ledger page), close a step, assign an owner."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from bot.settings import get_settings


def open_ledger():
    from bot.db.repository import Repository
    from bot.ledger.ledger import Ledger
    from bot.ledger.rules import load_rules
    from bot.security.private_files import private_dir

    settings = get_settings()
    private_dir(settings.data_dir)
    repository = Repository(settings.database_url)
    repository.create_schema()  # an existing database gains the ledger's table
    return Ledger(repository, load_rules(settings.content_dir / "ledger.yml"))


def month(text: str) -> str:
    """``--month``: a month as YYYY-MM (argparse's error, not a traceback, for anything else)."""
    try:
        return dt.datetime.strptime(text, "%Y-%m").strftime("%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month as YYYY-MM (e.g. 2026-12)") from None


def cmd_list(args: argparse.Namespace) -> int:
    from bot.analytics.config import centre_zone, local_time
    from bot.ledger.ledger import month_span

    ledger, zone = open_ledger(), centre_zone()
    if args.month:  # that month of the centre's calendar, read for that month only
        start, end = month_span(args.month, zone)
        items = ledger.items(since=start, until=end)
    else:  # every unfinished item; with --all, finished ones of the last week too (FINISHED_SHOWN)
        items = ledger.current_items(finished=args.all)
    if args.overdue:
        items = [i for i in items if i.overdue]
    if args.repeat:
        items = [i for i in items if i.repeat_of]
    if args.owner:
        items = [i for i in items if i.owner == args.owner]
    if args.kind:
        items = [i for i in items if i.kind == args.kind]
    if not args.all:
        items = [i for i in items if i.next_step is not None]
    labels, flags = ledger.rules.step_labels, ledger.rules.flag_labels
    print(f"{'ticket':<10} {'job no.':<12} {'type':<14} {'step':<10} {f'next due ({zone.key})':<17} "
          f"{'owner':<10} flags")
    for item in items:
        marks = [flags.get("overdue", "overdue")] if item.overdue else []
        if item.repeat_of:
            marks.append(f"{flags.get('repeat', 'repeat')}({','.join(item.repeat_of)})")
        due = local_time(item.due_at, zone) if item.due_at else "-"
        print(f"{item.ticket_id:<10} {item.external_ref or '-':<12} {item.kind:<14} "
              f"{labels.get(item.step, item.step):<10} {due:<17} {item.owner or '-':<10} {' '.join(marks)}")
    overdue = sum(i.overdue for i in items)
    repeats = sum(bool(i.repeat_of) for i in items)
    print(f"{len(items)} item(s), {overdue} overdue, {repeats} repeat problem(s)")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from bot.analytics.config import centre_zone
    from bot.ledger.ledger import month_span, monthly_summary

    ledger, zone = open_ledger(), centre_zone()
    chosen = args.month or dt.datetime.now(zone).strftime("%Y-%m")  # this month in the centre's calendar
    start, end = month_span(chosen, zone)
    summary = monthly_summary(ledger.items(since=start, until=end), ledger.rules, chosen, zone)
    labels = ledger.rules.step_labels
    print(f"ledger {summary.month}: {summary.registered} registered, {summary.overdue} overdue, "
          f"{summary.repeats} repeat problem(s), {summary.closed_in_time} followed up in time")
    for step, count in summary.by_step.items():
        print(f"  {labels.get(step, step):<10} {count}")
    for kind, count in sorted(summary.by_kind.items()):
        print(f"  {kind:<14} {count}")
    for step, hours in summary.median_hours_to.items():
        print(f"  median hours to {labels.get(step, step)}: {'-' if hours is None else f'{hours:g}'}")
    return 0


def refused(step) -> int:
    """Run a ledger change; a move the lifecycle forbids (or an unknown ticket or agent) is a
    ``kefu: error:`` line, not a traceback."""
    from bot.db.repository import TicketTransitionError
    from bot.handoff.accounts import AccountError

    try:
        print(step())
    except (TicketTransitionError, AccountError) as exc:
        print(f"kefu: error: {exc}", file=sys.stderr)
        return 1
    return 0


def known_agent(name: str) -> str:
    """The name, if it is an agent's login: a typo must not become who owns or closed a ticket."""
    from bot.handoff.accounts import AccountError, AccountStore

    if AccountStore(get_settings().database_url).get(name) is None:
        raise AccountError(f"no agent {name!r} (agents are added with `kefu agent add`)")
    return name


def cmd_done(args: argparse.Namespace) -> int:
    ledger = open_ledger()

    def close() -> str:
        item = ledger.close_step(args.ticket_id, known_agent(args.by), args.note)
        return f"{item.ticket_id}: {ledger.rules.step_labels.get(item.step, item.step)}"

    return refused(close)


def cmd_assign(args: argparse.Namespace) -> int:
    def assign() -> str:
        open_ledger().assign(args.ticket_id, known_agent(args.owner))
        return f"{args.ticket_id.upper()}: {args.owner}"

    return refused(assign)


def register(commands: argparse._SubParsersAction) -> None:
    ledger = commands.add_parser("ledger", help="the user-experience ledger of tickets").add_subparsers(
        dest="ledger_command", required=True)
    listing = ledger.add_parser("list", help="items still open (or --all), with overdue and repeat flags")
    listing.add_argument("--overdue", action="store_true", help="only items past their next step's due time")
    listing.add_argument("--repeat", action="store_true", help="only repeat problems")
    listing.add_argument("--owner", help="only this owner's items")
    listing.add_argument("--kind", help="only this ticket type (fault, visit, complaint, ...)")
    listing.add_argument("--month", type=month, help="only items registered in this month (YYYY-MM, the centre's zone)")
    listing.add_argument("--all", action="store_true", help="include items whose follow-up is done "
                         "(registered in the last 7 days, or in --month)")
    listing.set_defaults(handler=cmd_list)
    summary = ledger.add_parser("summary", help="the month's ledger for the monthly review")
    summary.add_argument("--month", type=month, help="YYYY-MM, the centre's zone (default: this month)")
    summary.set_defaults(handler=cmd_summary)
    done = ledger.add_parser("done", help="close the next step of a ticket")
    done.add_argument("ticket_id")
    done.add_argument("--by", required=True, help="the agent who closes it (a login name; becomes the owner of an unowned item)")
    done.add_argument("--note", default="")
    done.set_defaults(handler=cmd_done)
    assign = ledger.add_parser("assign", help="make someone the owner of a ticket")
    assign.add_argument("ticket_id")
    assign.add_argument("owner", help="an agent's login name (kefu agent add)")
    assign.set_defaults(handler=cmd_assign)
