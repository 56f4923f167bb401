"""The data folder ``var/`` (secrets, logs, reports, recordings) is made owner-only, with every folder
Kefu makes above and below it; found: ``var/`` itself came out 0755 (``mkdir(parents=True)`` gives the
levels it adds the umask's mode), so its listing was open to every local user. A folder the operator
made keeps its mode: Kefu says when it is open, it does not change it."""
from __future__ import annotations

import os
import stat

import pytest

from bot import settings as settings_module
from bot.cli import main, warn_if_data_folder_open
from bot.security.private_files import private_dir
from tests.postgres import fresh_database_url, postgres_server_url


@pytest.fixture(autouse=True)
def usual_umask():
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def kefu(monkeypatch, data_dir, *argv: str) -> int:
    monkeypatch.setenv("KEFU_DATA_DIR", str(data_dir))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    if postgres_server_url():
        monkeypatch.setenv("KEFU_DATABASE_URL", fresh_database_url(postgres_server_url()))
    settings_module.get_settings.cache_clear()
    try:
        return main(list(argv))
    finally:
        settings_module.get_settings.cache_clear()


def test_kefu_db_init_on_a_fresh_install_makes_the_data_folder_and_its_parents_owner_only(tmp_path, monkeypatch):
    data_dir = tmp_path / "srv" / "kefu" / "var"
    assert kefu(monkeypatch, data_dir, "db", "init") == 0
    assert {str(p.relative_to(tmp_path)): mode(p) for p in (tmp_path / "srv", tmp_path / "srv" / "kefu", data_dir)} \
        == {"srv": 0o700, "srv/kefu": 0o700, "srv/kefu/var": 0o700}


def test_folders_made_below_the_data_folder_are_owner_only_at_every_level(tmp_path):
    made = private_dir(tmp_path / "var" / "voicemail" / "unsaved")
    assert [mode(p) for p in (tmp_path / "var", made.parent, made)] == [0o700] * 3


def test_an_operators_existing_folder_keeps_its_mode_and_kefu_says_it_is_open(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    assert kefu(monkeypatch, data_dir, "db", "init") == 0
    assert mode(data_dir) == 0o755, "Kefu does not chmod a folder it did not make"
    warn_if_data_folder_open(settings_module.from_environment())
    assert f"`chmod 700 {data_dir}`" in capsys.readouterr().err

    data_dir.chmod(0o700)
    warn_if_data_folder_open(settings_module.from_environment())
    assert "warning" not in capsys.readouterr().err


def test_what_kefu_run_writes_beside_the_database_is_owner_only(tmp_path, monkeypatch):
    """Found by starting kefu run on a fresh data folder: ``publish/`` came out 0755, ``serving.json`` 0644."""
    from bot.editor.publish import record_baseline
    from bot.serving import record_serving

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    settings = settings_module.from_environment()
    record_baseline(settings)
    record_serving(settings, "redis://127.0.0.1:7602/0")
    assert (mode(tmp_path / "var"), mode(tmp_path / "var" / "publish"), mode(tmp_path / "var" / "serving.json")) \
        == (0o700, 0o700, 0o600)


def test_a_folder_that_cannot_be_made_names_what_is_in_the_way(tmp_path):
    from bot.security.private_files import CannotMake

    (tmp_path / "srv").write_text("a file where a folder should be\n")
    with pytest.raises(CannotMake) as raised:
        private_dir(tmp_path / "srv" / "kefu" / "var")
    assert str(raised.value) == (f"the folder {tmp_path / 'srv' / 'kefu' / 'var'} cannot be made: "
                                 f"{tmp_path / 'srv'} is a file, not a folder")
