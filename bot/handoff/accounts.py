"""Agent accounts in the database: login name, display name, skills, capacity, password hash, role.

A role beyond serving customers (``supervisor``: the supervisor page) is a row in ``agent_roles``;
an agent without one is a plain agent.

Removing an account also writes a removal record (``agent_removals``, same transaction): the
waiting room acts on those records only (``bot.handoff.departures``), never on "on the roster in
Redis but no account here", which is also true of another deployment's agents sharing the Redis.

Passwords are hashed with scrypt and a random per-agent salt; the stored string carries the
parameters (``scrypt$n$r$p$salt$hash``) so they can be raised later without breaking logins.
Calls are synchronous (SQLAlchemy); async callers use ``asyncio.to_thread``.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from bot.db.repository import engine_for
from bot.db.schema import agent_removals, agent_roles, agents
from bot.db.schema_ready import require_tables
from bot.settings import MIN_PASSWORD_CHARS

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_NAME_CHARS = 64  # the login and display names' columns; the desk's sign-in reads no more
AGENT, SUPERVISOR = "agent", "supervisor"
ROLES = (AGENT, SUPERVISOR)


class AccountError(ValueError):
    """A name already taken, a password too short, an unknown skill group."""


@dataclass(frozen=True)
class AgentAccount:
    id: int
    name: str
    display_name: str
    skills: tuple[str, ...]
    capacity: int
    role: str = AGENT
    credential: str = ""  # changes with the password: a desk session opened with another ends


    @property
    def agent_id(self) -> str:
        return self.name

    def sees(self, skill: str) -> bool:
        """Whether work of this skill group (queue entries, work items, ledger items) is this agent's to see:
        a supervisor sees every group, an agent only those a supervisor granted."""
        return self.role == SUPERVISOR or skill in self.skills


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


@functools.lru_cache(maxsize=1)
def _unknown_name_hash() -> str:
    """What an unknown login name's password is checked against. Made once: hashing it at each try
    made an unknown name cost two scrypt runs and a known one one, so the time told names apart."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                   dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def _account(row) -> AgentAccount:
    return AgentAccount(id=row["id"], name=row["name"], display_name=row["display_name"] or row["name"],
                        skills=tuple(row["skills"] or ()), capacity=int(row["capacity"]), role=row["role"] or AGENT,
                        credential=hashlib.sha256(row["password_hash"].encode()).hexdigest()[:16])


def _with_role(name: str | None = None):
    """Accounts with their role: the one named, or all of them."""
    query = (sa.select(agents, agent_roles.c.role)
             .select_from(agents.outerjoin(agent_roles, agent_roles.c.agent_name == agents.c.name)))
    return query.order_by(agents.c.name) if name is None else query.where(agents.c.name == name)


@dataclass(frozen=True)
class Removal:
    """An account removed whose held conversations the waiting room has not put back yet."""
    name: str
    removed_at: float  # epoch seconds


class AccountStore:
    def __init__(self, database_url: str, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine_for(database_url)
        self.clock = clock
        require_tables(self.engine, agents, agent_roles, agent_removals)

    def add(self, name: str, password: str, skills: list[str], *, display_name: str = "",
            capacity: int = 2, known_skills: list[str] | None = None, role: str = AGENT) -> AgentAccount:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if not 0 < len(name) <= MAX_NAME_CHARS or name != name.strip() or not name.isprintable():
            raise AccountError(f"the login name must be 1 to {MAX_NAME_CHARS} characters, with no space at either end "
                               f"and no control character (got {name!r})")
        if len(display_name) > MAX_NAME_CHARS or not display_name.isprintable():
            raise AccountError(f"the display name must be at most {MAX_NAME_CHARS} characters, without control characters")
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
        unknown = set(skills) - set(known_skills) if known_skills is not None else set()
        if unknown or not skills:
            raise AccountError(f"unknown or missing skill groups: {sorted(unknown) or '(none)'}")
        exists = AccountError(f"agent {name!r} exists already")
        try:
            with self.engine.begin() as conn:
                if conn.execute(sa.select(agents.c.id).where(agents.c.name == name)).first():
                    raise exists
                conn.execute(agents.insert().values(name=name, display_name=display_name or name,
                                                    password_hash=hash_password(password), skills=list(skills),
                                                    capacity=int(capacity)))
                if role != AGENT:
                    conn.execute(agent_roles.insert().values(agent_name=name, role=role))
        except sa.exc.IntegrityError:  # another process added the name between the check and the insert
            raise exists from None
        return self.get(name)

    def get(self, name: str) -> AgentAccount | None:
        with self.engine.connect() as conn:
            row = conn.execute(_with_role(name)).mappings().first()
        return _account(row) if row else None

    def all(self) -> list[AgentAccount]:
        """Every account by name, signed in or not (the supervisor page, ``kefu agent list``)."""
        with self.engine.connect() as conn:
            return [_account(row) for row in conn.execute(_with_role()).mappings()]

    def role_of(self, name: str) -> str | None:
        """The agent's role now (read each time, so a change applies to signed-in agents at once); None: no such agent."""
        account = self.get(name)
        return account.role if account else None

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(agents.c.id).where(agents.c.name == name)).first() is None:
                raise AccountError(f"no agent {name!r}")
            conn.execute(agent_roles.delete().where(agent_roles.c.agent_name == name))
            if role != AGENT:
                conn.execute(agent_roles.insert().values(agent_name=name, role=role))

    def set_password(self, name: str, password: str) -> None:
        """A new password; the agent's desk sessions opened with the old one end (``credential``)."""
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
        with self.engine.begin() as conn:
            if conn.execute(agents.update().where(agents.c.name == name)
                            .values(password_hash=hash_password(password))).rowcount == 0:
                raise AccountError(f"no agent {name!r}")

    def remove(self, name: str) -> None:
        """The agent can no longer sign in, and their desk sessions end (the desk checks the account on
        every request); the removal record tells the waiting room to put conversations they held back
        in the queue and take them off the roster. Removed twice before it ran: the later time counts."""
        with self.engine.begin() as conn:
            conn.execute(agent_roles.delete().where(agent_roles.c.agent_name == name))
            if conn.execute(agents.delete().where(agents.c.name == name)).rowcount == 0:
                raise AccountError(f"no agent {name!r}")
            conn.execute(agent_removals.delete().where(agent_removals.c.name == name))
            conn.execute(agent_removals.insert().values(name=name, removed_at=self.clock()))

    def removals(self) -> list[Removal]:
        """Removals not acted on yet (one query on a table that is empty almost always)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(agent_removals.c.name, agent_removals.c.removed_at)
                                .order_by(agent_removals.c.name)).all()
        return [Removal(name, float(removed_at)) for name, removed_at in rows]

    def removal_done(self, removal: Removal) -> None:
        """The waiting room has acted on it (kept if the name was removed again meanwhile)."""
        with self.engine.begin() as conn:
            conn.execute(agent_removals.delete().where(agent_removals.c.name == removal.name)
                         .where(agent_removals.c.removed_at == removal.removed_at))

    def exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(agents.c.id).where(agents.c.name == name)).first() is not None

    def authenticate(self, name: str, password: str) -> AgentAccount | None:
        with self.engine.connect() as conn:
            row = conn.execute(_with_role(name)).mappings().first()
        if row is None:
            verify_password(password, _unknown_name_hash())  # one scrypt, as for a known name
            return None
        return _account(row) if verify_password(password, row["password_hash"]) else None

    def set_skills(self, name: str, skills: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(agents.update().where(agents.c.name == name).values(skills=list(skills)))

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(agents)).scalar_one()
