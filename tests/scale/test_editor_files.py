"""Editors' files: a bad save is logged and ignored, the last good version keeps serving."""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from bot.handoff.rules import HandoffRulesError, load_rules
from bot.ivr.config import HotlineConfigSource
from bot.ivr.errors import HotlineConfigError
from bot.selfhelp import CatalogueError, load_catalogue
from bot.snapshot import EditorFile
from tests.conftest import PROJECT_ROOT


def save(path: Path, text: str) -> None:
    """Write like an editor does, and make sure the change is visible to a stat."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@pytest.fixture
def content(tmp_path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", target)
    return target


@pytest.mark.parametrize("name,load,error", [
    ("handoff.yml", load_rules, HandoffRulesError),
    ("ivr.yml", lambda path: HotlineConfigSource(path).get(), HotlineConfigError),
    ("selfhelp.yml", load_catalogue, CatalogueError),
])
def test_a_broken_save_keeps_the_last_good_version_and_says_why(content, caplog, name, load, error):
    path = content / name
    good = load(path)
    save(path, path.read_text(encoding="utf-8") + "\n  : [unclosed\n")
    with caplog.at_level(logging.ERROR, logger="bot.snapshot"):
        assert load(path) is good
    assert str(path) in caplog.text and "rejected" in caplog.text
    save(path, (PROJECT_ROOT / "content" / name).read_text(encoding="utf-8").replace("\n", "\n\n", 1))
    assert load(path) is not good, "the next good save is picked up"


LIVE_FILES = [("handoff.yml", load_rules), ("ivr.yml", lambda path: HotlineConfigSource(path).get()),
              ("selfhelp.yml", load_catalogue)]


@pytest.mark.parametrize("name,load", LIVE_FILES)
def test_a_save_in_another_encoding_keeps_the_last_good_version_and_says_why(content, caplog, name, load):
    """An editor's Windows tool saved the file as GBK: every reader (the self-help action, the queue, the
    phone) stopped with a UnicodeDecodeError instead of serving the last good version."""
    path = content / name
    good = load(path)
    before = path.stat().st_mtime_ns
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk", errors="replace"))
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    with caplog.at_level(logging.ERROR, logger="bot.snapshot"):
        assert load(path) is good
    assert str(path) in caplog.text and "UTF-8" in caplog.text


@pytest.mark.parametrize("name,load", LIVE_FILES)
def test_a_file_moved_away_keeps_the_last_good_version_until_it_is_back(content, caplog, name, load):
    """An editor moved the file aside to edit a copy (or a tool saves by deleting first): every reader
    stopped with FileNotFoundError meanwhile."""
    path = content / name
    good = load(path)
    aside = path.rename(path.with_suffix(".bak"))
    with caplog.at_level(logging.ERROR, logger="bot.snapshot"):
        assert load(path) is good
        assert load(path) is good
    assert caplog.text.count("rejected") == 1 and str(path) in caplog.text
    save(aside, aside.read_text(encoding="utf-8").replace("\n", "\n\n", 1))
    aside.rename(path)
    assert load(path) is not good, "the file back, edited, is picked up"


def test_a_file_that_never_parsed_raises(tmp_path):
    path = tmp_path / "ivr.yml"
    path.write_text("[", encoding="utf-8")
    with pytest.raises(HotlineConfigError):
        HotlineConfigSource(path).get()


async def test_a_changed_file_is_parsed_once_off_the_loop(tmp_path):
    import threading

    path = tmp_path / "x.yml"
    path.write_text("1", encoding="utf-8")
    threads: list[str] = []

    def parse(p: Path) -> int:
        threads.append(threading.current_thread().name)
        return int(p.read_text())

    source = EditorFile(path, parse, (ValueError,))
    assert await source.current() == 1
    assert await source.current() == 1
    assert threads and threading.main_thread().name not in threads and len(threads) == 1


def test_a_kpi_file_that_does_not_parse_keeps_the_centres_time_zone(content, caplog):
    """A kpi.yml save with a YAML mistake: every time the desk, the ledger and the report show stopped with
    a YAML error (its loader's own errors were the only bad saves it expected)."""
    from bot.analytics.config import centre_zone

    path = content / "kpi.yml"
    save(path, path.read_text(encoding="utf-8").replace("timezone: Asia/Shanghai", "timezone: Asia/Tokyo"))
    zone = centre_zone(content)
    save(path, path.read_text(encoding="utf-8") + "\nservice_level: [unclosed\n")
    with caplog.at_level(logging.ERROR, logger="bot.snapshot"):
        assert centre_zone(content) is zone and str(zone) == "Asia/Tokyo"
    assert str(path) in caplog.text and "rejected" in caplog.text


def resave_keeping_the_stamp(path: Path, old: str, new: str) -> None:
    """A same-size edit whose modification time is put back, as `cp -p`, `touch -r` or an editor's
    "keep file dates" option leave it."""
    status = path.stat()
    text = path.read_text(encoding="utf-8")
    assert len(old.encode()) == len(new.encode()) and old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (path.stat().st_mtime_ns, path.stat().st_size) == (status.st_mtime_ns, status.st_size)


def test_a_same_size_save_with_its_modification_time_put_back_is_served(content):
    """Found in review: a save was spotted by its modification time and size alone, so the hotline kept
    closing at 21:00 after an editor changed it to 22:00 with a tool that keeps file dates."""
    path = content / "ivr.yml"
    source = HotlineConfigSource(path)
    assert source.get().hours.close.hour == 21
    resave_keeping_the_stamp(path, 'close: "21:00"', 'close: "22:00"')
    assert source.get().hours.close.hour == 22


def test_a_same_size_save_in_the_same_timestamp_tick_is_served(content, monkeypatch):
    """On a filesystem whose timestamps tick every 2 seconds (FAT, a shared drive), a fix saved right after
    a save keeps both the times and the size: the bot kept serving the first save."""
    real_stat, tick = Path.stat, time.time_ns() // 2_000_000_000 * 2_000_000_000

    class CoarseStat:  # every timestamp of this test's files falls in one 2-second tick
        def __init__(self, status):
            self._status = status

        def __getattr__(self, name):
            return tick if name in ("st_mtime_ns", "st_ctime_ns") else getattr(self._status, name)

    path = content / "ivr.yml"
    monkeypatch.setattr(Path, "stat", lambda self, **kw: CoarseStat(real_stat(self, **kw)))
    source = HotlineConfigSource(path)
    assert source.get().hours.close.hour == 21
    path.write_text(path.read_text(encoding="utf-8").replace('close: "21:00"', 'close: "22:00"'), encoding="utf-8")
    assert source.get().hours.close.hour == 22


@pytest.mark.parametrize("mistake", ["unclosed quote", "tab", "gbk"])
def test_a_refused_save_is_logged_in_the_words_kefu_validate_uses(content, caplog, mistake):
    """Found in review: the bot logged a refused save with the YAML parser's own message ("while scanning a
    quoted scalar … found unexpected end of stream", naming no line of the file, or the byte offset of a
    GBK character), where `kefu validate` says which line to change and how."""
    from bot.editor.encoding_checks import not_utf8
    from bot.editor.live_file_checks import syntax_problems

    path = content / "handoff.yml"
    good = load_rules(path)
    text = path.read_text(encoding="utf-8")
    if mistake == "unclosed quote":
        save(path, text.replace("  tv: 电视\n", "  tv: '电视\n"))
    elif mistake == "tab":
        save(path, text.replace("  tv: 电视\n", "\ttv: 电视\n"))
    else:
        before = path.stat().st_mtime_ns
        path.write_bytes(text.encode("gbk", errors="replace"))
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    validate_says = (not_utf8([content]) or syntax_problems(content))[0]
    assert validate_says.file == str(path) and validate_says.line
    with caplog.at_level(logging.ERROR, logger="bot.snapshot"):
        assert load_rules(path) is good
    assert f"file={path}:{validate_says.line} reason={validate_says.message}" in caplog.text
