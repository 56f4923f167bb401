"""`kefu dispatch`: the ticket events not delivered to the dispatch system yet; resend or drop one."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from bot.outbound.commands import age, each, open_repository, summarise
from bot.settings import get_settings


def cmd_events(args: argparse.Namespace) -> int:
    from bot.dispatch.undelivered import states, undelivered

    repository = open_repository()
    events = undelivered(repository, failed_only=args.failed)
    now = dt.datetime.utcnow()
    print(f"{'id':<8} {'ticket':<10} {'type':<22} {'state':<8} {'attempts':<8} {'age':<8} last error")
    for event in events:
        print(f"{event.id:<8} {event.ticket_id:<10} {event.type:<22} {event.state:<8} {event.attempts:<8} "
              f"{age((now - event.queued_at).total_seconds()):<8} {event.last_error or '-'}")
    by_state = summarise(states(repository), "event(s)", len(events), failed_only=args.failed)
    if by_state["failed"]:
        print("A failed event holds its ticket's later events (held): `kefu dispatch resend ID` once the "
              "dispatch system takes it, or `kefu dispatch drop ID` to let them go without it.")
    if events and not get_settings().dispatch_events_url:
        print("KEFU_DISPATCH_EVENTS_URL is not set: nothing delivers these.")
    return 0


def _each(ids: list[str], step) -> int:
    from bot.dispatch.undelivered import event_number

    return each(ids, event_number, step)


def cmd_resend(args: argparse.Namespace) -> int:
    from bot.dispatch.undelivered import resend, resend_all_failed
    from bot.outbound.all_failed import take_all_failed

    if args.all_failed == bool(args.ids):
        print("kefu: error: give event ids or --all-failed", file=sys.stderr)
        return 2
    if args.all_failed:  # one at a time: those resent are said when the database fails partway, or at Ctrl-C
        return take_all_failed(lambda: ((event_id, None) for event_id in resend_all_failed(open_repository())),
                               "failed event(s) queued again")

    def step(repository, event_id: int) -> str:
        resend(repository, event_id)
        return f"{event_id}: queued again, sent on the next pass (its ticket's later events follow it)"

    return _each(args.ids, step)


def cmd_drop(args: argparse.Namespace) -> int:
    from bot.dispatch.undelivered import drop

    def step(repository, event_id: int) -> str:
        drop(repository, event_id)
        return f"{event_id}: dropped, never sent; its ticket's later events go out on the next pass"

    return _each(args.ids, step)


def register(commands: argparse._SubParsersAction) -> None:
    dispatch = commands.add_parser("dispatch", help="ticket events for the dispatch system not delivered yet")
    dispatch = dispatch.add_subparsers(dest="dispatch_command", required=True)
    events = dispatch.add_parser("events", help="pending, held and failed ticket events, oldest first")
    events.add_argument("--failed", action="store_true", help="only the failed (given-up) ones")
    events.set_defaults(handler=cmd_events)
    resend = dispatch.add_parser("resend", help="send failed (or pending) events again on the next pass")
    resend.add_argument("ids", nargs="*", metavar="ID", help="event id (42 or outbox-42)")
    resend.add_argument("--all-failed", action="store_true",
                        help="every failed event (e.g. after fixing the URL or secret)")
    resend.set_defaults(handler=cmd_resend)
    drop = dispatch.add_parser("drop", help="give events up for good so their tickets' later events go out")
    drop.add_argument("ids", nargs="+", metavar="ID", help="event id (42 or outbox-42)")
    drop.set_defaults(handler=cmd_drop)
