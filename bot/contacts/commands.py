"""`kefu contacts`: run the contact worker, list the schedule, see what it would plan (before go-live),
keep numbers off it (do-not-disturb)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading

from bot.settings import get_settings

logger = logging.getLogger(__name__)


def open_repository(settings):
    from bot.db.repository import Repository
    from bot.security.private_files import private_dir

    private_dir(settings.data_dir)
    repository = Repository(settings.database_url)
    repository.create_schema()  # an existing database gains the schedule's tables
    return repository


def messengers_from_settings(settings, redis_url: str) -> dict:
    """The text channels this deployment has settings for: the SMS gateway, WeChat template messages."""
    from bot.outbound.worker import adapters_from_settings

    return {k: v for k, v in adapters_from_settings(settings, redis_url).items() if k in ("sms", "wechat")}


def contact_withheld_phones(settings) -> frozenset[str]:
    """The demo customers' numbers unless this deployment asked for demo data (KEFU_DEMO_DATA): a
    production database seeded by an older Kefu must never have them called or texted."""
    from bot.db.seed import demo_phones

    if settings.demo_data_wanted or not settings.demo_seed_file.exists():
        return frozenset()
    return demo_phones(settings.demo_seed_file)


def worker_from_settings(settings, redis=None, redis_url: str = ""):
    """The worker with every channel this deployment has settings for."""
    from bot.contacts.dialer import Dialer
    from bot.contacts.rules import current_rules
    from bot.contacts.worker import ContactWorker
    from bot.handoff.queue import HandoffQueue
    from bot.ledger.rules import load_rules as load_ledger_rules

    repository = open_repository(settings)
    messengers = messengers_from_settings(settings, redis_url)
    return ContactWorker(
        repository, rules=lambda: current_rules(settings.content_dir / "contacts.yml"),
        ledger_rules=lambda: load_ledger_rules(settings.content_dir / "ledger.yml"),
        dialer=Dialer.from_settings(settings), messengers=messengers,
        queue=HandoffQueue(redis) if redis is not None else None,
        withheld_phones=contact_withheld_phones(settings))


def gate_from_settings(settings, repository):
    """The checks of the worker `kefu run` starts (:func:`worker_from_settings`) over the channels it
    would have, known without building them: the demo carrier's dialer reads — on a first start
    creates — the shared secrets, and `kefu contacts plan` writes nothing. `kefu run` always gives its
    worker a Redis, so agents are there for callbacks."""
    from bot.contacts.carrier_account import places_calls
    from bot.contacts.decision import ContactGate
    from bot.outbound.wechat_template import sends_wechat_templates
    from bot.outbound.worker import adapters_from_settings

    channels = {"agent"}
    if places_calls(settings):
        channels.add("phone")
    if "sms" in adapters_from_settings(settings):
        channels.add("sms")
    if sends_wechat_templates(settings):
        channels.add("wechat")
    return ContactGate(repository, frozenset(channels), contact_withheld_phones(settings))


async def run_worker(settings, stop: threading.Event, interval_s: float, redis_url: str = "") -> None:
    import redis.asyncio as aioredis

    from bot.redis_reconnect import reconnecting

    redis_url = redis_url or settings.redis.url
    redis = aioredis.Redis.from_url(redis_url, **reconnecting()) if redis_url else None  # None: callbacks wait for a worker with Redis
    worker = worker_from_settings(settings, redis, redis_url)
    logger.info("contacts.worker.started name=%s phone=%s channels=%s", worker.name, worker.dialer is not None,
                ",".join(sorted(worker.messengers)) or "-")
    try:
        while not stop.is_set():
            try:
                counts = await worker.run_pass()
                if counts:
                    logger.info("contacts.worker.pass %s", " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
            except Exception:  # noqa: BLE001 - log with traceback, keep the schedule moving on the next pass
                logger.exception("contacts.worker.pass_failed")
            await asyncio.to_thread(stop.wait, interval_s)
    finally:
        if redis is not None:
            await redis.close()


def contacts_forever(settings, stop: threading.Event, redis_url: str = "", interval_s: float = 5.0) -> None:
    """Thread body for `kefu run` (like the outbox): drive the schedule until ``stop`` is set."""
    asyncio.run(run_worker(settings, stop, interval_s, redis_url))


def command_redis_url(settings) -> str:
    """The Redis of the agents' queue for a worker started on its own: ``REDIS_URL``, else the embedded
    one the running `kefu run` recorded. Without it the worker had no agents, and each callback it
    claimed before `kefu run`'s worker did waited an hour for a worker that could offer it."""
    from bot.serving import recorded_redis_url

    return settings.redis.url or recorded_redis_url(settings) or ""


def cmd_run(args: argparse.Namespace) -> int:
    settings = get_settings()
    stop = threading.Event()
    try:
        asyncio.run(run_worker(settings, stop, args.interval, command_redis_url(settings)))
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bot.analytics.config import centre_zone, local_time
    from bot.contacts.schedule import Schedule

    repository = open_repository(get_settings())
    status = "failed" if args.failed else args.status
    schedule = Schedule(repository)
    rows = schedule.listing(status=status, purpose=args.purpose)
    total = schedule.count(status=status, purpose=args.purpose)
    zone = centre_zone()
    print(f"{'id':>5} {'purpose':<9} {'rule':<18} {'status':<9} {f'due ({zone.key})':<16} {'tries':>5} {'ticket':<9} result")
    for row in rows:
        print(f"{row['id']:>5} {row['purpose']:<9} {row['rule']:<18} {row['status']:<9} "
              f"{local_time(row['due_at'], zone):<16} {row['attempts']:>5} {row['ticket_id'] or '-':<9} "
              f"{row['result'] or '-'}")
    if total > len(rows):
        print(f"{len(rows)} of {total} contact(s): the latest by due time (--status, --purpose narrow the list)")
    else:
        print(f"{len(rows)} contact(s)")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """What the worker's next pass would schedule and what it would then do with each contact, written
    nowhere: the dry run before go-live, when the first pass on an imported customer base reminds every
    customer in arrears at once."""
    import datetime as dt

    from bot.analytics.config import centre_zone
    from bot.contacts.dry_run import foresee, plan_lines
    from bot.contacts.planner import Planner
    from bot.contacts.rules import ContactRulesError, load_rules
    from bot.ledger.rules import load_rules as load_ledger_rules

    settings = get_settings()
    try:
        rules = load_rules(settings.content_dir / "contacts.yml")
    except ContactRulesError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    repository = open_repository(settings)
    planner = Planner(repository, rules, load_ledger_rules(settings.content_dir / "ledger.yml"))
    plan = foresee(planner, gate_from_settings(settings, repository), rules, dt.datetime.utcnow())
    print("\n".join(plan_lines(plan, centre_zone())))
    return 0


def block_address(text: str) -> str | None:
    """The block list's key for what an operator typed: ``phone:`` and the number as the schedule keeps it
    (a mobile in any usual spelling as 11 digits, a landline as the desk keeps a callback number), or
    ``wechat:<openid>``; None for anything else."""
    from bot.handoff.contact_details import phone_number

    kind, named, value = text.strip().partition(":")
    if not named:
        kind, value = "phone", text
    value = value.strip()
    if kind == "wechat":
        return f"wechat:{value}" if value else None
    if kind != "phone":
        return None
    number = phone_number(value)
    return f"phone:{number}" if number else None


def cmd_block(args: argparse.Namespace) -> int:
    from bot.contacts.schedule import Schedule

    address = block_address(args.address)
    if address is None:
        print(f"kefu: error: {args.address!r} is not a phone number (a mainland mobile or a landline with its "
              "area code) nor wechat:<openid>", file=sys.stderr)
        return 2
    schedule = Schedule(open_repository(get_settings()))
    if args.remove:
        schedule.unblock(address)
        print(f"{address}: may be contacted again")
    else:
        schedule.block(address, "dnd", via="cli")
        print(f"{address}: do not disturb")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    contacts = commands.add_parser("contacts", help="follow-up, care, arrears and callback contacts").add_subparsers(
        dest="contacts_command", required=True)
    run = contacts.add_parser("run", help="drive the contact schedule (also started by `kefu run`)")
    run.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    run.set_defaults(handler=cmd_run)
    listing = contacts.add_parser("list", help="the schedule's latest 200 contacts by due time, soonest first")
    listing.add_argument("--status", help="scheduled, calling, done, failed, blocked, held, offered")
    listing.add_argument("--failed", action="store_true", help="only the failed ones (as --status failed)")
    listing.add_argument("--purpose", help="followup, care, arrears, callback")
    listing.set_defaults(handler=cmd_list)
    plan = contacts.add_parser("plan", help="what the worker would schedule now, without scheduling it "
                                            "(dry run: check before go-live)")
    plan.set_defaults(handler=cmd_plan)
    dnd = contacts.add_parser("dnd", help="put a number (or wechat:<openid>) on the do-not-disturb list")
    dnd.add_argument("address")
    dnd.add_argument("--remove", action="store_true", help="take it off the list")
    dnd.set_defaults(handler=cmd_block)
