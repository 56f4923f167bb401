"""``kefu agent ...``: manage agent-desk accounts.

``register(subparsers)`` adds the commands to the CLI; failures the user can fix are one line
on stderr with exit code 1.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from bot.cli_types import whole_number_at_least
from bot.handoff.accounts import ROLES, SUPERVISOR, AccountError, AccountStore
from bot.handoff.rules import load_rules
from bot.settings import PUBLISHED_DEMO_PASSWORD, Settings, get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    agent = subparsers.add_parser("agent", help="agent-desk accounts")
    commands = agent.add_subparsers(dest="agent_command", required=True)
    add = commands.add_parser("add", help="create an agent who can sign in at /agent/")
    add.add_argument("name", help="login name")
    add.add_argument("--skills", required=True, help="comma-separated skill groups, e.g. tv,broadband")
    add.add_argument("--password", help="at least 8 characters (asked for when omitted)")
    add.add_argument("--display-name", default="", help="the name customers see")
    add.add_argument("--capacity", type=whole_number_at_least(1), default=None,  # 0: an agent who takes nothing
                     help="conversations at once (default: agent_capacity in content/handoff.yml)")
    add.add_argument("--role", choices=ROLES, default="agent", help="supervisor: may open the supervisor page")
    add.set_defaults(handler=agent_add)
    listing = commands.add_parser("list", help="every agent: login name, display name, role, granted skill groups")
    listing.set_defaults(handler=agent_list)
    role = commands.add_parser("role", help="change an agent's role (supervisor or agent)")
    role.add_argument("name", help="login name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(handler=agent_role)
    password = commands.add_parser("password", help="set an agent's password (read from stdin or asked); their open desk sessions end")
    password.add_argument("name", help="login name")
    password.set_defaults(handler=agent_password)
    remove = commands.add_parser("remove", help="remove an agent: no more sign-in, their conversations go back to the queue")
    remove.add_argument("name", help="login name")
    remove.set_defaults(handler=agent_remove)


def open_accounts(settings: Settings) -> AccountStore:
    """The accounts; a database without their tables (``kefu agent add`` may be the first command run on
    a new install) is brought to this Kefu's schema first, by the migrations like ``kefu db upgrade``.
    A database that has them is not upgraded as a side effect of listing or adding an agent."""
    from bot.db.repository import Repository
    from bot.db.schema_ready import SchemaNotReady
    from bot.security.private_files import private_dir

    private_dir(settings.data_dir)
    Repository(settings.database_url)  # a URL it cannot use: a DatabaseError saying so, not a traceback
    try:
        return AccountStore(settings.database_url)
    except SchemaNotReady:
        Repository(settings.database_url).create_schema()
        return AccountStore(settings.database_url)


def agent_add(args: argparse.Namespace) -> int:
    settings = getattr(args, "settings", None) or get_settings()
    rules = load_rules(settings.content_dir / "handoff.yml")
    password = args.password or typed_password()
    skills = [s.strip() for s in args.skills.split(",") if s.strip()]
    try:
        account = open_accounts(settings).add(
            args.name, password, skills, display_name=args.display_name,
            capacity=args.capacity or rules.agent_capacity, known_skills=list(rules.skills), role=args.role)
    except AccountError as exc:
        print(f"kefu agent add: {exc}", file=sys.stderr)
        return 1
    print(f"agent {account.name} added (skills: {','.join(account.skills)}; role: {account.role})")
    return 0


def agent_list(args: argparse.Namespace) -> int:
    settings = getattr(args, "settings", None) or get_settings()
    accounts = open_accounts(settings).all()
    print(f"{'name':<20} {'display name':<16} {'role':<10} skills")
    for account in accounts:
        print(f"{account.name:<20} {account.display_name:<16} {account.role:<10} {','.join(account.skills)}")
    print(f"{len(accounts)} agent(s)")
    return 0


def typed_password() -> str:
    """Asked for at a terminal; read as one line from a script's stdin (a tester's script got a raw
    EOFError traceback); nothing given is "" and refused as too short, in one line."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    try:
        return getpass.getpass("password: ")
    except EOFError:
        return ""


def on_account(args: argparse.Namespace, command: str, change, done: str) -> int:
    """Apply ``change(store)`` to the accounts; one ``kefu agent <command>: why`` line when refused."""
    settings = getattr(args, "settings", None) or get_settings()
    try:
        change(open_accounts(settings))
    except AccountError as exc:
        print(f"kefu agent {command}: {exc}", file=sys.stderr)
        return 1
    print(done)
    return 0


def agent_role(args: argparse.Namespace) -> int:
    return on_account(args, "role", lambda store: store.set_role(args.name, args.role),
                      f"agent {args.name} is now {args.role}")


def agent_password(args: argparse.Namespace) -> int:
    def change(store: AccountStore) -> None:
        if not store.exists(args.name):  # said before the operator types a password for nobody
            raise AccountError(f"no agent {args.name!r}")
        store.set_password(args.name, typed_password())

    return on_account(args, "password", change,
                      f"agent {args.name}: password changed; desk sessions opened with the old one are signed out")


def agent_remove(args: argparse.Namespace) -> int:
    return on_account(args, "remove", lambda store: store.remove(args.name),
                      f"agent {args.name} removed: signed out everywhere; conversations they held go back to the queue")


def demo_login_note(settings: Settings) -> str:
    """The banner's word on the demo login: its password only while it is still the published one; how to
    make the first supervisor where none was made (``ensure_demo_agent``)."""
    store = AccountStore(settings.database_url)
    if not store.count():
        return (" (no agent yet: `kefu agent add NAME --skills ... --role supervisor`, or set KEFU_DEMO_AGENT_PASSWORD"
                " before the start)")
    if store.authenticate(settings.demo_agent_name, PUBLISHED_DEMO_PASSWORD) is None:
        return ""
    return (f" (demo supervisor {settings.demo_agent_name} / {PUBLISHED_DEMO_PASSWORD}, a published password: "
            f"`kefu agent password {settings.demo_agent_name}` before anyone else can reach the desk)")


def ensure_demo_agent(settings: Settings) -> bool:
    """Create the demo agent (all skill groups, supervisor) when no agent exists; True when created.

    Not with the published password in a deployment without demo data (``Settings.demo_data_wanted``: an
    external database, a production one): found in review, its first start opened the supervisor desk to
    anyone who had read the README. ``KEFU_DEMO_AGENT_PASSWORD`` set by the operator is made anywhere."""
    store = AccountStore(settings.database_url)
    if store.count():
        return False
    if settings.demo_agent_password == PUBLISHED_DEMO_PASSWORD and not settings.demo_data_wanted:
        return False
    rules = load_rules(settings.content_dir / "handoff.yml")
    try:
        store.add(settings.demo_agent_name, settings.demo_agent_password, list(rules.skills),
                  capacity=rules.agent_capacity, known_skills=list(rules.skills), role=SUPERVISOR)
    except AccountError:
        if store.get(settings.demo_agent_name) is None:
            raise
        return False  # another machine's first start, at the same moment, made it
    return True
