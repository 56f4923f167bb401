"""Editors' text files must be UTF-8: every reader of them (Rasa, the flows, the catalogue) assumes it.

A file saved as GBK/ANSI by an editor's Windows tool used to stop `kefu validate` with a traceback
naming no file; now it is the problem reported, at the line of its first byte that is not UTF-8.
"""
from __future__ import annotations

from pathlib import Path

from bot.editor.problems import Problem

TEXT_SUFFIXES = {".yml", ".yaml", ".md", ".json", ".txt"}
MESSAGE = "the file is not UTF-8 text"


def text_files(places: list[Path]) -> list[Path]:
    files: set[Path] = set()
    for place in places:
        if place.is_dir():
            files.update(p for p in place.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        elif place.is_file():
            files.add(place)
    return sorted(files)


def not_utf8(places: list[Path]) -> list[Problem]:
    """One problem per text file under ``places`` that is not UTF-8, at the line where it stops being."""
    problems = []
    for path in text_files(places):
        mistake = utf8_mistake(path.read_bytes())
        if mistake is not None:
            problems.append(Problem(str(path), *mistake))
    return problems


def utf8_mistake(data: bytes) -> tuple[int, str] | None:
    """(1-based line, message) at the first byte of ``data`` that is not UTF-8; None when all of it is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return line, f"{MESSAGE} (byte 0x{data[exc.start]:02x} here): save it as UTF-8 (GBK/ANSI files are not read)"
    return None


def is_not_utf8(problem: Problem) -> bool:
    return problem.message.startswith(MESSAGE)
