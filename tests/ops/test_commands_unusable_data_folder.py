"""A data folder Kefu cannot make (KEFU_DATA_DIR below a file: a typo, a mount not there yet) stops a
``kefu`` command with one line naming the folder, what is in the way and KEFU_DATA_DIR, and a non-zero
exit — not a Python traceback from ``private_dir`` (found in review: ``kefu outbox list``, ``kefu ledger``,
``kefu agent``, ``kefu contacts`` and ``kefu run`` all printed one). Real ``kefu`` processes."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.embedded_redis import free_port
from tests.conftest import PROJECT_ROOT

KEFU = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def kefu(args: list[str], data_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PROMETHEUS_"))}
    env.pop("REDIS_URL", None)
    env.update(KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()), KEFU_ACTION_PORT=str(free_port()),
               KEFU_REDIS_PORT=str(free_port()))
    return subprocess.run(KEFU + args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def data_dir_below_a_file(tmp_path):
    (tmp_path / "srv").write_text("not a folder\n")
    return tmp_path / "srv" / "kefu" / "var"


@pytest.mark.parametrize("args", [["outbox", "list"], ["outbox", "resend", "--all-failed"], ["ledger", "list"],
                                  ["agent", "list"], ["contacts", "list"], ["db", "current"]])
def test_a_one_shot_command_names_the_folder_in_the_way_in_one_line(data_dir_below_a_file, tmp_path, args):
    result = kefu(args, data_dir_below_a_file)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"kefu: error: the folder {data_dir_below_a_file} cannot be made: "), line
    assert f"{tmp_path / 'srv'} is a file, not a folder" in line and "KEFU_DATA_DIR" in line, line


def test_kefu_run_refuses_to_start_in_one_line(data_dir_below_a_file, tmp_path):
    result = kefu(["run"], data_dir_below_a_file)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Kefu cannot start: the folder {data_dir_below_a_file} cannot be made: "), line
    assert f"{tmp_path / 'srv'} is a file, not a folder" in line and "KEFU_DATA_DIR" in line, line
    assert "preparing database" not in result.stdout  # refused before anything was started


@pytest.mark.parametrize("args, code, starts", [(["outbox", "list"], 1, "kefu: error: "),
                                                (["agent", "list"], 1, "kefu: error: "),
                                                (["db", "upgrade"], 2, "Kefu cannot use the database: "),
                                                (["run"], 2, "Kefu cannot use the database: ")])
def test_a_database_file_that_cannot_be_made_is_named_in_one_line(tmp_path, args, code, starts):
    """The SQLite file in a data folder Kefu may not write in (a read-only disk, another user's folder)
    gave ``OSError`` from ``create_private_file``, a traceback. Checked by hand on a read-only tmpfs (root
    writes anywhere else); here a folder where the file should be takes the same path."""
    data_dir = tmp_path / "var"
    (data_dir / "kefu.sqlite3").mkdir(parents=True)
    result = kefu(args, data_dir)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line == f"{starts}{data_dir / 'kefu.sqlite3'} cannot be made: Is a directory (KEFU_DATA_DIR is {data_dir})"
