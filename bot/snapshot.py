"""One way to load an editor-owned file: parse and validate it, swap it in whole, keep the last good.

Editors save ``content/selfhelp.yml``, ``content/handoff.yml``, ``content/ivr.yml``… while Kefu
runs. :class:`EditorFile` re-reads a file when it changes (:mod:`bot.file_change`: a ``stat``, and
the content's hash while the stamp is too fresh to trust), parses it with the file's own parser
(which validates), and replaces the current value in one assignment, so a reader sees the old or the
new version, never half of each. A save that does not parse is logged with the file, the line and
the reason in `kefu validate`'s words, and ignored: the last good version keeps serving until the
next save. So is a save in another encoding than UTF-8 (an editor's Windows tool writing GBK), a
YAML file that does not parse (whatever its parser's own errors are), and a file moved away or
deleted (the last good version serves until it is back). Only the very first load of a file that
never parsed raises.

``current()`` is for code on the event loop: a changed file is parsed in a worker thread.
``get()`` is for synchronous code (CLI, actions); the unchanged case is one ``stat``.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Callable, Generic, TypeVar

import yaml

from bot import file_change

log = logging.getLogger(__name__)

T = TypeVar("T")


class EditorFile(Generic[T]):
    """The latest good version of one file; see the module docstring."""

    def __init__(self, path: Path, parse: Callable[[Path], T], errors: tuple[type[BaseException], ...]) -> None:
        self.path = Path(path)
        self.parse = parse
        self.errors = errors  # what a bad save raises; anything else is a bug and propagates
        self._loaded = False
        self._value: T | None = None
        self._seen: file_change.Seen | None = None  # the file as last looked at, loaded or rejected
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._loaded:
            seen = self._seen
            now, changed = file_change.look(self.path, seen)
            if not changed:
                if now is not seen:  # rehashed: remember the newer stamp (and whether it is settled)
                    with self._lock:
                        if self._seen is seen:
                            self._seen = now
                return self._value
        return self._reload()

    async def current(self) -> T:
        return await asyncio.to_thread(self.get)  # a stat, and a changed file parsed, off the loop

    def _reload(self) -> T:
        with self._lock:  # one parse per change, however many readers notice it
            seen, changed = file_change.look(self.path, self._seen)
            if self._loaded and not changed:
                self._seen = seen
                return self._value
            try:
                if seen.stamp == file_change.MISSING:
                    raise FileNotFoundError(f"{self.path}: the file is missing (moved away or deleted)")
                value = self.parse(self.path)
            except (*self.errors, UnicodeDecodeError, FileNotFoundError, yaml.YAMLError) as error:
                if not self._loaded:
                    raise
                self._seen = seen
                from bot.editor.live_file_checks import why_refused  # only now: it loads the editor's checks

                line, reason = why_refused(self.path, error)  # as `kefu validate` words it: file:line: message
                log.error("editor_file.rejected file=%s reason=%s; keeping the last good version",
                          f"{self.path}:{line}" if line else self.path, reason,
                          extra={"path": str(self.path), "line": line, "error": reason})
                return self._value
            self._value, self._seen, self._loaded = value, seen, True
            log.info("editor_file.loaded file=%s", self.path)
            return value


_files: dict[tuple[Path, Callable], EditorFile] = {}
# Absolute paths as callers name them: resolving a path is several system calls, and hot code (the
# waiting room, every action) asks for its file many times a second. (A relative path depends on
# the working directory, so it is resolved every time.)
_named: dict[tuple[str, Callable], EditorFile] = {}
_files_lock = threading.Lock()


def editor_file(path: Path, parse: Callable[[Path], T], errors: tuple[type[BaseException], ...]) -> EditorFile[T]:
    """The process-wide :class:`EditorFile` for ``path`` read with ``parse``."""
    named = (str(path), parse)
    found = _named.get(named)
    if found is not None:
        return found
    key = (Path(path).resolve(), parse)
    with _files_lock:
        if key not in _files:
            _files[key] = EditorFile(Path(path), parse, errors)
        if Path(path).is_absolute():
            _named[named] = _files[key]
        return _files[key]
