"""The self-help catalogue: load the editors' file and pick the best entry for a fault.

The file is re-read when it changes on disk, so an editor's edit is live on the
next message without a restart.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from bot.denial import said_not_denied
from bot.yaml_load import safe_load

log = logging.getLogger(__name__)

HELP_PAGES = "/help/"  # Kefu's own page per entry (bot/channels/help_page.py)


LIST_FIELDS = ("steps", "symptoms", "broad_symptoms", "done_words", "fault_codes")
SYMPTOM_POINTS = 2  # each of an entry's own symptoms said
BROAD_POINTS = 1  # its broad symptoms said, however many: less than one symptom of another entry


class CatalogueError(ValueError):
    """The self-help catalogue file is malformed."""


@dataclass(frozen=True)
class SelfHelpEntry:
    id: str
    fault_type: str
    title: str
    steps: tuple[str, ...]
    video_url: str
    poster_url: str
    link: str  # the editor's own web page for the entry; empty: Kefu's page built from the entry
    spoken: str
    symptoms: tuple[str, ...] = ()
    fault_codes: tuple[str, ...] = ()
    general: bool = False
    next: str | None = None
    # Words that fit this entry but also many faults ("慢", "卡"): "wifi找不到5G 网速慢" got the weak-signal entry,
    # not the 5G one (found in review). Together they weigh less than one symptom of another entry.
    broad_symptoms: tuple[str, ...] = ()
    # What a customer says who already did this entry's steps ("重起了也不行"): sending them again told them to
    # do what they had just said they did (found in a live trial).
    done_words: tuple[str, ...] = ()

    def page(self) -> str:
        """Where the entry's link goes: the editor's own page, else the one Kefu serves from the entry."""
        return self.link or f"{HELP_PAGES}{self.id}"

    def score(self, text: str, fault_code: str | None) -> int:
        """How well this entry fits what the customer said (0 = not at all)."""
        points = 0
        if fault_code and fault_code.upper() in {c.upper() for c in self.fault_codes}:
            points += 10
        lowered = text.lower()
        said = {word.lower() for word in self.symptoms if word.lower() in lowered}  # "5G" and "5g" are one
        points += SYMPTOM_POINTS * len(said)
        if any(word.lower() in lowered for word in self.broad_symptoms):
            points += BROAD_POINTS
        return points


@dataclass
class Catalogue:
    entries: dict[str, SelfHelpEntry] = field(default_factory=dict)
    link_label: str = ""  # the label of an entry's link in a chat; empty: the entry's title
    # Left out of what the customer said, and of the symptoms, when matching: "信号很差" is 信号差 (found trying
    # the chat: it matched nothing, and a weak Wi-Fi got the entry for "connected, no internet").
    degree_words: tuple[str, ...] = ()
    # Said of a fault that keeps coming back ("宽带又断了 这个月第三次了"): triage files the repair without a guide
    # (found in a trial: the customer was asked for the fault's details as if it were the first time).
    repeat_words: tuple[str, ...] = ()
    # Join two faults named together, said of both ("电视和宽带又断了"): actions/selfhelp.py fault_parts.
    join_words: tuple[str, ...] = ()
    # Said by a customer who went through a guide for the fault already, any guide ("看了视频也没用"): the one that fits
    # what they describe counts as tried, as an entry's own ``done_words`` do (actions/selfhelp.py ``said_done``).
    tried_words: tuple[str, ...] = ()

    def says_repeat(self, text: str) -> bool:
        """Whether ``text`` says the fault keeps happening (``repeat_words``), its degree words left out."""
        plain = self._plain(text).lower()
        return any(self._plain(word).lower() in plain for word in self.repeat_words)

    def score(self, entry: SelfHelpEntry, text: str, fault_code: str | None) -> int:
        """How well ``entry`` fits what the customer said (0 = not at all), its degree words left out."""
        plain = entry if not self.degree_words else replace(entry, symptoms=tuple(map(self._plain, entry.symptoms)),
                                                            broad_symptoms=tuple(map(self._plain, entry.broad_symptoms)))
        return plain.score(self._plain(text), fault_code)

    def _plain(self, text: str) -> str:
        for word in self.degree_words:
            text = text.replace(word, "")
        return text

    def said_done(self, fault_type: str, text: str) -> set[str]:
        """The entries for ``fault_type`` whose steps ``text`` says were done already (``done_words``), not said the
        other way round ("还没重启过", "要不要重启了试试": found in review, they skipped the restart)."""
        plain = self._plain(text).lower()
        return {e.id for e in self.for_fault(fault_type)
                if any(said_not_denied(plain, self._plain(word).lower()) for word in e.done_words if word)}

    def says_tried(self, text: str) -> bool:
        """Whether ``text`` says a guide was gone through already (``tried_words``), not the other way round
        ("还没看视频", "没按视频做")."""
        plain = self._plain(text).lower()
        return any(said_not_denied(plain, self._plain(word).lower()) for word in self.tried_words)

    def get(self, entry_id: str) -> SelfHelpEntry | None:
        return self.entries.get(entry_id)

    def for_fault(self, fault_type: str) -> list[SelfHelpEntry]:
        return [e for e in self.entries.values() if e.fault_type == fault_type]

    def titles_and_faults(self) -> tuple[dict[str, str], dict[str, str]]:
        """Each entry's title and fault, by id: how a handoff packet names the self-help tried, and for which fault."""
        return ({e.id: e.title for e in self.entries.values()}, {e.id: e.fault_type for e in self.entries.values()})

    def best_match(
        self, fault_type: str, text: str = "", fault_code: str | None = None, exclude: set[str] = frozenset()
    ) -> SelfHelpEntry | None:
        """The most specific untried entry for this fault, else its general entry; None once the general entry
        was tried and nothing else fits what the customer said. Found in a review: the waiting room sent the
        mosaic entry to a customer whose TV had no signal, the first untried entry once the general one was
        tried. A fault with no general entry falls back to its first entry."""
        candidates = [e for e in self.for_fault(fault_type) if e.id not in exclude]
        if not candidates:
            return None
        scores = {e.id: self.score(e, text, fault_code) for e in candidates}  # each scored once
        best = max(candidates, key=lambda e: (scores[e.id], not e.general))  # the first of equals, as before
        if scores[best.id] > 0:
            return best
        general = [e for e in candidates if e.general]
        if general:
            return general[0]
        return None if any(e.general for e in self.for_fault(fault_type)) else best

    def next_after(self, entry_id: str, tried: set[str]) -> SelfHelpEntry | None:
        """The follow-up entry an editor chained after ``entry_id``, if not tried yet."""
        entry = self.get(entry_id)
        follow = self.get(entry.next) if entry and entry.next else None
        return follow if follow and follow.id not in tried else None


def sent_entry_id(data: dict) -> str | None:
    """The catalogue entry a bot message sent (``selfhelp_message``): named by its link, which every
    entry has, or by its video in transcripts from before a video could be left out."""
    for button in data.get("buttons") or []:
        if isinstance(button, dict) and button.get("selfhelp_id"):
            return str(button["selfhelp_id"])
    payload = (data.get("attachment") or {}).get("payload")
    return str(payload["selfhelp_id"]) if isinstance(payload, dict) and payload.get("selfhelp_id") else None


def public(url: str) -> str:
    """A path Kefu serves as a full URL (channels and text messages need those); full URLs unchanged."""
    from bot.settings import get_settings

    return url if "://" in url or not url else f"{get_settings().public_url}{url}"


def parse_catalogue(raw: dict, source: str = "selfhelp.yml") -> Catalogue:
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise CatalogueError(f"{source}: expected a mapping with an 'entries' list")
    entries: dict[str, SelfHelpEntry] = {}
    for index, item in enumerate(raw["entries"]):
        text_lists = [key for key in LIST_FIELDS if isinstance(item, dict) and isinstance(item.get(key), str)]
        if text_lists:  # iterated, a text is one item per character: a step or a symptom per letter
            raise CatalogueError(f"{source}: entry '{item.get('id')}': '{text_lists[0]}' must be a list")
        try:
            entry = SelfHelpEntry(
                id=str(item["id"]),
                fault_type=str(item["fault_type"]),
                title=str(item["title"]),
                steps=tuple(str(s) for s in item["steps"]),
                video_url=str(item["video"]["url"]),
                poster_url=str(item["video"].get("poster", "")),
                link=str(item.get("link") or ""),
                spoken=str(item["spoken"]),
                symptoms=tuple(str(s) for s in item.get("symptoms") or ()),
                broad_symptoms=tuple(str(s) for s in item.get("broad_symptoms") or ()),
                done_words=tuple(str(s) for s in item.get("done_words") or ()),
                fault_codes=tuple(str(c) for c in item.get("fault_codes") or ()),
                general=bool(item.get("general", False)),
                next=item.get("next"),
            )
        except (KeyError, TypeError) as exc:
            raise CatalogueError(f"{source}: entry #{index + 1} is missing or has a bad field: {exc}") from exc
        if entry.id in entries:
            raise CatalogueError(f"{source}: duplicate entry id '{entry.id}'")
        entries[entry.id] = entry
    degree, repeat, join, tried = (_words(raw, key, source)
                                   for key in ("degree_words", "repeat_words", "join_words", "tried_words"))
    # Longest first: 有点儿 goes whole, not as 有点 leaving 儿.
    return Catalogue(entries, link_label=str(raw.get("link_label") or ""),
                     degree_words=tuple(sorted(degree, key=len, reverse=True)), repeat_words=tuple(repeat),
                     join_words=tuple(join), tried_words=tuple(tried))


def _words(raw: dict, key: str, source: str) -> list[str]:
    """The catalogue's list of words ``key`` (none when it is left out), each stripped."""
    words = raw.get(key) or []
    if not isinstance(words, list) or not all(isinstance(word, str) and word.strip() for word in words):
        raise CatalogueError(f"{source}: '{key}' must be a list of words")
    return [word.strip() for word in words]


def parse_catalogue_file(path: Path) -> Catalogue:
    try:
        return parse_catalogue(safe_load(path.read_text(encoding="utf-8")), source=str(path))
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc


def load_catalogue(path: Path) -> Catalogue:
    """The catalogue's last good version (bot/snapshot.py): a bad save never takes self-help down."""
    from bot.snapshot import editor_file

    return editor_file(path, parse_catalogue_file, (CatalogueError,)).get()
