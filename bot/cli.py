"""The ``kefu`` command: run, train, database and voice tools.

Its console entry point (pyproject.toml, ``kefu = "bot.cli:main"``). Its top imports next to nothing (modules
Python has loaded before any of Kefu's code runs, and typing): everything else (Kefu's modules, SciPy, SQLAlchemy
and Sanic behind them: seconds) is imported inside the functions, so a Ctrl-C while they load meets
:func:`main`'s handling: one line and exit code 130 (bot/ctrl_c.py), not a traceback."""
from __future__ import annotations

import os
import sys
import time
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def cmd_run(args: argparse.Namespace) -> int:
    """``kefu run``: what it prints and logs is also kept in ``logs/run.log`` (bot/observability/run_log.py)."""
    from bot.observability.run_log import keep_run_log
    from bot.security.private_files import CannotMake, private_dir
    from bot.settings import get_settings

    settings = get_settings()
    try:
        private_dir(settings.data_dir)  # run.log, the SQLite file, Redis's data: nothing starts without it
    except CannotMake as exc:
        print(f"Kefu cannot start: {folder_problem(exc)}.", file=sys.stderr)
        return 2
    with keep_run_log(settings):
        return run_kefu(args)


def run_kefu(args: argparse.Namespace) -> int:
    import signal
    import threading

    from bot.contacts.commands import contacts_forever
    from bot.db.recordings import tidy_forever as tidy_recordings_forever
    from bot.dispatch.delivery import ticket_events_from_settings
    from bot.editor.publish import record_baseline
    from bot.handoff.commands import demo_login_note
    from bot.notify import NotifyError
    from bot.outbound.worker import adapters_from_settings, deliver_forever, warn_if_no_sms_gateway
    from bot.settings import SettingError, get_settings
    from bot.model_follower import Follower, follow_forever
    from bot.security.secrets import get_secrets
    from voice.tts_cache import prune_forever as prune_tts_cache_forever
    from voice.voicemail.unsaved import refile_forever as refile_unsaved_voicemail_forever
    from bot.security import log_masking
    from bot.stack import KefuStack, StartupError, check_embedded_redis
    from bot.workers import worker_count

    log_masking.install()

    from bot.launcher import Keeper, PortTaken, check_port_free, describe_exit, reason_lines

    settings = get_settings()
    stack = KefuStack(settings)
    servers = [("action server", settings.action_port, settings.data_dir / "logs" / "actions.log"),
               ("Rasa server", settings.rasa_port, settings.data_dir / "logs" / "rasa.log")]  # spawn order
    try:
        worker_count(settings.env)  # KEFU_WORKERS, read by the servers only when they start
        check_port_free(settings.action_host, settings.action_port, "action server")
        check_port_free(settings.host, settings.rasa_port, "Rasa server")
        check_embedded_redis(settings)  # its port or data folder another Redis has already
        adapters_from_settings(settings)
        ticket_events_from_settings(settings)
    except (PortTaken, NotifyError, StartupError, SettingError) as exc:
        print(f"Kefu cannot start: {exc}.", file=sys.stderr)
        return 2
    from bot.editor.live_file_checks import refused_at_start

    refused = refused_at_start(settings)
    if refused:  # nothing good to keep serving at a first start: every answer reading it would fail
        print(f"Kefu cannot start: {refused[0]} (`kefu validate` names every problem).", file=sys.stderr)
        return 2
    from bot.observability.disk_space import too_full_to_start

    full = too_full_to_start(settings.data_dir)  # servers would die of SIGBUS on their metric files
    if full:
        print(f"Kefu cannot start: {full}.", file=sys.stderr)
        return 2
    from bot.redis_persistence import check_external_redis

    redis_check = check_external_redis(settings)  # conversations and the queue must survive a Redis restart
    for line in redis_check.messages:
        print(line if not redis_check.refuse else f"Kefu cannot start: {line}", file=sys.stderr, flush=True)
    if redis_check.refuse:
        return 2
    print("Kefu: preparing database and model (first run trains the model, a few minutes)...", flush=True)
    if not upgrade_database(settings):  # before anything reads or writes it (stack.prepare finds it current)
        return 2
    warn_if_data_folder_open(settings)
    warn_if_no_sms_gateway(settings)
    record_baseline(settings)  # the publish log's first entry lists what editors changed after this
    stopping = False

    def interrupt_start(*_):
        raise StartInterrupted()

    def stop(*_):
        nonlocal stopping
        stopping = True

    # Before anything is spawned: a SIGTERM during the minutes of starting stops what was started
    # (the servers run in their own process groups and would otherwise outlive the launcher).
    signal.signal(signal.SIGTERM, interrupt_start)
    signal.signal(signal.SIGINT, interrupt_start)
    try:
        stack.start()
        # Up: from here a stop only ends the loop below, and the finally stops the servers (a SIGTERM while
        # the first screen was printed met the start-time handler: a traceback, every server left running).
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    except StartInterrupted:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("Kefu: stopped while starting; stopping the servers started so far.", file=sys.stderr, flush=True)
        stack.stop()
        return 1
    except StartupError as exc:
        print(f"Kefu failed to start: {exc}", file=sys.stderr)
        for role, _, log_file in servers:
            if log_file not in stack.log_starts:  # not started (the embedded Redis failed first): old lines
                continue
            for line in reason_lines(log_file, limit=3, since=stack.log_starts.get(log_file, 0)):
                print(f"  [{role}] {line}", file=sys.stderr)
        return 1
    outbox_stop = threading.Event()
    try:
        dead = [(role, p, log_file) for (role, _, log_file), p in zip(servers, stack.processes) if p.poll() is not None]
        if dead:  # answered the health check, yet gone: someone else answered on its port
            for role, process, log_file in dead:
                print(describe_exit(role, process.returncode, log_file, stack.log_starts.get(log_file, 0),
                                    settings.data_dir), file=sys.stderr)
            return 1  # the finally stops the others
        print(
            "\nKefu is running.\n"
            f"  Web chat     : {settings.public_url}/chat/\n"
            f"  Agent desk   : {settings.public_url}/agent/{demo_login_note(settings)}\n"
            f"  Supervisor   : {settings.public_url}/agent/supervisor/\n"
            f"  Softphone    : {settings.public_url}/ivr/phone/{demo_carrier_note(settings)}\n"
            f"  WeChat       : {settings.public_url}/webhooks/wechat/webhook {wechat_note(settings)}\n"
            f"  REST channel : POST {settings.rasa_url}/webhooks/rest/webhook\n"
            f"  Rasa server  : {settings.rasa_url} ({worker_count(settings.env)} workers, KEFU_WORKERS)\n"
            f"  Model        : {model_note(stack)}\n"
            f"  Action server: {settings.action_base_url} (only Rasa, with its secret)\n"
            f"  Secrets      : shared by every instance through the database; copies in {settings.data_dir / 'secrets'}"
            " (Rasa API token: rasa_token)\n"
            f"  Redis        : {stack.redis_url}{' (embedded)' if not settings.redis.url else ''}\n"
            f"  Logs         : {settings.data_dir / 'logs'}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        threading.Thread(target=render_missing_videos, args=(settings,), daemon=True).start()
        threading.Thread(target=deliver_forever, args=(settings, outbox_stop), kwargs={"redis_url": stack.redis_url},
                         daemon=True).start()
        threading.Thread(target=contacts_forever, args=(settings, outbox_stop, stack.redis_url), daemon=True).start()
        threading.Thread(target=tidy_recordings_forever, args=(settings, outbox_stop), daemon=True).start()
        threading.Thread(target=prune_tts_cache_forever, args=(settings, outbox_stop), daemon=True).start()
        threading.Thread(target=refile_unsaved_voicemail_forever, args=(settings, outbox_stop), daemon=True).start()
        follower = Follower(settings, stack, get_secrets().rasa_token, stack.publication.id if stack.publication else None)
        threading.Thread(target=follow_forever, args=(follower, outbox_stop), daemon=True).start()
        keeper = Keeper(stack, [(role, log_file) for role, _, log_file in servers],
                        {"Rasa server": lambda: stack.rasa_command(settings.rasa_port)})  # the model published since
        while not stopping:
            time.sleep(1)
            for note in keeper.tick():
                print(note, file=sys.stderr, flush=True)
    finally:
        outbox_stop.set()
        stack.stop()
    return 0


def model_note(stack) -> str:
    """Which model the instance serves and why, for the banner (publish is authoritative)."""
    from bot.training import model_path

    if stack.publication is None:
        return (f"{stack.model.name} (this checkout's data: nothing published yet, or the published model "
                "could not be had, see the log; `kefu published` tells)")
    checkout = model_path(stack.settings.root, stack.settings.models_dir).name
    differs = "" if checkout == stack.publication.name else f"; this checkout's data would give {checkout}"
    return f"{stack.publication.describe()}{differs}; follows new publications"


class StartInterrupted(Exception):
    """SIGTERM or Ctrl-C arrived while ``kefu run`` was still starting."""


def wechat_note(settings) -> str:
    """Whether the WeChat webhook is set up, for the banner (the URL goes into WeChat's console)."""
    if not settings.wechat_token:
        return "(not configured: WECHAT_TOKEN; see README, Connecting a WeChat official account)"
    mode = "plain, compatible and safe mode" if settings.wechat_aes_key else "plain mode only (no WECHAT_AES_KEY)"
    api = "" if settings.wechat_app_id and settings.wechat_app_secret else "; no WECHAT_APP_ID/SECRET: passive replies only"
    return f"({mode}{api})"


def demo_carrier_note(settings) -> str:
    from bot.contacts.carrier_account import demo_carrier_on

    return " (no telephony configured: Kefu's follow-up calls ring here, demo carrier)" if demo_carrier_on(settings) else ""


def upgrade_database(settings, *, quiet_if_current: bool = True) -> bool:
    """Bring the customer database to this Kefu's schema, saying what was done; False (with the reason
    printed) when Kefu must not run on it — a newer Kefu's schema, or a database it cannot reach."""
    from bot.db.errors import why_unusable
    from bot.db.repository import DatabaseError, Repository
    from bot.security.private_files import CannotMake, private_dir

    try:
        private_dir(settings.data_dir)  # a fresh install's SQLite file goes in it; owner-only (secrets, logs, recordings)
        done = Repository(settings.database_url).create_schema()
    except DatabaseError as exc:
        print(f"Kefu cannot use the database: {why_unusable(exc)}", file=sys.stderr, flush=True)
        return False
    except CannotMake as exc:  # the SQLite file in a data folder Kefu may not write in
        print(f"Kefu cannot use the database: {folder_problem(exc)}", file=sys.stderr, flush=True)
        return False
    if done.adopted:
        print(f"database: made by an earlier Kefu; its tables are checked and now at schema {done.after}", flush=True)
    elif done.changed:
        print(f"database: schema upgraded from {done.before or '(empty)'} to {done.after}", flush=True)
    elif not quiet_if_current:
        print(f"database: schema already current ({done.after})", flush=True)
    return True


def warn_if_data_folder_open(settings) -> None:
    """A data folder other users can read (made 0755 by an earlier Kefu or by hand) is the operator's to
    close: Kefu never changes the mode of a folder it did not make, it only says so."""
    from bot.security.private_files import open_to_others

    if open_to_others(settings.data_dir):
        mode = settings.data_dir.stat().st_mode & 0o777
        print(f"kefu: warning: {settings.data_dir} (secrets, logs, recordings) can be read by other users "
              f"(mode {mode:o}); `chmod 700 {settings.data_dir}` makes it owner-only", file=sys.stderr, flush=True)


def cmd_db_init(args: argparse.Namespace) -> int:
    from bot.db.repository import Repository
    from bot.db.seed import prepare_database, seed_demo
    from bot.settings import get_settings

    settings = get_settings()
    if not upgrade_database(settings):
        return 2
    repo = Repository(settings.database_url)
    if args.demo or settings.demo_data_wanted:
        loaded = seed_demo(repo, settings.demo_seed_file)
        print("demo data loaded" if loaded else "database already has customers; nothing loaded")
    else:
        prepare_database(repo, settings)
        why = "KEFU_DEMO_DATA=off" if settings.demo_data == "off" else "an external database"
        print(f"tables ready; no demo data loaded ({why}; KEFU_DEMO_DATA=on or --demo loads it)")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.settings import get_settings

    return 0 if upgrade_database(get_settings(), quiet_if_current=False) else 2


def cmd_db_current(args: argparse.Namespace) -> int:
    """The database's schema revision next to this Kefu's newest; exit 1 when an upgrade is due, 2 when refused."""
    from bot.db.errors import why_unusable
    from bot.db.migrate import current_revision, head, is_legacy, known_revisions
    from bot.db.repository import Repository
    from bot.security.private_files import private_dir
    from bot.settings import get_settings

    newest = head()
    settings = get_settings()
    private_dir(settings.data_dir)  # a fresh clone's SQLite file goes in it (as for kefu db upgrade): empty, not refused
    try:
        engine = Repository(settings.database_url).engine
        revision = current_revision(engine)
        with engine.connect() as conn:
            legacy = revision is None and is_legacy(conn)
    except Exception as exc:  # noqa: BLE001 - any driver error: say it, as the other commands do
        print(f"Kefu cannot use the database: {why_unusable(exc)}", file=sys.stderr)
        return 2
    if revision == newest:
        print(f"{revision} (current)")
        return 0
    if revision is not None and revision not in known_revisions():
        print(f"{revision} (unknown to this Kefu, which knows up to {newest}: a newer Kefu upgraded it)")
        return 2
    state = "no version: made by an earlier Kefu" if legacy else "empty" if revision is None else "behind"
    print(f"{revision or '-'} ({state}; kefu db upgrade brings it to {newest})")
    return 1


def render_missing_videos(settings) -> None:
    """First run: narrate the catalogue's step-by-step videos in the background (editors' filmed ones win)."""
    import asyncio

    from bot.editor.render import RenderError, needs_render, render_entry
    from bot.selfhelp import load_catalogue
    from voice.tts import default_engine

    pending = [e for e in load_catalogue(settings.selfhelp_catalogue).entries.values() if needs_render(e, settings.media_dir)]
    if not pending:
        return
    print(f"Rendering {len(pending)} self-help video(s) in the background...", flush=True)

    async def render_all():
        tts = default_engine()
        for entry in pending:
            await render_entry(entry, settings.media_dir, tts)

    try:
        asyncio.run(render_all())
    except (RenderError, OSError) as exc:
        print(f"Self-help videos not rendered: {exc}", flush=True)
        return
    print("Self-help videos ready.", flush=True)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from bot.analytics.commands import register as register_analytics
    from bot.contacts.commands import register as register_contacts
    from bot.dispatch.commands import register as register_dispatch
    from bot.editor.commands import register as register_editor
    from bot.handoff.commands import register as register_handoff
    from bot.ledger.commands import register as register_ledger
    from bot.outbound.commands import register as register_outbox
    from bot.privacy.commands import register as register_privacy
    from voice.commands import register as register_voice

    parser = argparse.ArgumentParser(prog="kefu", description="Kefu customer-service centre")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start everything and print where to open it").set_defaults(handler=cmd_run)
    db = commands.add_parser("db", help="customer database").add_subparsers(dest="db_command", required=True)
    init = db.add_parser("init", help="create tables; load the demo data where wanted (KEFU_DEMO_DATA)")
    init.add_argument("--demo", action="store_true", help="load the demo customers even into an external database")
    init.set_defaults(handler=cmd_db_init)
    db.add_parser("upgrade", help="bring the database's schema to this version's (back it up first); "
                  "kefu run and kefu db init do it too").set_defaults(handler=cmd_db_upgrade)
    db.add_parser("current", help="the database's schema revision, and whether an upgrade is due "
                  "(exit 0 current, 1 due, 2 refused)").set_defaults(handler=cmd_db_current)
    register_voice(commands)
    register_editor(commands)
    register_handoff(commands)
    register_analytics(commands)
    register_ledger(commands)
    register_dispatch(commands)
    register_outbox(commands)
    register_contacts(commands)
    register_privacy(commands)
    return parser


def quiet_library_deprecations() -> None:
    """Libraries' own deprecation notes (pkg_resources in webrtcvad and jieba, jax in TensorFlow; Rasa's slot
    auto-fill note) are not the operator's to act on, and they buried ``kefu run``'s first screen (and a
    one-shot command's result). Sanic turns them back on
    when it is imported (``filterwarnings("once")``), so it is imported first. -W / PYTHONWARNINGS win."""
    if sys.warnoptions:
        return
    import sanic  # noqa: F401

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Rasa 3.6 says this of every domain with slots (bot/editor/rasa_checks.py leaves it out too).
    warnings.filterwarnings("ignore", message="Slot auto-fill has been removed", category=UserWarning)


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C at any moment is one line and exit code 130 (bot/ctrl_c.py): while Kefu loads (seconds of imports,
    before any command runs) it ends the process at once; once the command runs, as :func:`run_one_shot` says
    (``kefu run`` and ``kefu contacts run`` handle it themselves once they have something to stop)."""
    from bot.ctrl_c import INTERRUPTED, ends_at_once

    with ends_at_once("kefu: stopped by Ctrl-C"):
        args = load(argv)
    if args is None:
        return 2
    try:
        return run_one_shot(args) if args.command != "run" else args.handler(args)
    except KeyboardInterrupt:
        print("kefu: stopped by Ctrl-C", file=sys.stderr)
        return INTERRUPTED


def load(argv: list[str] | None) -> argparse.Namespace | None:
    """The command to run, Kefu's modules loaded and its settings read; None when they cannot be (said)."""
    from bot.settings import SettingError, get_settings

    # Before anything loads Rasa: TensorFlow's C++ start-up notes (CPU features, no CUDA, no TensorRT)
    # off, its errors still shown; the level Rasa's own CLI sets. TF_CPP_MIN_LOG_LEVEL=0 shows them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_library_deprecations()
    args = build_parser().parse_args(argv)
    one_shot = args.command != "run"
    try:
        get_settings()  # every command needs them: a value Kefu cannot use is one line, not a traceback
    except SettingError as exc:
        print(f"Kefu cannot start: {exc}." if args.command == "run" else f"kefu: error: {exc}", file=sys.stderr)
        return None
    from bot.observability.logging_setup import configure_from_settings

    configure_from_settings(one_shot=one_shot)
    if one_shot:  # what it counts (a voice message's handoff) reaches the running stack's /metrics
        from bot.observability.metrics import join_multiprocess

        join_multiprocess(get_settings().metrics_dir)
    return args


def run_one_shot(args: argparse.Namespace) -> int:
    """A command whose database cannot be reached or used (PostgreSQL down, a wrong host), or whose data
    folder cannot be made (KEFU_DATA_DIR under a file), says so in one ``kefu: error:`` line with the
    reason, exit code 1; a database's traceback goes to cli.log. One stopped by Ctrl-C says so in one line, exit
    code 130 (as the shell gives), not a traceback (:func:`main`): a command that must finish a step first
    handles it itself (bot/ctrl_c.py)."""
    import logging

    from sqlalchemy.exc import InterfaceError, OperationalError

    from bot.db.errors import unusable_database
    from bot.db.repository import DatabaseError
    from bot.security.private_files import CannotMake

    try:
        return args.handler(args)
    except (OperationalError, InterfaceError, DatabaseError) as exc:
        logging.getLogger("bot.cli").error("cli.database_unavailable command=%s", args.command, exc_info=True)
        print(unusable_database(exc), file=sys.stderr)
        return 1
    except CannotMake as exc:  # not logged: the log goes to stderr when cli.log's folder cannot be made
        print(f"kefu: error: {folder_problem(exc)}", file=sys.stderr)
        return 1


def folder_problem(exc) -> str:
    """A :class:`CannotMake` in one line, naming KEFU_DATA_DIR when the folder is in it (the usual cause)."""
    from bot.settings import get_settings

    data_dir = get_settings().data_dir
    if exc.path == data_dir or data_dir in exc.path.parents:
        return f"{exc} (KEFU_DATA_DIR is {data_dir})"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
