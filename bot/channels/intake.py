"""A customer's text as it may reach the assistant, the same on every channel.

* Half an emoji — a lone UTF-16 surrogate, which a page cutting a draft between the two halves of a
  pair sends as ``"\\ud83d"`` in JSON — cannot be encoded: the sentence encoder raised
  ``UnicodeEncodeError`` and the customer got the technical-problem apology (web chat could not
  even record the message in Redis). A lone half is dropped (half an emoji says nothing; U+FFFD in
  its place changed what the NLU understood); two halves in a row become the character they make.
* The NLU's time grows about with the square of a message's length (2,000 characters: well under a
  second; 16,000: 15 s, with the worker's event loop held all along). What reaches it is cut to web
  chat's ``max_message_chars`` in credentials.yml (:func:`configured_limit`; ``MAX_MESSAGE_CHARS``
  when unset), one setting for every channel: web chat refuses a longer message, WeChat and REST cut
  it and tell the customer with the chat page's words (``notice_cut`` in ``content/ui/webchat.zh.json``).
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from rasa.shared.utils.io import read_yaml_file

from bot.channels import ChannelConfigError

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
CREDENTIALS_FILE = "credentials.yml"  # what `kefu run` gives Rasa (bot/stack.py)
WEBCHAT = "bot.channels.webchat.WebChatInput"  # whose max_message_chars is every channel's

_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """``text`` without lone surrogates, its surrogate pairs joined."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")


def configured_limit(root: Path) -> int:
    """Every channel's limit: web chat's ``max_message_chars`` in ``<root>/credentials.yml``, read as
    Rasa reads the file; ``MAX_MESSAGE_CHARS`` when it sets none. ``ChannelConfigError`` when it is not a
    whole number above 0 (web chat refuses to start on it too)."""
    path = root / CREDENTIALS_FILE
    credentials = read_yaml_file(path) if path.is_file() else {}
    webchat = (credentials.get(WEBCHAT) if isinstance(credentials, dict) else None) or {}
    value = webchat.get("max_message_chars", MAX_MESSAGE_CHARS) if isinstance(webchat, dict) else MAX_MESSAGE_CHARS
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if limit <= 0:
        raise ChannelConfigError(f"{path}: {WEBCHAT} max_message_chars must be a whole number > 0, not {value!r}")
    return limit


def for_assistant(text: str, limit: int = MAX_MESSAGE_CHARS) -> tuple[str, bool]:
    """``text`` made encodable and cut to ``limit`` characters, and whether it was cut."""
    text = encodable(text)
    return (text[:limit], True) if len(text) > limit else (text, False)


def notice_mistake(strings: dict, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """Why the chat page's ``notice_cut`` cannot tell a customer of a cut message, or None."""
    if "notice_cut" not in strings:
        return "'notice_cut' is missing: customers whose message is cut are not told"
    try:
        strings["notice_cut"].format(limit=limit)
    except KeyError as exc:
        return f"'notice_cut' names {{{exc.args[0]}}}: it may name {{limit}} only"
    except (IndexError, ValueError, TypeError, AttributeError) as exc:
        return f"'notice_cut' cannot be filled in ({exc!r}): it may name {{limit}} only"
    return None


def cut_notice(content_dir: Path, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """What the customer is told of a message cut: the chat page's ``notice_cut``; None (logged) when
    the content has no such line or it does not fill (`kefu validate` names it), so the reply still goes out."""
    path = content_dir / "ui" / "webchat.zh.json"
    try:
        strings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("channels.intake.no_cut_notice file=%s error=%s", path, type(error).__name__)
        return None
    why = notice_mistake(strings, limit) if isinstance(strings, dict) else "not an object of texts"
    if why is not None:  # found in review: "{}" (IndexError) failed every cut REST or WeChat message
        logger.warning("channels.intake.no_cut_notice file=%s error=%s", path, why)
        return None
    return strings["notice_cut"].format(limit=limit)
