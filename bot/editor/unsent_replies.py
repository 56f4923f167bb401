"""A domain reply that nothing sends: a warning, as the save is fine and only an editor can say it is dead.

``utter_queue_message_saved`` stayed in the domain after the waiting room stopped sending it, and an editor
rewording it changed nothing customers read. A reply counts as sent when anything names it: the code (its
name written anywhere, or a name the code builds that it can be, ``f"utter_ask_fault_detail_{fault_type}"``,
``f"{response}_registered_phone"``), a story or rule, a content file or phone flow, a page of Kefu's own, a
form asking for a slot (Rasa's ``utter_ask_<slot>``), or Rasa's own default actions.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from bot.editor.problems import WARNING, Problem
from bot.editor.reply_senders import PREFIX, module_sends, words

# Rasa's default actions say these when the domain has them (action_default_fallback, action_restart, …).
RASA_SENDS = frozenset({"utter_default", "utter_restart", "utter_back", "utter_ask_rephrase"})
NAME = re.compile(rf"\b{PREFIX}\w+")
TEXT_SUFFIXES = (".yml", ".yaml", ".json")
PAGE_SUFFIXES = (".js", ".html")


def unsent_replies(settings, domain, modules, helpers, lookup) -> list[Problem]:
    """``modules``, ``helpers``, ``lookup``: the code as ``bot.editor.placeholder_checks`` reads it."""
    named = set(RASA_SENDS) | _page_names(Path(__file__).resolve().parents[1])
    built: list[str] = []  # regexes of names the code builds
    for label, source in modules:
        if PREFIX not in source:
            continue
        named |= _reply_words(source)
        sends = module_sends(source, label, helpers, lookup)
        for pattern in [s.pattern for s in sends.senders] + list(sends.loose) + list(sends.whole) + [p for _, p in sends.constants] + [
                p for _, patterns in sends.members for p in patterns] + [p for _, p, _ in sends.attributes]:
            (named.add(pattern) if re.fullmatch(r"\w+", pattern) else built.append(pattern))
    for folder in (settings.root / "nlu_data", settings.content_dir, settings.ivr_flows_dir):
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            if path.suffix in TEXT_SUFFIXES and path.is_file():
                named |= _names_in(path.read_text(encoding="utf-8", errors="replace"))
    asked = tuple(f"_{slot}" for slot in domain.slots)  # a form asks for a slot with utter_ask_<slot> (or <form>_<slot>)
    matchers = [re.compile(pattern) for pattern in dict.fromkeys(built)]
    return [Problem(file, line, f"reply '{reply}' is sent by nothing: no code, story, rule, flow or content file "
                                "names it, so customers never read it; delete it, or put back what sent it", WARNING)
            for reply, (file, line) in sorted(domain.responses.items())
            if reply not in named and not (reply.startswith(f"{PREFIX}ask_") and reply.endswith(asked))
            and not any(m.fullmatch(reply) for m in matchers)]


@functools.lru_cache(maxsize=4)
def _page_names(kefu_bot: Path) -> frozenset[str]:
    """Replies Kefu's own pages (web chat, agent desk) name: its code, the same for every project read."""
    return frozenset(name for path in kefu_bot.rglob("*") if path.suffix in PAGE_SUFFIXES and path.is_file()
                     for name in NAME.findall(path.read_text(encoding="utf-8", errors="replace")))


@functools.lru_cache(maxsize=4096)
def _reply_words(source: str) -> frozenset[str]:
    return frozenset(w for w in words(source) if w.startswith(PREFIX))


@functools.lru_cache(maxsize=4096)
def _names_in(text: str) -> frozenset[str]:
    return frozenset(NAME.findall(text))
