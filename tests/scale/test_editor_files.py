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
