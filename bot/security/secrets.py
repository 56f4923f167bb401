"""The shared secrets Kefu's processes use, generated once per installation under ``var/secrets/``.

A secret set in the environment (see ``bot.settings``) wins; otherwise the first process that
needs it creates a random one (mode 0600, created exclusively so two processes never disagree)
and every later process reads the same file. The launcher passes them to its children in their
environment, so ``ps`` never shows one on a command line.
"""
from __future__ import annotations

import os
import secrets as random_tokens
import time
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from bot.settings import Settings, get_settings

ENVIRONMENT = {
    "rasa_token": "KEFU_RASA_TOKEN",
    "action_secret": "KEFU_ACTION_SECRET",
    "channel_secret": "KEFU_CHANNEL_SECRET",
    "jwt_secret": "KEFU_JWT_SECRET",
    "ivr_trunk_token": "KEFU_IVR_TRUNK_TOKEN",
}


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


def stored_secret(path: Path) -> str:
    """Read the secret at ``path``, creating it first if no process has yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process created it a moment ago and may still be writing
            value = path.read_text(encoding="ascii").strip()
            if value:
                return value
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret") from None
    value = random_tokens.token_urlsafe(32)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(value)
    return value


def load_secrets(settings: Settings) -> Secrets:
    folder = settings.data_dir / "secrets"
    return Secrets(**{f.name: getattr(settings, f.name) or stored_secret(folder / f.name) for f in fields(Secrets)})


@lru_cache(maxsize=8)
def _secrets_for(settings: Settings) -> Secrets:
    return load_secrets(settings)


def get_secrets() -> Secrets:
    """This process's secrets (from its current settings), resolved once per settings."""
    return _secrets_for(get_settings())
