"""How the launcher starts the servers locked: secrets in the environment, Rasa's CORS origins,
the action server's command. ``bot.stack`` calls these; nothing here starts a process.
"""
from __future__ import annotations

import sys

from bot.security.origins import own_origins
from bot.security.secrets import load_secrets
from bot.settings import Settings


def kefu_origins(settings: Settings) -> list[str]:
    """The pages allowed to call Rasa from a browser: Kefu's own, and those ``KEFU_CORS_ORIGINS`` adds.

    Added, never instead: Socket.IO checks the origin of Kefu's own chat page too, so an operator
    listing a partner's site (as the README says the variable is for) locked the chat page out."""
    return list(dict.fromkeys([*own_origins(settings), *settings.cors_origins]))


def cors_arguments(settings: Settings) -> list[str]:
    return ["--cors", *kefu_origins(settings)]


def action_server_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "bot.security.action_server"]


def secure_environment(settings: Settings) -> dict[str, str]:
    """Secrets (generated on first run) and retention, for the Rasa and action servers' environment."""
    return {
        **load_secrets(settings).environment(),
        "KEFU_ACTION_HOST": settings.action_host,
        "KEFU_ACTION_PORT": str(settings.action_port),
        "KEFU_TRACKER_EXPIRY_SECONDS": str(settings.tracker_expiry_s),
    }
