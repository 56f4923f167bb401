"""`kefu outbox`: messages to customers not delivered yet (SMS, REST callback); resend or drop
one. Also the small helpers `kefu dispatch` shares for the same outbox table."""
from __future__ import annotations

import argparse
import sys

from bot.settings import get_settings


def open_repository():
    from bot.db.repository import Repository
    from bot.security.private_files import private_dir

    settings = get_settings()
    private_dir(settings.data_dir)
    repository = Repository(settings.database_url)
    repository.create_schema()  # as `kefu ledger`: a database no `kefu run` has opened yet has no outbox
    return repository


def summarise(by_state: dict[str, int], noun: str, listed: int, *, failed_only: bool) -> dict[str, int]:
    """Print the counts of every row by state (not only the ``listed`` ones); returns those printed."""
    if failed_only:
        by_state = {"failed": by_state["failed"]}
    total = sum(by_state.values())
    print(f"{total} {noun}: " + ", ".join(f"{n} {state}" for state, n in by_state.items())
          + (f" (the oldest {listed} listed)" if total > listed else ""))
    return by_state


def age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def each(ids: list[str], number, step) -> int:
    """``step(repository, number(id))`` for every id, its line printed as it is done; a refused one is a
    ``kefu: error:`` line and exit code 1. Ctrl-C stops it after the id under way, whose line is printed
    (bot/ctrl_c.py): one more line names the ids left as they are, exit code 130."""
    from bot.ctrl_c import INTERRUPTED, ctrl_c_between_rows
    from bot.outbound.outbox_rows import OutboxRowError

    repository, status = open_repository(), 0
    with ctrl_c_between_rows() as pressed:
        for done, text in enumerate(ids):
            if pressed.is_set():
                print(f"kefu: stopped by Ctrl-C; left as they are: {' '.join(ids[done:])}", file=sys.stderr,
                      flush=True)
                return INTERRUPTED
            try:
                print(step(repository, number(text)), flush=True)
            except OutboxRowError as exc:
                print(f"kefu: error: {exc}", file=sys.stderr, flush=True)
                status = 1
    return status


def delivered_channels() -> set[str]:
    from bot.notify import NotifyError
    from bot.outbound.wechat_template import sends_wechat_templates
    from bot.outbound.worker import adapters_from_settings

    settings = get_settings()
    try:
        return set(adapters_from_settings(settings)) | ({"wechat"} if sends_wechat_templates(settings) else set())
    except NotifyError:  # a REST callback URL without its secret: kefu run refuses to start
        return set()


def cmd_list(args: argparse.Namespace) -> int:
    from bot.outbound.undelivered import counts_by_state, masked, undelivered

    repository = open_repository()
    messages = undelivered(repository, failed_only=args.failed)
    print(f"{'id':<8} {'channel':<8} {'kind':<20} {'to':<16} {'state':<8} {'attempts':<8} {'age':<8} last error")
    for m in messages:
        print(f"{m.id:<8} {m.channel:<8} {m.kind:<20} {masked(m.recipient):<16} {m.state:<8} {m.attempts:<8} "
              f"{age(m.waited_s):<8} {m.last_error or '-'}")
    by_state = summarise(counts_by_state(repository), "message(s)", len(messages), failed_only=args.failed)
    undelivered_here = sorted({m.channel for m in messages if m.state == "pending"} - delivered_channels())
    if undelivered_here:
        print(f"Nothing delivers {', '.join(undelivered_here)} messages with this machine's settings "
              "(README, Connecting your systems).")
    if by_state["failed"]:
        print("Failed ones are not sent again by themselves: `kefu outbox resend ID` (or --all-failed) once the "
              "gateway takes them, or `kefu outbox drop ID` if they no longer help the customer.")
    if by_state.get("withheld"):
        print("Withheld ones were held back, never sent: their recipient opted out or is on the do-not-disturb list. "
              "`kefu outbox resend ID` sends one only once the recipient is no longer blocked.")
    return 0


def _all_or_ids(args: argparse.Namespace, step, done: str) -> int:
    from bot.outbound.all_failed import take_all_failed
    from bot.outbound.undelivered import each_failed, message_number

    if args.all_failed == bool(args.ids):
        print("kefu: error: give message ids or --all-failed", file=sys.stderr)
        return 2
    if args.all_failed:
        return take_all_failed(lambda: each_failed(open_repository(), step), f"failed message(s) {done}")

    def one(repository, message_id: int) -> str:
        also = step(repository, message_id)  # a dropped self-help reply: its voice message handed to a person
        return f"{message_id}: {done}" + (f"; {also}" if also else "")

    return each(args.ids, message_number, one)


def cmd_resend(args: argparse.Namespace) -> int:
    from bot.outbound.undelivered import resend

    return _all_or_ids(args, resend, "queued again, sent on the next pass")


def cmd_drop(args: argparse.Namespace) -> int:
    from bot.outbound.undelivered import drop

    return _all_or_ids(args, drop, "dropped, never sent")


def register(commands: argparse._SubParsersAction) -> None:
    outbox = commands.add_parser("outbox", help="messages to customers (SMS, REST callback) not delivered yet")
    outbox = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = outbox.add_parser("list", help="pending, sending and failed messages, oldest first, then those "
                                             "withheld (held back: the recipient opted out)")
    listing.add_argument("--failed", action="store_true", help="only the failed (given-up) ones")
    listing.set_defaults(handler=cmd_list)
    for name, handler, help_text in (
            ("resend", cmd_resend, "send failed (or pending) messages again on the next pass"),
            ("drop", cmd_drop, "give messages up for good")):
        step = outbox.add_parser(name, help=help_text)
        step.add_argument("ids", nargs="*", metavar="ID", help="message id (42 or outbox-42)")
        step.add_argument("--all-failed", action="store_true", help="every failed message")
        step.set_defaults(handler=handler)
