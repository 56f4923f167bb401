"""The secrets Kefu's processes share: one value per deployment, kept in the shared database.

Several machines behind one load balancer must agree on every secret: the channel secret signs
web-chat session ids (a customer failing over to another machine resumes their conversation only if
that machine accepts the id), the Rasa token lets `kefu train` reach any server, and so on. State
lives in Redis or the database, never on one machine, so:

- a secret set in the environment (see ``bot.settings``) wins;
- otherwise the ``deployment_secrets`` table holds it: the first process that needs it inserts a
  value (insert-if-absent: two instances starting together both read back the row that won) and
  every later process, on any machine, reads that row;
- an existing ``<data_dir>/secrets/<name>`` file from an earlier version becomes the shared value
  when none is stored yet, so upgrading keeps sessions and integrations working;
- the resolved value is mirrored into ``<data_dir>/secrets/<name>`` (mode 0600) for operators and
  tools that read it there, and is the fallback when the database cannot be reached.

The embedded setup (SQLite in ``var/``) works the same way with its own file. The launcher passes
the secrets to its children in their environment, so ``ps`` never shows one on a command line.
"""
from __future__ import annotations

import logging
import os
import secrets as random_tokens
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.security.private_files import private_dir
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

ENVIRONMENT = {
    "rasa_token": "KEFU_RASA_TOKEN",
    "action_secret": "KEFU_ACTION_SECRET",
    "channel_secret": "KEFU_CHANNEL_SECRET",
    "jwt_secret": "KEFU_JWT_SECRET",
    "ivr_trunk_token": "KEFU_IVR_TRUNK_TOKEN",
}


class SecretsUnavailable(RuntimeError):
    """Neither the environment, the shared database nor a local copy has the secret."""


@dataclass(frozen=True)
class Secrets:
    rasa_token: str
    action_secret: str
    channel_secret: str
    jwt_secret: str
    ivr_trunk_token: str

    def environment(self) -> dict[str, str]:
        """The variables that hand these secrets to a child process."""
        return {ENVIRONMENT[f.name]: getattr(self, f.name) for f in fields(self)}


def local_copy(path: Path) -> str:
    """The value in ``path`` (an earlier version's secret, or the mirror of the shared one), or ""."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def write_local_copy(path: Path, value: str) -> None:
    """Mirror ``value`` into ``path``, owner-only, replaced atomically (readers never see half a value)."""
    if local_copy(path) == value:
        return
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(value)
    os.replace(temporary, path)


def _ensure_table(engine: sa.engine.Engine) -> None:
    """The secrets table is part of the schema: a database without it is brought to the schema by its
    migrations (bot/db/migrate.py, which several instances may run at once), never given one table alone
    (a lone table would make a new database look like an earlier Kefu's)."""
    if sa.inspect(engine).has_table("deployment_secrets"):
        return
    from bot.db.migrate import upgrade

    upgrade(engine)


def shared_secret(engine: sa.engine.Engine, name: str, candidate: str) -> str:
    """The deployment's value of ``name``: the stored one, else ``candidate`` once stored (insert-if-absent)."""
    from bot.db.schema import deployment_secrets as table

    select = sa.select(table.c.value).where(table.c.name == name)
    with engine.connect() as conn:
        stored = conn.execute(select).scalar()
    if stored:
        return stored
    try:
        with engine.begin() as conn:
            conn.execute(table.insert().values(name=name, value=candidate))
    except IntegrityError:
        pass  # another instance stored its value first: that one is the deployment's
    with engine.connect() as conn:
        return conn.execute(select).scalar_one()


def load_secrets(settings: Settings) -> Secrets:
    """Every secret: from the environment, else the shared database (see the module docstring)."""
    folder = settings.data_dir / "secrets"
    missing = [f.name for f in fields(Secrets) if not getattr(settings, f.name)]
    values = {f.name: getattr(settings, f.name) for f in fields(Secrets)}
    if not missing:
        return Secrets(**values)
    from bot.db.repository import engine_for

    private_dir(settings.data_dir)
    try:
        engine = engine_for(settings.database_url)
        _ensure_table(engine)
        for name in missing:
            candidate = local_copy(folder / name) or random_tokens.token_urlsafe(32)
            values[name] = shared_secret(engine, name, candidate)
    except SQLAlchemyError as exc:
        copies = {name: local_copy(folder / name) for name in missing}
        absent = [name for name, value in copies.items() if not value]
        if absent:  # a new value now could differ from the one the other instances store later
            raise SecretsUnavailable(
                f"the database holding the shared secrets cannot be reached ({type(exc).__name__}) and "
                f"{folder} has no copy of {', '.join(absent)}; set them in the environment "
                f"({', '.join(ENVIRONMENT[n] for n in absent)}) or try again when the database is back") from exc
        logger.warning("secrets.database_unreachable error=%s using=local_copies", type(exc).__name__)
        values.update(copies)
        return Secrets(**values)
    for name in missing:
        write_local_copy(folder / name, values[name])
    return Secrets(**values)


@lru_cache(maxsize=8)
def _secrets_for(settings: Settings) -> Secrets:
    return load_secrets(settings)


def get_secrets() -> Secrets:
    """This process's secrets (from its current settings), resolved once per settings."""
    return _secrets_for(get_settings())
