"""A throw-away copy of the editors' files, to break one rule at a time."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import settings as settings_module
from tests.conftest import PROJECT_ROOT

EDITOR_FILES = ("config.yml", "domain", "nlu_data", "content", "actions", "ivr_flows", "prompts")


def copy_editor_files(root: Path) -> Path:
    """A checkout of the editor-owned files (and the conversation tests) at ``root``."""
    root.mkdir()
    for name in EDITOR_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy(source, root / name)
    (root / "tests").mkdir()
    shutil.copy(PROJECT_ROOT / "tests" / "test_conversations.yml", root / "tests")
    return root


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = copy_editor_files(tmp_path / "project")
    monkeypatch.setenv("KEFU_ROOT", str(root))
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    settings_module.get_settings.cache_clear()
    yield root
    settings_module.get_settings.cache_clear()


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
