"""``kefu publish`` and ``kefu published``: which Rasa model every machine serves, and rolling back.

``kefu train`` publishes the model for the checkout's data; these two are for the operator: see what
is published (and whether this machine's server serves it), and publish an earlier model again — a
stored one by name or sha256, or any model file — when a new one answers worse. Every ``kefu run``
sharing the database switches to it by itself (bot/model_follower.py).
"""
from __future__ import annotations

import argparse
import sys

from bot.settings import get_settings


def not_usable(exc: BaseException) -> str:
    """Why the model could not be stored or published, in one line: the database's reason (never its URL),
    or the file's."""
    from bot.db.errors import why_unusable
    from bot.db.repository import DatabaseError

    return why_unusable(exc) if isinstance(exc, DatabaseError) else str(exc)


def cmd_publish(args: argparse.Namespace) -> int:
    from bot.db.repository import DatabaseError
    from bot.editor.publish import record_publish
    from bot.published_model import NotAModel, NothingToPublish, publish

    settings = get_settings()
    try:
        publication = publish(settings, args.model)
    except (NothingToPublish, NotAModel) as exc:
        print(f"not published: {exc}\nno machine changes its model", file=sys.stderr)
        return 1
    except (DatabaseError, OSError) as exc:
        print(f"not published: {not_usable(exc)}\nno machine changes its model", file=sys.stderr)
        return 1
    record_publish(settings, "model", {"model": publication.name, "sha256": publication.sha256, "hot_swapped": False})
    print(f"published: {publication.describe()}\n"
          "  every `kefu run` sharing this database switches to it (it checks every few seconds)")
    return 0


def cmd_published(args: argparse.Namespace) -> int:
    from bot.db.errors import why_unusable
    from bot.db.repository import DatabaseError
    from bot.editor.publish import running_model
    from bot.published_model import open_store
    from bot.security.secrets import get_secrets
    from bot.serving import serving_urls

    settings = get_settings()
    try:
        history = open_store(settings, upgrade=True).history(args.last)
    except DatabaseError as exc:
        print(f"Kefu cannot use the database: {why_unusable(exc)}", file=sys.stderr)
        return 2
    if not history:
        print("nothing published yet: each `kefu run` serves the model for its own checkout's data "
              "(`kefu train` publishes one)")
        return 0
    current = history[0][0]
    print(f"published: {current.describe()}")
    for url in serving_urls(settings):
        served = running_model(url, get_secrets().rasa_token)
        if served is not None:
            state = "serves it" if served == current.name else f"serves {served} (switching, or see its log)"
            print(f"this machine: {url} {state}")
            break
    if len(history) > 1:
        print("earlier (`kefu publish <name or sha256>` publishes one again):")
        for publication, stored in history[1:]:
            print(f"  {publication.describe()}{'' if stored else '  (no longer stored: publish its file)'}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    publish = commands.add_parser("publish", help="publish a model to every machine: a file, or a stored model "
                                  "by name or sha256 (roll back)")
    publish.add_argument("model", help="a model file (.tar.gz), or the name or sha256 of a stored one")
    publish.set_defaults(handler=cmd_publish)
    published = commands.add_parser("published", help="the published model, whether this machine serves it, "
                                    "and earlier ones")
    published.add_argument("--last", type=int, default=10, help="how many publications to list")
    published.set_defaults(handler=cmd_published)
